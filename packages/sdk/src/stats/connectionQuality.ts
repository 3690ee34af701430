import { InvalidStateError } from '../errors.js';
import { TypedEmitter } from '../TypedEmitter.js';

/** A participant's connection quality, as shown next to their name. */
export type ConnectionQuality = 'excellent' | 'good' | 'poor' | 'lost';

/**
 * Score thresholds of {@link connectionQuality}: the adaptive bitrate controller's own zones
 * (above 0.8 it steps up, below 0.4 it steps down), so "excellent" means the bitrate can climb and
 * "poor" means it is being cut.
 */
export const CONNECTION_QUALITY_THRESHOLDS = Object.freeze({ excellent: 0.8, good: 0.4 });

/**
 * Maps a network score (0–1, `networkScore`) to a quality: `lost` when the connection is gone
 * (no media or no gateway), else excellent ≥ 0.8 > good ≥ 0.4 > poor. Any thread.
 */
export function connectionQuality(score: number, lost: boolean): ConnectionQuality {
  if (lost) return 'lost';
  if (score >= CONNECTION_QUALITY_THRESHOLDS.excellent) return 'excellent';
  if (score >= CONNECTION_QUALITY_THRESHOLDS.good) return 'good';
  return 'poor';
}

/** Events of {@link ConnectionQualityTracker}. */
export type ConnectionQualityEvents = {
  /** The quality changed. */
  connectionQualityChanged: [quality: ConnectionQuality, previous: ConnectionQuality];
};

/** Options of {@link ConnectionQualityTracker}. */
export interface ConnectionQualityTrackerOptions {
  /**
   * How far (in score units) beyond a threshold the score must go to change level. Default 0.05:
   * good → excellent at ≥ 0.85, excellent → good below 0.75.
   */
  margin?: number;
  /** Quality before the first update. Default 'good'. */
  initial?: ConnectionQuality;
}

const RANK: Record<Exclude<ConnectionQuality, 'lost'>, number> = { poor: 0, good: 1, excellent: 2 };

/**
 * Tracks one participant's {@link ConnectionQuality} and emits `connectionQualityChanged` only on
 * a change. Hysteresis: a score must cross a threshold by `margin` to move up or down a level,
 * so a score hovering on a threshold does not flap. `lost` applies and clears at once.
 * Main thread.
 */
export class ConnectionQualityTracker extends TypedEmitter<ConnectionQualityEvents> {
  private current: ConnectionQuality;
  private readonly margin: number;
  private closed = false;

  /** @throws {RangeError} when `margin` is not in [0, 0.2]. */
  constructor(options: ConnectionQualityTrackerOptions = {}) {
    super();
    this.margin = options.margin ?? 0.05;
    if (!(this.margin >= 0 && this.margin <= 0.2)) {
      throw new RangeError(`margin must be in [0, 0.2], got ${String(this.margin)}`);
    }
    this.current = options.initial ?? 'good';
  }

  /** The current quality. */
  get quality(): ConnectionQuality {
    return this.current;
  }

  /**
   * Feeds a score (0–1) and whether the connection is lost; returns the (possibly unchanged)
   * quality.
   * @throws {RangeError} when `score` is not a finite number in [0, 1].
   * @throws {InvalidStateError} after `close()`.
   */
  update(score: number, lost: boolean): ConnectionQuality {
    if (this.closed) throw new InvalidStateError('ConnectionQualityTracker is closed');
    if (!(Number.isFinite(score) && score >= 0 && score <= 1)) {
      throw new RangeError(`score must be in [0, 1], got ${String(score)}`);
    }
    let next = connectionQuality(score, lost);
    const current = this.current;
    if (next !== 'lost' && current !== 'lost' && next !== current) {
      // Up a level needs score ≥ threshold + margin, down a level score < threshold − margin.
      const up = RANK[next] > RANK[current];
      // Rounded to 1e-6 so that e.g. 0.85 − 0.05 is 0.8, not 0.7999999999999999.
      const biased = Math.round((score + (up ? -this.margin : this.margin)) * 1e6) / 1e6;
      const shifted = connectionQuality(biased, false);
      const moves =
        shifted !== 'lost' && (up ? RANK[shifted] > RANK[current] : RANK[shifted] < RANK[current]);
      next = moves ? shifted : current;
    }
    if (next !== this.current) {
      const previous = this.current;
      this.current = next;
      this.safeEmit('connectionQualityChanged', next, previous);
    }
    return this.current;
  }

  /** Removes listeners; afterwards `update` throws. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeAllListeners();
  }
}
