// Message types shared by relay.bench.ts and its client worker (relayClient.ts).

/** What a client worker reports after one load step. */
export interface RelayStepResult {
  type: 'stepDone';
  /** Latency histogram of forwards sent inside the window (bins of `BIN_MS`, last = overflow). */
  histogram: number[];
  /** Per sub-window of the measurement window (by send time): histogram, frames sent, forwards received. */
  subHistograms: number[][];
  subSent: number[];
  subReceived: number[];
  /** Frames sent by this worker's speakers inside the measurement window. */
  sent: number;
  /** Of the forwards of those frames, how many arrived before the drain ended. */
  received: number;
  /** Media frames received during the window (whenever sent): the achieved forward rate. */
  framesInWindow: number;
  /** Speakers that sent during the step. */
  speakers: number;
  /** This worker's CPU time during the window, ms. */
  cpuMs: number;
  /** Longest gap between send-clock ticks during the window, ms. */
  maxTickLagMs: number;
  /** Control (non-media) frames received so far (should not grow during steps). */
  nonMediaFrames: number;
}
