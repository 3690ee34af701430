import {
  SPEAKER_HYSTERESIS_DB,
  SPEAKER_MIN_HOLD_MS,
  SPEECH_HANGOVER_MS,
} from '../SpeakerSelector.js';

/** Settings of a {@link TopNSelector}. */
export interface TopNOptions {
  /** Streams forwarded at once (default 3). */
  maxSpeakers: number;
  /** Margin (dB) by which a challenger must beat the quietest selected stream (default 6). */
  hysteresisDb: number;
  /** A stream that spoke within `hangoverMs` keeps a slot it took this recently (ms, 600). */
  minHoldMs: number;
  /** How recent speech must be for the hold to protect a slot (ms, default 300). */
  hangoverMs: number;
  /** Level (dBov, −127…0) at or above which a stream counts as speaking (default −50). */
  speakingThresholdDbov: number;
}

/** Defaults: the WebSocket relay's speaker selection constants (SpeakerSelector.ts). */
export const DEFAULT_TOP_N_OPTIONS: Readonly<TopNOptions> = Object.freeze({
  maxSpeakers: 3,
  hysteresisDb: SPEAKER_HYSTERESIS_DB,
  minHoldMs: SPEAKER_MIN_HOLD_MS,
  hangoverMs: SPEECH_HANGOVER_MS,
  speakingThresholdDbov: -50,
});

/** Changes made by one call of a {@link TopNSelector}. */
export interface TopNChange<K> {
  /** Streams that took a slot. */
  selected: K[];
  /** Streams that lost theirs. */
  deselected: K[];
}

interface Entry<K> {
  readonly key: K;
  /** Smoothed loudness in dB above −127 dBov (0 = silence). */
  loudnessDb: number;
  lastSpeechAt: number;
  /** When it took its slot; −1 when it holds none. */
  slotSince: number;
}

/** Report smoothing: a louder report counts at once, a quieter one halves the distance. */
const RELEASE = 0.5;

/**
 * Top-N speaker selection for one SFU room, from periodic level reports (mediasoup's audio level
 * observer: the average dBov of each stream over the interval). Slots are filled as long as
 * streams wait for one (a room with at most N streams forwards all of them); when all are taken,
 * the loudest waiting stream replaces the quietest selected one only if it is louder by
 * `hysteresisDb` and that one is not protected (it spoke within `hangoverMs` and took its slot
 * less than `minHoldMs` ago) — the rules of the WebSocket relay's SpeakerSelector, applied per
 * report instead of per frame. A stream missing from a report counts as silent for it. Pure
 * logic on the caller's clock; main thread.
 */
export class TopNSelector<K> {
  readonly options: TopNOptions;
  private readonly entries = new Map<K, Entry<K>>();
  private readonly slots: Entry<K>[] = [];

  /** @throws {RangeError} for a `maxSpeakers` that is not a positive integer or bad margins. */
  constructor(options: Partial<TopNOptions> = {}) {
    const o = { ...DEFAULT_TOP_N_OPTIONS, ...options };
    if (!Number.isInteger(o.maxSpeakers) || o.maxSpeakers < 1)
      throw new RangeError(`maxSpeakers must be a positive integer, got ${o.maxSpeakers}`);
    for (const name of ['hysteresisDb', 'minHoldMs', 'hangoverMs'] as const)
      if (!(o[name] >= 0)) throw new RangeError(`${name} must be ≥ 0, got ${o[name]}`);
    if (!(o.speakingThresholdDbov >= -127 && o.speakingThresholdDbov <= 0))
      throw new RangeError(
        `speakingThresholdDbov must be in [-127, 0], got ${o.speakingThresholdDbov}`,
      );
    this.options = o;
  }

  /** Streams holding a slot, in the order they took it. */
  get selected(): K[] {
    return this.slots.map((e) => e.key);
  }

  /** Whether `key` holds a slot. */
  isSelected(key: K): boolean {
    return (this.entries.get(key)?.slotSince ?? -1) >= 0;
  }

  /** Whether `key` is known. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Smoothed loudness of `key` in dB above −127 dBov (0 when silent or unknown). */
  loudnessDb(key: K): number {
    return this.entries.get(key)?.loudnessDb ?? 0;
  }

