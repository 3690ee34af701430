// A lock-free single-producer single-consumer ring of float samples, after GoogleChromeLabs'
// web-audio-samples FreeQueue: two Int32 indices advanced with Atomics, one Float32 data array.
// Backed by a SharedArrayBuffer it crosses threads (audio thread ↔ main/worker); backed by a
// plain ArrayBuffer it works within one thread. One slot stays empty to tell full from empty.

import { isShared, waitForChange } from './atomicsWait.js';

const READ = 0;
const WRITE = 1;

/** The shareable parts of a {@link SampleRing}, for `postMessage`/`processorOptions`. */
export interface SampleRingHandle {
  /** [readIndex, writeIndex]. */
  indices: SharedArrayBuffer | ArrayBuffer;
  /** capacity + 1 float samples. */
  data: SharedArrayBuffer | ArrayBuffer;
}

/**
 * SPSC ring of float32 samples. Exactly one thread pushes and one thread pulls; `push`/`pull`
 * never allocate and never block, so they are safe in `AudioWorkletProcessor.process()`.
 */
export class SampleRing {
  private readonly indices: Int32Array;
  private readonly data: Float32Array;
  /** Usable capacity in samples. */
  readonly capacity: number;
  /** Whether the ring is on a SharedArrayBuffer (crosses threads, can be waited on). */
  readonly shared: boolean;

  constructor(handle: SampleRingHandle) {
    this.indices = new Int32Array(handle.indices);
    this.data = new Float32Array(handle.data);
    if (this.indices.length !== 2 || this.data.length < 2)
      throw new RangeError('invalid SampleRing handle');
    this.capacity = this.data.length - 1;
    this.shared = isShared(this.indices);
  }

  /**
   * Allocates a ring for `capacity` samples, on a SharedArrayBuffer when `shared` (and
   * available), else on a plain ArrayBuffer (single-thread use).
   * @throws {RangeError} when `capacity` is not a positive integer.
   */
  static allocate(capacity: number, shared = typeof SharedArrayBuffer !== 'undefined'): SampleRing {
    if (!Number.isInteger(capacity) || capacity <= 0)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    const Buf = shared ? SharedArrayBuffer : ArrayBuffer;
    return new SampleRing({ indices: new Buf(8), data: new Buf((capacity + 1) * 4) });
  }

  /** The buffers, to hand the other end to another thread. */
  get handle(): SampleRingHandle {
    return {
      indices: this.indices.buffer as SharedArrayBuffer | ArrayBuffer,
      data: this.data.buffer as SharedArrayBuffer | ArrayBuffer,
    };
  }

  /** Samples ready to pull. */
  get availableRead(): number {
    const r = Atomics.load(this.indices, READ);
    const w = Atomics.load(this.indices, WRITE);
    return w >= r ? w - r : w + this.data.length - r;
  }

  /** Samples that can be pushed without overwriting. */
  get availableWrite(): number {
    return this.capacity - this.availableRead;
  }

  /**
   * Copies up to `length` samples of `src` (from `offset`) in; returns how many fit.
   * Producer side only.
   */
  push(src: Float32Array, offset = 0, length = src.length - offset): number {
    const size = this.data.length;
    const r = Atomics.load(this.indices, READ);
    let w = Atomics.load(this.indices, WRITE);
    const free = (r > w ? r - w : r + size - w) - 1;
    const n = Math.min(length, free);
    // Plain loops, not set(subarray(...)): a subarray is an allocation, and this runs per quantum.
    const data = this.data;
    for (let i = 0; i < n; i++) {
      data[w] = src[offset + i]!;
      if (++w === size) w = 0;
    }
    Atomics.store(this.indices, WRITE, w);
    return n;
  }

  /**
   * Copies up to `length` samples out into `dst` (from `offset`); returns how many there were.
   * Consumer side only.
   */
  pull(dst: Float32Array, offset = 0, length = dst.length - offset): number {
    const size = this.data.length;
    let r = Atomics.load(this.indices, READ);
    const w = Atomics.load(this.indices, WRITE);
    const available = w >= r ? w - r : w + size - r;
    const n = Math.min(length, available);
    const data = this.data;
    for (let i = 0; i < n; i++) {
      dst[offset + i] = data[r]!;
      if (++r === size) r = 0;
    }
    Atomics.store(this.indices, READ, r);
    return n;
  }

  /**
   * Wakes a consumer waiting in {@link waitForWrite} (producer side). Call after a push that
   * completes a unit the consumer wants (e.g. a whole frame). No allocation; a no-op without
   * shared memory. Allowed on the audio thread (`Atomics.notify` never blocks).
   */
  notifyWrite(): void {
    if (this.shared) Atomics.notify(this.indices, WRITE);
  }

  /**
   * Consumer side, off the audio thread: resolves after the producer's next
   * {@link notifyWrite} (at once when samples were pushed since `sinceWrite`), or after
   * `timeoutMs`. `sinceWrite` is a {@link writeMark} taken before the consumer last read.
   * Returns undefined when waiting is not possible here (no SharedArrayBuffer, or no
   * `Atomics.waitAsync`): the caller falls back to polling.
   */
  waitForWrite(sinceWrite: number, timeoutMs: number): Promise<unknown> | undefined {
    return waitForChange(this.indices, WRITE, sinceWrite, timeoutMs);
  }

  /** The producer's write position now: pass it to {@link waitForWrite}. */
  get writeMark(): number {
    return Atomics.load(this.indices, WRITE);
  }

  /** Drops up to `n` samples (consumer side); returns how many were dropped. */
  skip(n: number): number {
    const size = this.data.length;
    let r = Atomics.load(this.indices, READ);
    const w = Atomics.load(this.indices, WRITE);
    const available = w >= r ? w - r : w + size - r;
    const k = Math.min(n, available);
    r = (r + k) % size;
    Atomics.store(this.indices, READ, r);
    return k;
  }
}
