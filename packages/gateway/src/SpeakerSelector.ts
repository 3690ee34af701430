import { MAX_AUDIO_LEVEL, MediaFlags } from '@concord/protocol';

/** Margin by which a challenger must be louder than the quietest speaker to take its slot. */
export const SPEAKER_HYSTERESIS_DB = 6;
/** A speaker who spoke recently keeps its slot at least this long (no flapping on near-ties). */
export const SPEAKER_MIN_HOLD_MS = 600;
/** How recent the last speech frame must be for a speaker's slot to be protected. */
export const SPEECH_HANGOVER_MS = 300;
/** A speaker with no frame for this long loses its slot to anyone. */
export const SPEAKER_STALE_MS = 1_000;
/** Level decay between frames, past one frame gap: DTX senders send every 400 ms at most. */
const DECAY_DB_PER_MS = 0.1;
const FRAME_GAP_GRACE_MS = 60;
/**
 * Exponential smoothing per 20 ms of audio: fast attack, slow release (~200 ms). A packet of
 * another duration is weighted by it, so 10 ms packets smooth over the same time:
 * α(d) = 1 − (1 − α₂₀)^(d / 20 ms).
 */
const ATTACK_20MS = 0.5;
const RELEASE_20MS = 0.1;
const ATTACK_10MS = 1 - Math.sqrt(1 - ATTACK_20MS);
const RELEASE_10MS = 1 - Math.sqrt(1 - RELEASE_20MS);

/** Per-stream state the selector keeps; one per room membership (see {@link newSpeakerState}). */
export interface SpeakerState {
  /** Smoothed loudness in dB above −127 dBov (0 = silence, 127 = full scale). */
  loudnessDb: number;
  /** Arrival time of the last frame (ms, the selector's clock). */
  lastFrameAt: number;
  /** Arrival time of the last speech frame. */
  lastSpeechAt: number;
  /** When the stream took its slot; −1 when it holds none. */
  slotSince: number;
}

/** The state of a stream that has sent nothing yet. */
export function newSpeakerState(): SpeakerState {
  return {
    loudnessDb: 0,
    lastFrameAt: Number.NEGATIVE_INFINITY,
    lastSpeechAt: Number.NEGATIVE_INFINITY,
    slotSince: -1,
  };
}

/** Loudness of `s` at `nowMs`, decayed over a gap in the stream. */
function scoreAt(s: SpeakerState, nowMs: number): number {
  const gap = nowMs - s.lastFrameAt - FRAME_GAP_GRACE_MS;
  return gap > 0 ? Math.max(0, s.loudnessDb - gap * DECAY_DB_PER_MS) : s.loudnessDb;
}

/**
 * Selective forwarding for one room: at most `maxSpeakers` streams are forwarded at a time,
 * chosen by recent audio level (the RFC 6464 level byte, smoothed). A free slot goes to the
 * first stream that sends; a full set changes only when a challenger is louder than the
 * quietest speaker by {@link SPEAKER_HYSTERESIS_DB} and that speaker is not protected (it
 * spoke within {@link SPEECH_HANGOVER_MS} and has held its slot less than
 * {@link SPEAKER_MIN_HOLD_MS}), or when that speaker went quiet for {@link SPEAKER_STALE_MS}.
 * Frames without speech, or flagged DTX, pull the level towards silence. Main thread; no
 * allocation per frame.
 */
export class SpeakerSelector {
  private readonly slots: SpeakerState[] = [];

  /** @throws {RangeError} unless `maxSpeakers` is a positive integer. */
  constructor(readonly maxSpeakers: number) {
    if (!Number.isInteger(maxSpeakers) || maxSpeakers < 1)
      throw new RangeError(`maxSpeakers must be a positive integer, got ${maxSpeakers}`);
  }

  /** The streams currently forwarded. */
  get speakers(): readonly SpeakerState[] {
    return this.slots;
  }

  /**
   * Accounts one frame of `stream` (its `flags` and `level` bytes, and its duration: 10 ms or
   * 20 ms, other values count as 20) arriving at `nowMs`, and decides whether it is forwarded.
   */
  onFrame(
    stream: SpeakerState,
    flags: number,
    level: number,
    nowMs: number,
    frameMs = 20,
  ): boolean {
    const speech = (flags & (MediaFlags.Speech | MediaFlags.Dtx)) === MediaFlags.Speech;
    const target = speech ? MAX_AUDIO_LEVEL - level : 0;
    if (stream.lastFrameAt === Number.NEGATIVE_INFINITY) stream.loudnessDb = target;
    else {
      const current = scoreAt(stream, nowMs);
      const short = frameMs === 10;
      const alpha =
        target > current
          ? short
            ? ATTACK_10MS
            : ATTACK_20MS
          : short
            ? RELEASE_10MS
            : RELEASE_20MS;
      stream.loudnessDb = current + alpha * (target - current);
    }
    stream.lastFrameAt = nowMs;
    if (speech) stream.lastSpeechAt = nowMs;

    if (stream.slotSince >= 0) return true;
    if (this.slots.length < this.maxSpeakers) {
      this.take(stream, nowMs);
      return true;
    }
    let weakest = this.slots[0]!;
    let weakestScore = scoreAt(weakest, nowMs);
    for (let i = 1; i < this.slots.length; i++) {
      const score = scoreAt(this.slots[i]!, nowMs);
      if (score < weakestScore) {
        weakest = this.slots[i]!;
        weakestScore = score;
      }
    }
    const stale = nowMs - weakest.lastFrameAt > SPEAKER_STALE_MS;
    const protectedSlot =
      nowMs - weakest.lastSpeechAt <= SPEECH_HANGOVER_MS &&
      nowMs - weakest.slotSince < SPEAKER_MIN_HOLD_MS;
    if (stale || (!protectedSlot && stream.loudnessDb > weakestScore + SPEAKER_HYSTERESIS_DB)) {
      this.release(weakest);
      this.take(stream, nowMs);
      return true;
    }
    return false;
  }

  /** Frees the slot of a stream that left the room. */
  remove(stream: SpeakerState): void {
    if (stream.slotSince >= 0) this.release(stream);
  }

  private take(stream: SpeakerState, nowMs: number): void {
    stream.slotSince = nowMs;
    this.slots.push(stream);
  }

  private release(stream: SpeakerState): void {
    stream.slotSince = -1;
    const i = this.slots.indexOf(stream);
    if (i >= 0) this.slots.splice(i, 1);
  }
}
