// Burst timing on a shared clock: pairs the onsets a sender's graph saw with the onsets a
// receiver's graph saw (both as wall-clock times on one machine) and summarises the delays.
// Node or browser.

/** Options of {@link pairBurstLatencies}. */
export interface PairBurstOptions {
  /** A received onset pairs with the latest sent onset at most this long before it, ms. */
  maxLatencyMs?: number;
  /** Sent onsets to leave out from the start (the first burst warms the path up). Default 1. */
  dropFirst?: number;
}

/** One sent burst and when it arrived. */
export interface BurstLatency {
  sentMs: number;
  receivedMs: number;
  latencyMs: number;
}

/**
 * Pairs each received onset with the latest sent onset at most `maxLatencyMs` before it (one
 * receive per sent burst: the first one wins), after dropping the first `dropFirst` sent onsets.
 * Both lists are times in ms on one clock, ascending. Bursts must be further apart than
 * `maxLatencyMs` for the pairing to be unambiguous.
 */
export function pairBurstLatencies(
  sentMs: readonly number[],
  receivedMs: readonly number[],
  { maxLatencyMs = 400, dropFirst = 1 }: PairBurstOptions = {},
): BurstLatency[] {
  const sent = sentMs.slice(dropFirst);
  const out: BurstLatency[] = [];
  const used = new Set<number>();
  for (const r of receivedMs) {
    let best = -1;
    for (let i = 0; i < sent.length; i++) if (sent[i]! <= r) best = i;
    if (best < 0 || used.has(best)) continue;
    const latency = r - sent[best]!;
    if (latency > maxLatencyMs) continue;
    used.add(best);
    out.push({ sentMs: sent[best]!, receivedMs: r, latencyMs: latency });
  }
  return out;
}

/** Nearest-rank percentiles of `values` (any order), NaN when empty. */
export function percentiles(
  values: readonly number[],
  ps: readonly number[] = [0.5, 0.95],
): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  return ps.map((p) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!,
  );
}

/** Median interval between consecutive onsets (the burst period), NaN with fewer than two. */
export function medianIntervalMs(onsetsMs: readonly number[]): number {
  const d: number[] = [];
  for (let i = 1; i < onsetsMs.length; i++) d.push(onsetsMs[i]! - onsetsMs[i - 1]!);
  return percentiles(d, [0.5])[0]!;
}
