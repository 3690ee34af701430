/**
 * Keeps a client's control messages within the rate limit the gateway announces in HELLO
 * (`messages` per `windowMs`, a token bucket on the server), so a busy but honest client — a
 * room hop that also sets up WebRTC is half a dozen messages — waits a little instead of being
 * closed with 4007 RATE_LIMITED. It mirrors the server's bucket 10 % below its rate and
 * capacity; what does not fit waits in a bounded queue, in order. Main thread.
 */
export class ControlPacer {
  private capacity = Number.POSITIVE_INFINITY;
  private refillPerMs = 0;
  private tokens = Number.POSITIVE_INFINITY;
  private last: number;
  private readonly queue: Array<() => void> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param canSend whether messages can go out now (the connection is ready); the queue waits
   *   while it is false and {@link ControlPacer.drain} is called once it is true again.
   * @param maxQueued most messages waiting at once.
   * @param now monotonic clock in ms.
   */
  constructor(
    private readonly canSend: () => boolean,
    readonly maxQueued = 256,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
  }

  /**
   * The server's limit from HELLO. The bucket starts full only with {@link reset} (a new
   * session): a resumed session keeps what it spent, as the server does.
   * @throws {RangeError} for a non-positive count or window.
   */
  configure(messages: number, windowMs: number): void {
    if (!(messages > 0) || !(windowMs > 0))
      throw new RangeError(`rate limit must be positive, got ${messages} per ${windowMs} ms`);
    this.refill();
    const capacity = Math.max(1, Math.floor(messages * 0.9));
    this.capacity = capacity;
    this.refillPerMs = (messages * 0.9) / windowMs;
    this.tokens = Math.min(this.tokens, capacity);
  }

  /** A new session: the server's bucket is full again. */
  reset(): void {
    this.tokens = this.capacity;
    this.last = this.now();
  }

  /**
   * Runs `send` now when the budget allows and nothing is waiting, else queues it.
   * @returns false (nothing queued) when the queue is full.
   */
  submit(send: () => void): boolean {
    if (this.queue.length === 0 && this.canSend() && this.take()) {
      send();
      return true;
    }
    if (this.queue.length >= this.maxQueued) return false;
    this.queue.push(send);
    this.schedule();
    return true;
  }

  /**
   * Puts `sends` at the head of the queue, in order (requests to send again after a resume:
   * they came before anything waiting). Not bounded by `maxQueued`: they were accepted before.
   */
  prepend(sends: Array<() => void>): void {
    if (sends.length === 0) return;
    this.queue.unshift(...sends);
    this.schedule();
  }

  /** Charges a message that went out without waiting (heartbeats must never wait). */
  charge(): void {
    this.refill();
    this.tokens -= 1;
  }

  /** Sends what the budget allows now and schedules the rest. */
  drain(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && this.canSend() && this.take()) this.queue.shift()!();
    if (this.queue.length > 0) this.schedule();
  }

  /** Drops every waiting message (the session is gone). */
  clear(): void {
    this.queue.length = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Messages waiting. */
  get queued(): number {
    return this.queue.length;
  }

  private take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.refillPerMs);
    this.last = t;
  }

  private schedule(): void {
    if (this.timer !== undefined || !this.canSend()) return;
    this.refill();
    const waitMs =
      this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / Math.max(this.refillPerMs, 1e-9));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, waitMs);
  }
}
