/**
 * A token bucket: `capacity` tokens, refilled continuously at `capacity / windowMs`. Used per
 * connection for control messages. Time comes from `now()` so tests can drive it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly refillPerMs: number;

  /** @throws {RangeError} for a non-positive capacity or window. */
  constructor(
    private readonly capacity: number,
    windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(capacity > 0)) throw new RangeError(`capacity must be > 0, got ${capacity}`);
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.tokens = capacity;
    this.refillPerMs = capacity / windowMs;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.refillPerMs);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
