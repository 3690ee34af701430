/**
 * A first-in first-out queue of audio samples between the jitter buffer's operations, whose
 * output length varies (a decoded packet ± one pitch period, 10 or 20 ms packets), and its
 * fixed-size {@link JitterBuffer.pull} frames — NetEq's "sync buffer" in
 * `modules/audio_coding/neteq/sync_buffer.h`, reduced to what is not yet played.
 *
 * Preallocated ring; `write` and `read` allocate nothing. Internal to the receive side; runs on
 * the jitter buffer's thread.
 */
export class SampleFifo {
  private readonly ring: Float32Array;
  private readonly mask: number;
  private head = 0;
  private size = 0;

  /** @param capacity samples held at most; rounded up to a power of two. */
  constructor(capacity: number) {
    let n = 1;
    while (n < capacity) n <<= 1;
    this.ring = new Float32Array(n);
    this.mask = n - 1;
  }

  /** Samples queued. */
  get length(): number {
    return this.size;
  }

  /**
   * Appends the first `n` samples of `src`.
   * @throws {RangeError} when they do not fit.
   */
  write(src: Float32Array, n: number): void {
    if (n > this.ring.length - this.size) {
      throw new RangeError(`n must be at most ${this.ring.length - this.size}, got ${n}`);
    }
    let at = (this.head + this.size) & this.mask;
    for (let k = 0; k < n; k++) {
      this.ring[at] = src[k]!;
      at = (at + 1) & this.mask;
    }
    this.size += n;
  }

  /**
   * Moves the oldest `dst.length` samples into `dst`.
   * @throws {RangeError} when fewer are queued.
   */
  read(dst: Float32Array): void {
    const n = dst.length;
    if (n > this.size) throw new RangeError(`dst.length must be at most ${this.size}, got ${n}`);
    let at = this.head;
    for (let k = 0; k < n; k++) {
      dst[k] = this.ring[at]!;
      at = (at + 1) & this.mask;
    }
    this.head = at;
    this.size -= n;
  }

  /** Forgets every queued sample. */
  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}
