/**
 * A token bucket: `capacity` tokens, refilled continuously at `capacity / windowMs`. Used per
 * connection for control messages and bytes, and per address for new connections. Time comes from `now()` so tests can drive it.
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

  /** Whether the bucket has refilled completely (nothing to remember about its owner). */
  full(): boolean {
    const t = this.now();
    return this.tokens + (t - this.last) * this.refillPerMs >= this.capacity;
  }

  /**
   * Takes `cost` tokens (default 1: one message; byte budgets pass a frame's length); false,
   * taking nothing, when fewer are left.
   */
  take(cost = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.refillPerMs);
    this.last = t;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}
