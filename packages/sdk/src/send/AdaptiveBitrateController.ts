import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';

/** Opus bitrates Concord steps through, in bit/s (within RFC 6716 §2.1.1's 6–510 kbit/s). */
export const BITRATE_LADDER_BPS: readonly number[] = Object.freeze([
  16_000, 24_000, 32_000, 48_000, 64_000, 96_000, 128_000,
]);
/** Bitrate a call starts at, in bit/s. */
export const DEFAULT_START_BITRATE_BPS = 48_000;
/**
 * At or below this bitrate (bit/s) the ABR asks for 20 ms packets instead of 10 ms ones: per
 * packet Concord's 13-byte media header, the WebSocket frame (6 bytes) and TCP/IP (40 bytes)
 * cost 59 bytes — 47 kbit/s at 100 packets/s, twice a 24 kbit/s voice — and a network bad
 * enough to push the bitrate this low gains more from halving that than it loses from 10 ms of
 * extra delay (RFC 7587 §4.2: 20 ms is Opus's recommended ptime for this trade).
 */
export const LONG_PACKET_MAX_BITRATE_BPS = 24_000;

/** Network measurements for one {@link AdaptiveBitrateController.update}. */
export interface NetworkSample {
  /** Packet loss seen by the receivers, in percent (0–100), e.g. RTCP `fractionLost / 2.56`. */
  lossPct: number;
  /** Round-trip time, in ms (heartbeat/ping). */
  rttMs: number;
  /** Interarrival jitter seen by the receivers, in ms (RFC 3550 §6.4.1). */
  jitterMs: number;
}

/** What an update did to the bitrate. */
export type AbrAction = 'up' | 'down' | 'hold';

/** The controller's output after an update: apply it to the Opus encoder. */
export interface AbrDecision {
  /** Encoder target bitrate, in bit/s (one of {@link BITRATE_LADDER_BPS}). */
  bitrateBps: number;
  /** In-band FEC on or off (OPUS_SET_INBAND_FEC). */
  fec: boolean;
  /** The encoder's expected loss, in percent 0–30 (OPUS_SET_PACKET_LOSS_PERC). */
  expectedLossPct: number;
  /** Network score 0–1 from {@link networkScore}. */
  score: number;
  /** What this update did. */
  action: AbrAction;
  /**
   * Packet duration, ms: the preferred one (`frameMs` option, default 10), or 20 at and below
   * {@link LONG_PACKET_MAX_BITRATE_BPS}.
   */
  frameMs: 10 | 20;
}

/** Events of {@link AdaptiveBitrateController}. */
export type AdaptiveBitrateEvents = {
  /** The bitrate changed (bit/s). */
  bitrateChanged: [bitrateBps: number, previousBps: number, decision: AbrDecision];
  /** Every update's decision, with the sample it was made from. */
  decision: [decision: AbrDecision, sample: NetworkSample];
};

/** Options of {@link AdaptiveBitrateController}; all durations in ms. */
export interface AdaptiveBitrateOptions {
  /** Bitrate ladder, ascending, bit/s. Default {@link BITRATE_LADDER_BPS}. */
  ladderBps?: readonly number[];
  /** Starting bitrate (must be on the ladder). Default 48,000. */
  startBitrateBps?: number;
  /** Step up when the score is above this. Default 0.8. */
  upThreshold?: number;
  /** Step down when the score is below this. Default 0.4. */
  downThreshold?: number;
  /** Most rungs one update may climb (when reports are sparse). Default 3. */
  maxUpStepsPerUpdate?: number;
  /** The score must stay above `upThreshold` this long before a step up. Default 250. */
  upConfirmMs?: number;
  /** The score must stay below `downThreshold` this long before a step down. Default 250. */
  downConfirmMs?: number;
  /**
   * Minimum time after any change before a step up; also the climb rate: one rung per
   * `upDwellMs` of sustained good score. Default 250.
   */
  upDwellMs?: number;
  /** Minimum time after any change before a step down. Default 1,000. */
  downDwellMs?: number;
  /** FEC turns on at this loss, in percent. Default 1. */
  fecOnLossPct?: number;
  /** FEC turns off below this loss, in percent (hysteresis). Default 0.5. */
  fecOffLossPct?: number;
  /** Cap of the encoder's expected loss, in percent. Default 30. */
  maxExpectedLossPct?: number;
  /**
   * FEC and the expected loss follow the highest loss of the reports of the last `lossHoldMs`
   * (0 = the latest report only). Random loss at a few percent gives one-second reports of 0 %
   * now and then; FEC switched off on one of them leaves the next losses unrepaired. Default
   * 5,000.
   */
  lossHoldMs?: number;
  /**
   * After stepping down from a rung, for this long the way back up to it is fast: each update
   * in a confirmed good zone climbs `maxUpStepsPerUpdate` rungs toward it (a network that
   * recovers gets its bitrate back at once); above it, the normal climb rate. 0 turns it off.
   * Default 30,000.
   */
  restoreWindowMs?: number;
  /**
   * Packet duration when the bitrate is above {@link LONG_PACKET_MAX_BITRATE_BPS}, ms: 10 (the
   * default: 10 ms less delay at the sender and in the receiver's buffer) or 20 (fewer packets;
   * then every rung uses 20).
   */
  frameMs?: 10 | 20;
}

