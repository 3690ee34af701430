/**
 * Early feedback (as RTCP's, RFC 4585 §3.4): when a stream whose last report was bad has
 * received this many packets in a row without a gap and its jitter is low again, reports go out
 * at once and then every {@link FAST_REPORT_MS} for up to {@link FAST_REPORT_WINDOW_MS} (ended by
 * the next loss), so the sender's bitrate climbs back within ~2 s of the network clearing
 * instead of waiting for whole report intervals. At most one such episode per
 * {@link FAST_REPORT_COOLDOWN_MS}: with the normal 1 s interval that stays under the gateway's
 * report limit (2/s on average) even on a lossy path that looks clean now and then.
 */
export const EARLY_REPORT_MIN_PACKETS = 10;
/**
 * Fast reports are 275 ms apart: the sender's ABR credits one rung per full 250 ms of good
 * reports, and the reports' own delivery jitter must not make one look 249 ms after the last.
 */
export const FAST_REPORT_MS = 275;
/** How long fast reporting lasts, ms. */
export const FAST_REPORT_WINDOW_MS = 2_000;
/** Fast-reporting episodes start at most this often, ms. */
export const FAST_REPORT_COOLDOWN_MS = 10_000;
/** Report messages that may go out back to back (the report budget's bucket size). */
const REPORT_BURST = 10;

/** What {@link ReportScheduler} asks of the streams being received (evaluated lazily). */
export interface ReportProbe {
  /** A stream had a sequence gap within its last {@link EARLY_REPORT_MIN_PACKETS} packets. */
  lostLately(): boolean;
  /** A stream whose last report was bad has been clean since, long enough to say so early. */
  recovered(): boolean;
}

/** Options of {@link ReportScheduler}. */
export interface ReportSchedulerOptions {
  /** Report period, ms (20–60,000). Default 1,000. */
  intervalMs?: number;
  /** Report messages allowed per minute, bursts of up to 10 included (1–6,000). Default 100. */
  reportsPerMinute?: number;
}

/**
 * When receiver reports go out: every `intervalMs` (RFC 3550 §6.2, a fixed interval for a
 * handful of senders), early and fast while a stream recovers ({@link EARLY_REPORT_MIN_PACKETS}),
 * and within a token-bucket budget of `reportsPerMinute` messages (the gateway closes a
 * connection that exceeds its report limit). Allocates nothing. Runs on the receiver's thread;
 * time is passed in.
 */
export class ReportScheduler {
  private readonly intervalMs: number;
  private readonly reportsPerMinute: number;
  private lastReportMs = Number.NaN;
  private fastUntilMs = Number.NEGATIVE_INFINITY;
  private nextFastAllowedMs = Number.NEGATIVE_INFINITY;
  private tokens = REPORT_BURST;
  private tokensAtMs = Number.NaN;
  private deferredCount = 0;

  /** @throws {RangeError} when an option is out of range (the message names it). */
  constructor(
    private readonly probe: ReportProbe,
    options: ReportSchedulerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
    if (!(this.intervalMs >= 20 && this.intervalMs <= 60_000))
      throw new RangeError(`reportIntervalMs must be in [20, 60000], got ${this.intervalMs}`);
    this.reportsPerMinute = options.reportsPerMinute ?? 100;
    if (!(this.reportsPerMinute >= 1 && this.reportsPerMinute <= 6_000))
      throw new RangeError(`reportsPerMinute must be in [1, 6000], got ${this.reportsPerMinute}`);
  }

  /**
   * Whether reports are due at `nowMs` (call it on every receiver tick of `tickMs`); when it
   * returns true the caller reports now. The first call after {@link restart} only starts the
   * interval.
   */
  due(nowMs: number, tickMs: number): boolean {
    if (Number.isNaN(this.lastReportMs)) {
      this.lastReportMs = nowMs;
      return false;
    }
    const sinceMs = nowMs - this.lastReportMs;
    let due = sinceMs >= this.intervalMs - tickMs / 2;
    if (nowMs < this.fastUntilMs && this.probe.lostLately()) {
      this.fastUntilMs = Number.NEGATIVE_INFINITY; // not clear after all
    }
    if (!due && sinceMs >= FAST_REPORT_MS) {
      if (nowMs < this.fastUntilMs) due = true;
      else if (nowMs >= this.nextFastAllowedMs && this.probe.recovered()) {
        this.fastUntilMs = nowMs + FAST_REPORT_WINDOW_MS;
        this.nextFastAllowedMs = nowMs + FAST_REPORT_COOLDOWN_MS;
        due = true;
      }
    }
    if (due) this.lastReportMs = nowMs;
    return due;
  }

  /**
   * Takes one report message from the budget; false (and counted as deferred) when it is
   * spent: that message waits for the next report, which covers the longer interval.
   */
  takeToken(nowMs: number): boolean {
    if (Number.isNaN(this.tokensAtMs)) this.tokensAtMs = nowMs;
    const refill = ((nowMs - this.tokensAtMs) * this.reportsPerMinute) / 60_000;
    this.tokens = Math.min(REPORT_BURST, this.tokens + refill);
    this.tokensAtMs = nowMs;
    if (this.tokens < 1) {
      this.deferredCount++;
      return false;
    }
    this.tokens--;
    return true;
  }

  /** Whether reports are going out early (fast feedback, see {@link FAST_REPORT_MS}). */
  get fastReporting(): boolean {
    return this.lastReportMs < this.fastUntilMs;
  }

  /** Report messages put off because the budget was spent. */
  get deferred(): number {
    return this.deferredCount;
  }

  /** The receiver's clock (re)started: the next {@link due} starts a new interval. */
  restart(): void {
    this.lastReportMs = Number.NaN;
  }
}
