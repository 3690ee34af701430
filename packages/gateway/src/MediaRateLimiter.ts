/** Sending this many times the allowed frame rate, sustained, ends the connection. */
export const MEDIA_ABUSE_FACTOR = 3;
/** How long a sender may exceed {@link MEDIA_ABUSE_FACTOR}× its rate before it is closed. */
export const MEDIA_ABUSE_WINDOW_MS = 2_000;

/** What to do with one received media frame. */
export type MediaAdmission = 'forward' | 'drop' | 'abuse';

/**
 * The media rate limit of one stream: a token bucket at `fps` frames/s with a burst of
 * `burstFrames` (frames over it are dropped), and a second bucket at
 * {@link MEDIA_ABUSE_FACTOR}× the rate holding {@link MEDIA_ABUSE_WINDOW_MS} of it, whose
 * exhaustion marks a flood the connection is closed for. Time is passed in, so the relay
 * reads its clock once per frame. Main thread.
 */
export class MediaRateLimiter {
  private readonly perMs: number;
  private readonly burst: number;
  private readonly abuseCapacity: number;
  private tokens: number;
  private abuseTokens: number;
  private last = Number.NaN;

  /** @throws {RangeError} for a non-positive rate or burst. */
  constructor(
    /** Frames per second allowed (20 ms Opus frames are 50/s; leave slack). */
    readonly fps: number,
    burstFrames: number,
  ) {
    if (!(fps > 0)) throw new RangeError(`fps must be > 0, got ${fps}`);
    if (!(burstFrames >= 1)) throw new RangeError(`burstFrames must be >= 1, got ${burstFrames}`);
    this.perMs = fps / 1000;
    this.burst = this.tokens = burstFrames;
    this.abuseCapacity = this.abuseTokens =
      (fps * MEDIA_ABUSE_FACTOR * MEDIA_ABUSE_WINDOW_MS) / 1000;
  }

  /**
   * Accounts one frame arriving at `nowMs` (any monotonic ms clock; the caller reads it once
   * per frame): forward it, drop it, or close the sender for flooding.
   */
  admit(nowMs: number): MediaAdmission {
    const elapsed = Number.isNaN(this.last) ? 0 : Math.max(0, nowMs - this.last);
    this.last = nowMs;
    this.abuseTokens = Math.min(
      this.abuseCapacity,
      this.abuseTokens + elapsed * this.perMs * MEDIA_ABUSE_FACTOR,
    );
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perMs);
    if (this.abuseTokens < 1) return 'abuse';
    this.abuseTokens -= 1;
    if (this.tokens < 1) return 'drop';
    this.tokens -= 1;
    return 'forward';
  }
}
