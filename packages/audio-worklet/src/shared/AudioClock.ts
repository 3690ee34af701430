import { isShared, waitForChange } from './atomicsWait.js';

/**
 * A render-quantum counter the playback processor advances on the audio thread, so main-thread
 * code can run on the audio clock instead of a timer: the receiver pulls decoded voice exactly
 * when the playback rings drain. One Int32 on a SharedArrayBuffer; `tick` is an `Atomics.add`
 * and an `Atomics.notify` (no allocation, never blocks: allowed in `process()`).
 */
export class AudioClock {
  private readonly cell: Int32Array;
  private readonly shared: boolean;

  /** @throws {RangeError} when `buffer` is shorter than 4 bytes. */
  constructor(readonly buffer: SharedArrayBuffer | ArrayBuffer) {
    if (buffer.byteLength < 4) throw new RangeError('AudioClock needs a 4-byte buffer');
    this.cell = new Int32Array(buffer, 0, 1);
    this.shared = isShared(this.cell);
  }

  /** A clock on shared memory when `shared` (and available), else a same-thread one. */
  static allocate(shared = typeof SharedArrayBuffer !== 'undefined'): AudioClock {
    return new AudioClock(shared ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
  }

  /** Audio thread: one render quantum was produced. Wakes waiters. */
  tick(): void {
    Atomics.add(this.cell, 0, 1);
    if (this.shared) Atomics.notify(this.cell, 0);
  }

  /** Quanta produced so far (wraps at 2^31). */
  get count(): number {
    return Atomics.load(this.cell, 0);
  }

  /**
   * Resolves after the next `tick` (at once when one happened since `sinceCount`), or after
   * `timeoutMs`. Undefined when waiting is impossible here (no shared memory or no
   * `Atomics.waitAsync`). Main thread or worker.
   */
  wait(sinceCount: number, timeoutMs: number): Promise<unknown> | undefined {
    return waitForChange(this.cell, 0, sinceCount, timeoutMs);
  }
}