/**
 * The network score of the Discord voice profile (issue 5): 0.4·loss + 0.3·rtt + 0.3·jitter
 * sub-scores, each 1 when perfect and 0 at 5 % loss, 200 ms RTT, 20 ms jitter or worse.
 * Any thread.
 */
export function networkScore(sample: NetworkSample): number {
  const lossScore = 1 - Math.min(sample.lossPct / 5, 1);
  const rttScore = 1 - Math.min(sample.rttMs / 200, 1);
  const jitterScore = 1 - Math.min(sample.jitterMs / 20, 1);
  return 0.4 * lossScore + 0.3 * rttScore + 0.3 * jitterScore;
}

type Zone = 'up' | 'down' | 'hold';
/** Reports count toward the down decision's mean loss this long, ms. */
const DOWN_LOSS_MEMORY_MS = 2_000;

const log = getLogger('concord:abr');

/**
 * Adaptive bitrate for the Opus sender, driven by the receivers' loss and jitter reports and the
 * heartbeat RTT: the {@link networkScore} moves the bitrate along a ladder (16–128 kbit/s,
 * starting at 48) and in-band FEC and the expected-loss setting follow the measured loss.
 *
 * Rules:
 * - **Zones with hysteresis**: above 0.8 up, below 0.4 down, hold between, so a score has to
 *   cross the whole band to reverse direction. Down is scored with the higher of this report's
 *   loss and the mean of the last 2 s of reports (random loss is noisy per report), up with
 *   this report alone.
 * - **Confirmation**: a zone must hold for `upConfirmMs`/`downConfirmMs` (250 ms) — i.e. at
 *   least two consecutive reports at a 250 ms cadence — so a score hovering across a threshold
 *   moves nothing.
 * - **Dwell**: at least 250 ms after any change before going up, 1 s before going down: up-steps
 *   must be fast to meet "back at the top within 2 s", down-steps slow enough that one bad report
 *   interval does not collapse the bitrate.
 * - **Climb rate**: one rung per `upDwellMs` (250 ms) of sustained good score, credited per update
 *   and capped at 3 rungs per update, so the climb speed does not depend on the report cadence.
 * - **Restore**: for `restoreWindowMs` (30 s) after a descent, the way back up to the rung it
 *   started from takes 3 rungs per update once the good zone is confirmed, without the dwell: a
 *   loss burst that ended gives its bitrate back within a report or two.
 *   From the bottom (16 kbit/s) the top is 6 rungs away: the first clean report starts the
 *   confirmation, and 128 kbit/s is reached 1.5 s later with 250 or 500 ms reports and 2 s
 *   later with 1 s reports (two 3-rung updates) — within the issue's 2 s.
 * - **FEC / expected loss**: FEC on at ≥ 1 % loss, off below 0.5 %; expected loss =
 *   ⌈measured⌉ capped at 30 % (libopus spends more on LBRR as it rises; RFC 6716 §4.2.4) —
 *   "measured" being the highest loss reported in the last 5 s (`lossHoldMs`).
 *
 * Time is passed in (`nowMs`); nothing reads a clock. Main thread or worker.
 */
export class AdaptiveBitrateController extends TypedEmitter<AdaptiveBitrateEvents> {
  private readonly ladder: readonly number[];
  private readonly o: Required<Omit<AdaptiveBitrateOptions, 'ladderBps' | 'startBitrateBps'>>;
  /** Loss of the reports of the last 2 s, oldest first, for the down decision. */
  private readonly recentDownLoss: { atMs: number; lossPct: number }[] = [];
  /** Loss of the reports within `lossHoldMs`, oldest first (a few per second at most). */
  private readonly recentLoss: { atMs: number; lossPct: number }[] = [];
  private step: number;
  private fec = false;
  private zone: Zone = 'hold';
  private zoneSinceMs = Number.NaN;
  private lastChangeMs = Number.NEGATIVE_INFINITY;
  /** The rung held before the latest descent, and until when the fast way back to it is open. */
  private restoreStep = -1;
  private restoreUntilMs = Number.NEGATIVE_INFINITY;
  private lastNowMs = Number.NEGATIVE_INFINITY;
  private last: AbrDecision;
  private closed = false;

