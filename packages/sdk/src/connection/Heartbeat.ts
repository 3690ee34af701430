/** Callbacks of a {@link Heartbeat}. */
export interface HeartbeatHooks {
  /** Sends HEARTBEAT with this nonce. */
  send(nonce: number): void;
  /** The previous beat was never acknowledged: the connection is a zombie. */
  zombie(): void;
  /** An ACK arrived; round trip in ms. */
  ack(rttMs: number): void;
}

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  /**
   * Delay of the first beat, in ms (default `interval × random()`, spreading a reconnect
   * storm). 0 beats on the next tick: the session's round trip is known right away.
   */
  firstBeatMs?: number;
  /** Randomness for the default first delay (tests). */
  random?: () => number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/**
 * Client heartbeats as Discord's gateway does them: a first beat (at once, or after
 * `interval × random`), then every `interval`; a beat whose predecessor was not acknowledged
 * declares the connection a zombie. Main thread; timers only.
 */
export class Heartbeat {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nonce = 0;
  private pending: { nonce: number; sentAt: number } | undefined;
  /** Last measured round trip in ms (NaN before the first ACK). */
  rttMs = Number.NaN;

  private readonly now: () => number;

  constructor(
    /** Time between beats, in ms. */
    readonly intervalMs: number,
    private readonly hooks: HeartbeatHooks,
    options: HeartbeatOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    const first = options.firstBeatMs ?? Math.floor(intervalMs * (options.random ?? Math.random)());
    this.timer = setTimeout(() => this.beat(), first);
  }

  /** Handles HEARTBEAT_ACK; ACKs for other nonces are ignored. */
  onAck(nonce: number): void {
    if (!this.pending || this.pending.nonce !== nonce) return;
    this.rttMs = this.now() - this.pending.sentAt;
    this.pending = undefined;
    this.hooks.ack(this.rttMs);
  }

  /** Stops beating (idempotent). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private beat(): void {
    if (this.pending) {
      this.stop();
      this.hooks.zombie();
      return;
    }
    this.nonce = (this.nonce + 1) >>> 0;
    this.pending = { nonce: this.nonce, sentAt: this.now() };
    this.hooks.send(this.nonce);
    this.timer = setTimeout(() => this.beat(), this.intervalMs);
  }
}