  /** Adds a stream at `nowMs`; it takes a free slot if there is one. Idempotent. */
  add(key: K, nowMs: number): TopNChange<K> {
    const change: TopNChange<K> = { selected: [], deselected: [] };
    if (this.entries.has(key)) return change;
    this.entries.set(key, {
      key,
      loudnessDb: 0,
      lastSpeechAt: Number.NEGATIVE_INFINITY,
      slotSince: -1,
    });
    this.rebalance(nowMs, change);
    return change;
  }

  /** Removes a stream; its slot goes to the loudest waiting stream. Idempotent. */
  remove(key: K, nowMs: number): TopNChange<K> {
    const change: TopNChange<K> = { selected: [], deselected: [] };
    const e = this.entries.get(key);
    if (!e) return change;
    this.entries.delete(key);
    if (e.slotSince >= 0) this.release(e);
    this.rebalance(nowMs, change);
    return change;
  }

  /**
   * Accounts one level report at `nowMs`: `levels` maps streams to their average level in dBov
   * (−127…0); streams not in it were silent. Returns the slots that changed hands.
   */
  update(levels: ReadonlyMap<K, number>, nowMs: number): TopNChange<K> {
    const threshold = this.options.speakingThresholdDbov;
    for (const e of this.entries.values()) {
      const dbov = levels.get(e.key);
      const target = dbov === undefined ? 0 : Math.max(0, Math.min(127, 127 + dbov));
      e.loudnessDb =
        target >= e.loudnessDb ? target : e.loudnessDb + RELEASE * (target - e.loudnessDb);
      if (dbov !== undefined && dbov >= threshold) e.lastSpeechAt = nowMs;
    }
    const change: TopNChange<K> = { selected: [], deselected: [] };
    this.rebalance(nowMs, change);
    return change;
  }

  /** Whether `key` spoke (a level at or above the threshold) within the hangover at `nowMs`. */
  isSpeaking(key: K, nowMs: number): boolean {
    const e = this.entries.get(key);
    return e !== undefined && nowMs - e.lastSpeechAt <= this.options.hangoverMs;
  }

  private rebalance(nowMs: number, change: TopNChange<K>): void {
    const { maxSpeakers, hysteresisDb, minHoldMs, hangoverMs } = this.options;
    // Each pass moves one slot; at most one pass per stream plus one per slot is ever needed.
    for (let guard = this.entries.size + maxSpeakers; guard > 0; guard--) {
      const challenger = this.loudestWaiting();
      if (!challenger) return;
      if (this.slots.length < maxSpeakers) {
        this.take(challenger, nowMs, change);
        continue;
      }
      let weakest = this.slots[0]!;
      for (const s of this.slots) if (s.loudnessDb < weakest.loudnessDb) weakest = s;
      const protectedSlot =
        nowMs - weakest.lastSpeechAt <= hangoverMs && nowMs - weakest.slotSince < minHoldMs;
      if (protectedSlot || challenger.loudnessDb <= weakest.loudnessDb + hysteresisDb) return;
      this.release(weakest);
      change.deselected.push(weakest.key);
      this.take(challenger, nowMs, change);
    }
  }

  private loudestWaiting(): Entry<K> | undefined {
    let best: Entry<K> | undefined;
    for (const e of this.entries.values()) {
      if (e.slotSince >= 0) continue;
      if (!best || e.loudnessDb > best.loudnessDb) best = e; // Map order = arrival order
    }
    return best;
  }

  private take(e: Entry<K>, nowMs: number, change: TopNChange<K>): void {
    e.slotSince = nowMs;
    this.slots.push(e);
    // A stream that lost its slot and won it back in one call changed nothing.
    const i = change.deselected.indexOf(e.key);
    if (i >= 0) change.deselected.splice(i, 1);
    else change.selected.push(e.key);
  }

  private release(e: Entry<K>): void {
    e.slotSince = -1;
    const i = this.slots.indexOf(e);
    if (i >= 0) this.slots.splice(i, 1);
  }
}
