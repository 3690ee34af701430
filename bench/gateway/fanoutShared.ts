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