  /**
   * @throws {RangeError} on an empty/unsorted ladder, a start bitrate not on it, or an option out
   *   of range (the message names it).
   */
  constructor(options: AdaptiveBitrateOptions = {}) {
    super();
    const ladder = options.ladderBps ?? BITRATE_LADDER_BPS;
    if (ladder.length === 0 || ladder.some((b, i) => i > 0 && b <= ladder[i - 1]!)) {
      throw new RangeError('ladderBps must be a non-empty ascending list of bitrates');
    }
    this.ladder = [...ladder];
    const start = options.startBitrateBps ?? DEFAULT_START_BITRATE_BPS;
    this.step = this.ladder.indexOf(start);
    if (this.step < 0) {
      throw new RangeError(`startBitrateBps must be on the ladder, got ${String(start)}`);
    }
    this.o = {
      upThreshold: options.upThreshold ?? 0.8,
      downThreshold: options.downThreshold ?? 0.4,
      maxUpStepsPerUpdate: options.maxUpStepsPerUpdate ?? 3,
      upConfirmMs: options.upConfirmMs ?? 250,
      downConfirmMs: options.downConfirmMs ?? 250,
      upDwellMs: options.upDwellMs ?? 250,
      downDwellMs: options.downDwellMs ?? 1_000,
      fecOnLossPct: options.fecOnLossPct ?? 1,
      fecOffLossPct: options.fecOffLossPct ?? 0.5,
      maxExpectedLossPct: options.maxExpectedLossPct ?? 30,
      lossHoldMs: options.lossHoldMs ?? 5_000,
      restoreWindowMs: options.restoreWindowMs ?? 30_000,
      frameMs: options.frameMs ?? 10,
    };
    const o = this.o;
    if (!(o.downThreshold >= 0 && o.downThreshold < o.upThreshold && o.upThreshold <= 1)) {
      throw new RangeError('thresholds must satisfy 0 ≤ downThreshold < upThreshold ≤ 1');
    }
    if (!(o.maxUpStepsPerUpdate >= 1 && Number.isInteger(o.maxUpStepsPerUpdate))) {
      throw new RangeError(
        `maxUpStepsPerUpdate must be an integer ≥ 1, got ${String(o.maxUpStepsPerUpdate)}`,
      );
    }
    for (const k of ['upConfirmMs', 'downConfirmMs', 'upDwellMs', 'downDwellMs'] as const) {
      if (!(o[k] >= 0 && Number.isFinite(o[k]))) {
        throw new RangeError(`${k} must be a finite number ≥ 0, got ${String(o[k])}`);
      }
    }
    if (!(o.restoreWindowMs >= 0 && Number.isFinite(o.restoreWindowMs))) {
      throw new RangeError(
        `restoreWindowMs must be a finite number ≥ 0, got ${String(o.restoreWindowMs)}`,
      );
    }
    if (!(o.lossHoldMs >= 0 && Number.isFinite(o.lossHoldMs))) {
      throw new RangeError(`lossHoldMs must be a finite number ≥ 0, got ${String(o.lossHoldMs)}`);
    }
    if (o.frameMs !== 10 && o.frameMs !== 20) {
      throw new RangeError(`frameMs must be 10 or 20, got ${String(o.frameMs)}`);
    }
    if (!(o.fecOffLossPct <= o.fecOnLossPct) || !(o.maxExpectedLossPct >= 0)) {
      throw new RangeError('need fecOffLossPct ≤ fecOnLossPct and maxExpectedLossPct ≥ 0');
    }
    this.last = {
      bitrateBps: this.ladder[this.step]!,
      fec: false,
      expectedLossPct: 0,
      score: 1,
      action: 'hold',
      frameMs: this.frameMsAt(this.ladder[this.step]!),
    };
  }

  /** The latest decision (the start bitrate before any update). */
  get decision(): AbrDecision {
    return this.last;
  }

