// Burst latency by envelope alignment, for graph-to-graph measurements on one machine: each end
// records a 1 ms peak envelope of its signal with the wall-clock time of its render quanta (as
// e2e/pages/onset-tap-worklet.js does); each sent burst is found by a threshold on the *sent*
// envelope, and its delay is the lag at which the received envelope best matches it (Pearson
// correlation of a window around the onset). Unlike a threshold on the received side, this does
// not move with the receiver's level (AGC), or with a softened onset (noise suppression takes
// the start off a plosive): it aligns the whole burst. Node or browser.

/** An envelope as a tap records it. */
export interface TimedEnvelope {
  /** Block index (the context's frame / `blockSamples`) of `envelope[0]`. */
  firstBlock: number;
  /** Samples per envelope block (48 at 48 kHz: 1 ms). */
  blockSamples: number;
  /** Peak |x| per block. */
  envelope: Float32Array;
  /** Wall-clock time (ms) at which each recorded render quantum ran. */
  quantumTimes: readonly number[];
  /** The context frame of each of those quanta. */
  quantumFrames: readonly number[];
  /** The context's sample rate, Hz. */
  sampleRateHz: number;
}

/** Options of {@link envelopeBurstLatencies}. */
export interface EnvelopeLatencyOptions {
  /** A burst starts where the sent envelope first reaches this (linear). Default 0.05. */
  threshold?: number;
  /** …after at least this long below it, ms. Default 200. */
  quietMs?: number;
  /** Window compared, from `preMs` before the onset to `windowMs` after it. Defaults 10, 150. */
  preMs?: number;
  windowMs?: number;
  /** Lags searched, ms. Defaults 0 and 400. */
  minLatencyMs?: number;
  maxLatencyMs?: number;
  /** A match must correlate at least this well (Pearson r). Default 0.6. */
  minCorrelation?: number;
  /** Sent bursts to leave out from the start. Default 1. */
  dropFirst?: number;
}

/** One sent burst, when it arrived and how well the shapes matched. */
export interface EnvelopeBurstLatency {
  sentMs: number;
  latencyMs: number;
  correlation: number;
}

/**
 * Wall-clock time of envelope block 0, ms: the median over quanta of `time − frame / rate`
 * (render quanta run in bursts ahead of the device; the median is one consistent mapping for
 * both ends, and a sample's time is then exact to the block).
 */
export function envelopeOriginMs(e: TimedEnvelope): number {
  const n = e.quantumTimes.length;
  if (n === 0 || n !== e.quantumFrames.length) {
    throw new RangeError('the envelope needs as many quantum times as frames, and at least one');
  }
  const offsets = e.quantumTimes.map((t, i) => t - (e.quantumFrames[i]! * 1000) / e.sampleRateHz);
  offsets.sort((a, b) => a - b);
  const median = offsets[n >> 1]!;
  return median + (e.firstBlock * e.blockSamples * 1000) / e.sampleRateHz;
}

/**
 * Latency of each burst of `sent` in `heard` (both recorded on one clock), by envelope
 * alignment. Bursts without a match (correlation below `minCorrelation`) are left out.
 * @throws {RangeError} when the two envelopes' block durations differ.
 */
export function envelopeBurstLatencies(
  sent: TimedEnvelope,
  heard: TimedEnvelope,
  options: EnvelopeLatencyOptions = {},
): EnvelopeBurstLatency[] {
  const {
    threshold = 0.05,
    quietMs = 200,
    preMs = 10,
    windowMs = 150,
    minLatencyMs = 0,
    maxLatencyMs = 400,
    minCorrelation = 0.6,
    dropFirst = 1,
  } = options;
  const blockMs = (sent.blockSamples * 1000) / sent.sampleRateHz;
  const heardBlockMs = (heard.blockSamples * 1000) / heard.sampleRateHz;
  if (Math.abs(blockMs - heardBlockMs) > 1e-9) {
    throw new RangeError(`block durations differ: ${blockMs} ms and ${heardBlockMs} ms`);
  }
  const x = sent.envelope;
  const y = heard.envelope;
  const sentOrigin = envelopeOriginMs(sent);
  const heardOrigin = envelopeOriginMs(heard);
  const pre = Math.round(preMs / blockMs);
  const len = pre + Math.round(windowMs / blockMs);
  const quiet = Math.round(quietMs / blockMs);

  const onsets: number[] = [];
  let below = quiet;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! >= threshold) {
      if (below >= quiet) onsets.push(i);
      below = 0;
    } else below++;
  }

  const out: EnvelopeBurstLatency[] = [];
  for (const i of onsets.slice(dropFirst)) {
    const start = i - pre;
    if (start < 0 || start + len > x.length) continue;
    const sentMs = sentOrigin + i * blockMs;
    // Heard block j is at heardOrigin + j·blockMs; search lags in [min, max].
    const jFrom = Math.max(pre, Math.ceil((sentMs + minLatencyMs - heardOrigin) / blockMs));
    const jTo = Math.min(
      y.length - len + pre,
      Math.floor((sentMs + maxLatencyMs - heardOrigin) / blockMs),
    );
    let best = -1;
    let bestR = -Infinity;
    for (let j = jFrom; j <= jTo; j++) {
      const r = pearson(x, start, y, j - pre, len);
      if (r > bestR) {
        bestR = r;
        best = j;
      }
    }
    if (best < 0 || bestR < minCorrelation) continue;
    out.push({
      sentMs,
      latencyMs: heardOrigin + best * blockMs - sentMs,
      correlation: bestR,
    });
  }
  return out;
}

function pearson(a: Float32Array, ai: number, b: Float32Array, bi: number, n: number): number {
  let sa = 0;
  let sb = 0;
  for (let k = 0; k < n; k++) {
    sa += a[ai + k]!;
    sb += b[bi + k]!;
  }
  const ma = sa / n;
  const mb = sb / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let k = 0; k < n; k++) {
    const da = a[ai + k]! - ma;
    const db = b[bi + k]! - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}
