// Constants and message types shared by fanout.bench.ts and its client worker.

/** Histogram bin width in ms, and number of bins (0–500 ms), for latency samples. */
export const BIN_MS = 0.05;
export const BINS = 10_000;
/** The measurement window is also split into this many equal sub-windows (by send time). */
export const SUB_WINDOWS = 5;

/** What a step reports. */
export interface StepResult {
  type: 'stepDone';
  histogram: number[];
  /** Per sub-window: latency histogram, updates sent, deliveries received. */
  subHistograms: number[][];
  subSent: number[];
  subReceived: number[];
  /** Deliveries expected in the window (updates sent × other members). */
  expected: number;
  /** Of those, received before the drain ended. */
  received: number;
  /** Updates sent in the measurement window. */
  sent: number;
  measureMs: number;
  cpuMs: number;
  /** Frames received during the window (all kinds). */
  framesIn: number;
  /** Longest event-loop lag seen by the send clock during the window, in ms. */
  maxTickLagMs: number;
}

/** Percentile of a latency histogram (bin upper edge, ms); the overflow bin reads Infinity. */
export function histPercentile(hist: readonly number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.ceil(p * total);
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= rank) return i === BINS ? Number.POSITIVE_INFINITY : (i + 1) * BIN_MS;
  }
  return Number.POSITIVE_INFINITY;
}

/** What {@link robustP99} needs of each client worker's step result. */
export interface SubWindowCounts {
  subHistograms: number[][];
  subSent: number[];
  subReceived: number[];
}

/**
 * p99 of each sub-window (by send time), then their median: one ~100 ms VM stall spoils one
 * sub-window, sustained queueing spoils all of them. Deliveries that never arrived count as
 * beyond every percentile (`fanout` = receivers per sent message).
 */
export function robustP99(
  results: readonly SubWindowCounts[],
  fanout: number,
): { median: number; perWindow: number[] } {
  const subP99 = Array.from({ length: SUB_WINDOWS }, (_, w) => {
    const h = new Array<number>(BINS + 1).fill(0);
    let subSent = 0;
    let subReceived = 0;
    for (const r of results) {
      r.subHistograms[w]!.forEach((n, i) => (h[i]! += n));
      subSent += r.subSent[w]!;
      subReceived += r.subReceived[w]!;
    }
    h[BINS]! += Math.max(0, subSent * fanout - subReceived);
    return histPercentile(h, 0.99);
  });
  return {
    median: [...subP99].sort((a, c) => a - c)[Math.floor(SUB_WINDOWS / 2)]!,
    perWindow: subP99,
  };
}

/** What {@link waitFor} needs of a benchmark client: its inbox and a wake-up hook. */
export interface Inbox<M> {
  userId: string;
  inbox: M[];
  wake: (() => void) | undefined;
}

/**
 * Resolves with the first message in `c.inbox` matching `pred`, dropping it and everything
 * before it (setup only, never on the measured path).
 */
export async function waitFor<M>(
  c: Inbox<M>,
  pred: (m: M) => boolean,
  timeoutMs = 20_000,
): Promise<M> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = c.inbox.findIndex(pred);
    if (i >= 0) return c.inbox.splice(0, i + 1)[i]!;
    if (Date.now() > deadline) throw new Error(`${c.userId}: timed out during setup`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 200);
      c.wake = () => {
        clearTimeout(t);
        c.wake = undefined;
        resolve();
      };
    });
  }
}
