import { TIMING_BIN_US, TIMING_BINS } from './messages.js';

// AudioWorkletGlobalScope has no `performance` in some browsers; Date.now is the fallback.
const clock: () => number = (() => {
  const perf = (globalThis as { performance?: { now(): number } }).performance;
  return perf ? () => perf.now() : () => Date.now();
})();

/**
 * Measures processing time per render quantum into a fixed histogram (no allocation per
 * quantum); `take()` hands out the histogram and starts a fresh one (a few times per second).
 */
export class QuantumTimer {
  private readonly histogram = new Uint32Array(TIMING_BINS);
  private started = 0;
  /** Longest quantum since the last `take()`, in µs. */
  maxUs = 0;

  /** Marks the start of a quantum. */
  start(): void {
    this.started = clock();
  }

  /** Marks the end of a quantum. */
  stop(): void {
    const us = (clock() - this.started) * 1000;
    if (us > this.maxUs) this.maxUs = us;
    const bin = Math.min(TIMING_BINS - 1, Math.floor(us / TIMING_BIN_US));
    this.histogram[bin]!++;
  }

  /** The histogram since the last call (a copy the caller may keep); resets. */
  take(): { histogram: Uint32Array; maxUs: number } {
    const histogram = this.histogram.slice();
    const maxUs = this.maxUs;
    this.histogram.fill(0);
    this.maxUs = 0;
    return { histogram, maxUs };
  }
}
