// Percentiles of the worklets' processing-time histograms (10 µs bins, last bin open-ended).

/** Width of one histogram bin, in µs (TIMING_BIN_US in packages/audio-worklet). */
export const TIMING_BIN_US = 10;

/** Percentiles, mean and max of a histogram, in ms; percentiles are upper bin edges. */
export interface HistogramStats {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Mean from the bins' lower edges (unbiased under a coarse tick clock, see below). */
  meanMs: number;
  /**
   * Resolution of the clock behind the histogram, in ms, inferred from the occupied bins: 1
   * when every sample sits on a whole millisecond (a `Date.now()` clock).
   */
  clockResolutionMs: number;
}

/** Summarises a per-quantum processing-time histogram. */
export function histogramStats(histogram: readonly number[]): HistogramStats {
  const count = histogram.reduce((s, n) => s + n, 0);
  const edgeMs = (bin: number) => ((bin + 1) * TIMING_BIN_US) / 1000;
  const percentile = (p: number) => {
    const rank = Math.ceil(p * count);
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i]!;
      if (seen >= rank && seen > 0) return edgeMs(i);
    }
    return Number.NaN;
  };
  let last = -1;
  let sumMs = 0;
  let wholeMs = true;
  histogram.forEach((n, i) => {
    if (n === 0) return;
    last = i;
    sumMs += (n * i * TIMING_BIN_US) / 1000;
    if ((i * TIMING_BIN_US) % 1000 !== 0) wholeMs = false;
  });
  return {
    count,
    p50Ms: percentile(0.5),
    p95Ms: percentile(0.95),
    p99Ms: percentile(0.99),
    maxMs: last < 0 ? Number.NaN : edgeMs(last),
    meanMs: count > 0 ? sumMs / count : Number.NaN,
    // A histogram with something past bin 0 and only whole milliseconds is a 1 ms clock.
    clockResolutionMs: wholeMs && last > 0 ? 1 : TIMING_BIN_US / 1000,
  };
}