  /**
   * Feeds one network report and returns the decision; emits `decision`, and `bitrateChanged`
   * when the bitrate moved.
   * @param nowMs time of the report on a monotonic clock, in ms; never decreasing.
   * @throws {RangeError} on a negative or non-finite measurement, or time going backwards.
   * @throws {InvalidStateError} after `close()`.
   */
  update(sample: NetworkSample, nowMs: number): AbrDecision {
    if (this.closed) throw new InvalidStateError('AdaptiveBitrateController is closed');
    for (const k of ['lossPct', 'rttMs', 'jitterMs'] as const) {
      const v = sample[k];
      if (!(Number.isFinite(v) && v >= 0)) {
        throw new RangeError(`${k} must be a finite number ≥ 0, got ${String(v)}`);
      }
    }
    if (!Number.isFinite(nowMs) || nowMs < this.lastNowMs) {
      throw new RangeError(`nowMs must be finite and never decrease, got ${String(nowMs)}`);
    }
    this.lastNowMs = nowMs;
    const o = this.o;
    const score = networkScore(sample);

    // Down is judged on the higher of this report's loss and the mean of the last 2 s of reports:
    // a one-second report of random 5 % loss sees anywhere from 0 to 10 %, and one lucky report
    // must not reset the down confirmation. Up is judged on this report alone, so recovery stays
    // quick.
    const recentDown = this.recentDownLoss;
    while (recentDown.length > 0 && nowMs - recentDown[0]!.atMs > DOWN_LOSS_MEMORY_MS)
      recentDown.shift();
    recentDown.push({ atMs: nowMs, lossPct: sample.lossPct });
    const meanLoss = recentDown.reduce((sum, r) => sum + r.lossPct, 0) / recentDown.length;
    const lossForDown = Math.max(sample.lossPct, meanLoss); // a sudden loss counts at once
    const downScore = networkScore({ ...sample, lossPct: lossForDown });
    const zone: Zone = score > o.upThreshold ? 'up' : downScore < o.downThreshold ? 'down' : 'hold';
    if (zone !== this.zone) {
      this.zone = zone;
      this.zoneSinceMs = nowMs;
    }
    const inZoneMs = nowMs - this.zoneSinceMs;
    const sinceChangeMs = nowMs - this.lastChangeMs;
    const previousStep = this.step;
    let action: AbrAction = 'hold';
    // Rungs earned: one per upDwellMs since the good streak began or the last change.
    const credit = Math.floor(Math.min(inZoneMs, sinceChangeMs) / o.upDwellMs);
    // Below the rung held before a recent descent, a confirmed good zone climbs back at once.
    const restoring = this.step < this.restoreStep && nowMs <= this.restoreUntilMs;
    if (
      zone === 'up' &&
      this.step < this.ladder.length - 1 &&
      inZoneMs >= o.upConfirmMs &&
      (restoring || (sinceChangeMs >= o.upDwellMs && credit >= 1))
    ) {
      const rungs = restoring
        ? Math.min(o.maxUpStepsPerUpdate, this.restoreStep - this.step)
        : Math.min(o.maxUpStepsPerUpdate, credit);
      this.step = Math.min(this.ladder.length - 1, this.step + rungs);
      action = 'up';
    } else if (
      zone === 'down' &&
      this.step > 0 &&
      inZoneMs >= o.downConfirmMs &&
      sinceChangeMs >= o.downDwellMs
    ) {
      // The first step of a descent remembers where it started.
      if (!(this.step < this.restoreStep && nowMs <= this.restoreUntilMs))
        this.restoreStep = this.step;
      this.restoreUntilMs = nowMs + o.restoreWindowMs;
      this.step--;
      action = 'down';
    }

    const lossPct = this.heldLoss(sample.lossPct, nowMs);
    if (lossPct >= o.fecOnLossPct) this.fec = true;
    else if (lossPct < o.fecOffLossPct) this.fec = false;
    const expectedLossPct = Math.min(o.maxExpectedLossPct, Math.ceil(lossPct));

    const bitrateBps = this.ladder[this.step]!;
    const decision: AbrDecision = {
      bitrateBps,
      fec: this.fec,
      expectedLossPct,
      score,
      action,
      frameMs: this.frameMsAt(bitrateBps),
    };
    this.last = decision;
    if (this.step !== previousStep) {
      this.lastChangeMs = nowMs;
      const previousBps = this.ladder[previousStep]!;
      log.debug('bitrate changed', { bitrateBps: decision.bitrateBps, previousBps, score });
      this.safeEmit('bitrateChanged', decision.bitrateBps, previousBps, decision);
    }
    this.safeEmit('decision', decision, sample);
    return decision;
  }

  /** The highest loss of the last `lossHoldMs`, this report's included, in percent. */
  private frameMsAt(bitrateBps: number): 10 | 20 {
    return bitrateBps <= LONG_PACKET_MAX_BITRATE_BPS ? 20 : this.o.frameMs;
  }

  private heldLoss(lossPct: number, nowMs: number): number {
    const recent = this.recentLoss;
    while (recent.length > 0 && nowMs - recent[0]!.atMs > this.o.lossHoldMs) recent.shift();
    recent.push({ atMs: nowMs, lossPct });
    let max = 0;
    for (const r of recent) if (r.lossPct > max) max = r.lossPct;
    return max;
  }

  /** Stops the controller and removes its listeners. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeAllListeners();
  }
}
