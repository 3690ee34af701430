import type { AudioClock } from '@concord/audio-worklet';
import {
  FRAME_SAMPLES,
  SampleRing,
  TAP_PROCESSOR,
  type PlaybackCommand,
  type PlaybackEvent,
  type ProcessorStats,
  type TapProcessorOptions,
} from '@concord/audio-worklet';
import { getLogger } from '../logger.js';
import { AudioPlayoutClock, type PlayoutClock } from '../receive/PlayoutClock.js';
import { audioDiagnostics } from './diagnostics.js';
import type { Placement } from './spatialScene.js';

// Each remote voice may buffer this many 20 ms frames ahead of playback (the jitter buffer in
// front of it decides how many it keeps; this only bounds memory).
const STREAM_RING_FRAMES = 25;

/** A remote WebRTC track playing through the mix (or, without shared memory, beside it). */
interface TrackTap {
  source: MediaStreamAudioSourceNode;
  /** Chromium delivers a remote WebRTC track to Web Audio only while a media element plays it. */
  element: HTMLAudioElement | undefined;
  /** The tap worklet (shared memory) … */
  tap: AudioWorkletNode | undefined;
  /** … or a gain straight to the speakers (no shared memory: outside the mix). */
  gain: GainNode | undefined;
}

/** The slot key of `key`'s WebRTC track (a slot apart from its decoded WebSocket frames). */
const TRACK_SLOT_SUFFIX = '\u0000rtc';
const trackSlotKey = (key: string): string => `${key}${TRACK_SLOT_SUFFIX}`;
const baseKey = (slotKey: string): string =>
  slotKey.endsWith(TRACK_SLOT_SUFFIX) ? slotKey.slice(0, -TRACK_SLOT_SUFFIX.length) : slotKey;

/** What {@link RemotePlayback.attachTrack} needs of the audio engine. */
export interface TrackTapContext {
  context: AudioContext;
  /** Resampler kernel bytes (the context's rate → 48 kHz), when the context is not at 48 kHz. */
  resampler: ArrayBuffer | undefined;
}

/**
 * Remote voices on the playback processor: one slot per participant, decoded 48 kHz PCM in,
 * per-participant volume. Frames go through a shared-memory ring when the page is
 * cross-origin isolated, otherwise as transferred copies over the port. Main thread.
 */
export class RemotePlayback {
  private readonly slots = new Map<
    string,
    { slot: number; ring: SampleRing | undefined; volume: number }
  >();
  private readonly free: number[];
  private readonly taps = new Map<string, TrackTap>();
  /** Where each placed voice is heard from (spatial audio); absent: centred, full level. */
  private readonly placements = new Map<string, Placement>();
  private destroyed = false;
  private readonly log = getLogger('concord:playback');
  /** Latest counters and timing from the audio thread. */
  lastStats: ProcessorStats | undefined;
  /** Per-quantum processing-time histogram accumulated since creation (10 µs bins). */
  readonly timing: number[] = [];

  /**
   * @param clock the playback processor's quantum counter (shared memory only): lets the
   *   receiver run on the audio clock ({@link playoutClock}).
   */
  constructor(
    private readonly worklet: AudioWorkletNode,
    readonly maxStreams: number,
    private readonly shared: boolean,
    private readonly clock?: AudioClock,
    private readonly tapContext?: TrackTapContext,
  ) {
    this.free = Array.from({ length: maxStreams }, (_, i) => maxStreams - 1 - i);
    audioDiagnostics.workletNodes++;
    worklet.port.addEventListener('message', (e: MessageEvent<PlaybackEvent>) => {
      if (e.data.type === 'stats') {
        this.lastStats = e.data;
        e.data.timingHistogram.forEach((n, i) => (this.timing[i] = (this.timing[i] ?? 0) + n));
      } else if (e.data.type === 'error')
        this.log.error('playback processor error', { message: e.data.message });
    });
  }

  /**
   * The playback processor's node (its output is the mix of every remote voice, before the
   * destination). For taps and analysis only, e.g. connecting an `AnalyserNode`; do not
   * disconnect it or post to its port. Main thread.
   */
  get node(): AudioWorkletNode {
    return this.worklet;
  }

  /** Participants with a slot. */
  get attached(): string[] {
    return [...this.slots.keys()].filter((k) => !k.endsWith(TRACK_SLOT_SUFFIX));
  }

  /**
   * Gives `key` (a user id) a mixer slot; idempotent. Returns false when every slot is taken.
   */
  attach(key: string): boolean {
    if (this.destroyed) return false;
    if (this.slots.has(key)) return true;
    const slot = this.free.pop();
    if (slot === undefined) return false;
    const ring = this.shared
      ? SampleRing.allocate(STREAM_RING_FRAMES * FRAME_SAMPLES, true)
      : undefined;
    this.slots.set(key, { slot, ring, volume: this.slots.get(baseKey(key))?.volume ?? 1 });
    this.post({ type: 'setStream', slot, ring: ring?.handle });
    this.applySlot(key);
    return true;
  }

  /**
   * Switches the playback processor between the mono mix (`mono`, the default: every voice
   * centred, the same signal on both channels) and `binaural` rendering for headphones (each
   * placed voice heard from its direction). Main thread; applied at the next mix.
   */
  setRenderMode(mode: 'mono' | 'binaural'): void {
    this.post({ type: 'setRenderMode', mode });
  }

  /**
   * Places `key`'s voice (spatial audio): its direction (binaural mode) and proximity gain (both
   * modes; multiplied with its volume). `undefined` puts it back in the centre at full level.
   * Remembered for a voice that has no slot yet. Main thread.
   */
  setPlacement(key: string, placement: Placement | undefined): void {
    if (this.destroyed) return;
    if (placement) this.placements.set(key, placement);
    else this.placements.delete(key);
    if (this.slots.has(key)) this.applySlot(key);
    if (this.slots.has(trackSlotKey(key))) this.applySlot(trackSlotKey(key));
    const t = this.taps.get(key);
    if (t?.gain) t.gain.gain.value = this.effectiveGain(key);
  }

  /** `key`'s placement, if it has one. */
  placementOf(key: string): Placement | undefined {
    return this.placements.get(key);
  }

  /** Volume × proximity gain of `key` (a user id). */
  private effectiveGain(key: string): number {
    const volume = this.slots.get(key)?.volume ?? 1;
    return volume * (this.placements.get(key)?.gain ?? 1);
  }

  /** Posts the gain (and unless `gainOnly`, the direction) of the slot `slotKey`. */
  private applySlot(slotKey: string, gainOnly = false): void {
    const s = this.slots.get(slotKey);
    if (!s) return;
    const key = baseKey(slotKey);
    const placement = this.placements.get(key);
    this.post({
      type: 'setGain',
      slot: s.slot,
      gain: Math.min(2, s.volume * (placement?.gain ?? 1)),
    });
    if (gainOnly) return;
    if (placement)
      this.post({
        type: 'setDirection',
        slot: s.slot,
        azimuthRad: placement.azimuthRad,
        elevationRad: placement.elevationRad,
      });
    else this.post({ type: 'clearDirection', slot: s.slot });
  }

  /**
   * Plays a remote WebRTC track (a consumer's) as `key`'s voice. With shared memory it goes
   * through the same mix as decoded voices — volume, limiter, the echo canceller's reference,
   * the output device — via a tap worklet that resamples it to 48 kHz into the voice's ring.
   * Without shared memory it plays beside the mix (volume still applies; the echo canceller does
   * not hear it). Returns false when no slot is free. Main thread.
   */
  attachTrack(key: string, track: MediaStreamTrack): boolean {
    const ctx = this.tapContext;
    if (this.destroyed || !ctx) return false;
    this.detachTrack(key);
    const stream = new MediaStream([track]);
    const doc = (globalThis as { document?: Document }).document;
    let element: HTMLAudioElement | undefined;
    if (doc) {
      element = doc.createElement('audio');
      element.muted = true;
      element.srcObject = stream;
      void element.play().catch(() => undefined);
    }
    const source = ctx.context.createMediaStreamSource(stream);
    if (this.shared) {
      // A slot of its own: the WebSocket receiver may still conceal the same participant's
      // last frames into the other for a moment, and the two must not share a ring.
      const slotKey = trackSlotKey(key);
      if (!this.attach(slotKey)) return false;
      const slot = this.slots.get(slotKey)!;
      const ring = slot.ring!;
      const processorOptions: TapProcessorOptions = {
        ring: ring.handle,
        ...(ctx.resampler ? { resampler: ctx.resampler.slice(0) } : {}),
      };
      const tap = new AudioWorkletNode(ctx.context, TAP_PROCESSOR, {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        channelCount: 1,
        channelCountMode: 'explicit',
        processorOptions,
      });
      tap.port.onmessage = (e: MessageEvent<{ type: string; message?: string }>) => {
        if (e.data.type === 'error')
          this.log.error('tap processor error', { message: e.data.message });
      };
      audioDiagnostics.workletNodes++;
      source.connect(tap);
      this.taps.set(key, { source, element, tap, gain: undefined });
    } else {
      // Outside the mix: proximity applies, the direction does not.
      const gain = ctx.context.createGain();
      gain.gain.value = this.effectiveGain(key);
      source.connect(gain);
      gain.connect(ctx.context.destination);
      this.taps.set(key, { source, element, tap: undefined, gain });
    }
    return true;
  }

  /** Stops playing `key`'s WebRTC track (idempotent); its slot stays for decoded frames. */
  detachTrack(key: string): void {
    const t = this.taps.get(key);
    if (!t) return;
    this.taps.delete(key);
    t.source.disconnect();
    if (t.tap) {
      t.tap.port.postMessage({ type: 'destroy' });
      t.tap.port.close();
      audioDiagnostics.workletNodes--;
    }
    t.gain?.disconnect();
    if (t.element) {
      t.element.pause();
      t.element.srcObject = null;
    }
    if (t.tap) this.detach(trackSlotKey(key));
  }

  /** Whether `key` plays a WebRTC track. */
  hasTrack(key: string): boolean {
    return this.taps.has(key);
  }

  /** Releases `key`'s slot (idempotent). */
  detach(key: string): void {
    this.detachTrack(key);
    const s = this.slots.get(key);
    if (!s) return;
    this.slots.delete(key);
    this.post({ type: 'setStream', slot: s.slot, ring: undefined });
    this.free.push(s.slot);
  }

  /**
   * Queues one decoded frame (1–960 samples at 48 kHz: 480, 10 ms, from the receiver) for `key`
   * (attached on first use). Returns false when the frame was dropped (no slot, or the voice's
   * buffer is full).
   * @throws {RangeError} when `samples` is empty or holds more than 960 samples.
   */
  pushFrame(key: string, samples: Float32Array): boolean {
    const n = samples.length;
    if (n < 1 || n > FRAME_SAMPLES)
      throw new RangeError(`samples must hold 1–${FRAME_SAMPLES} samples, got ${n}`);
    if (!this.attach(key)) return false;
    const s = this.slots.get(key)!;
    if (s.ring) {
      // Whole frames or nothing: the audio thread drains per quantum, so free space is not a
      // multiple of a frame, and a partial write would cut the voice mid-frame.
      if (s.ring.availableWrite < n) return false;
      return s.ring.push(samples) === n;
    }
    const copy = samples.slice();
    this.post({ type: 'push', slot: s.slot, samples: copy }, [copy.buffer]);
    return true;
  }

  /**
   * Whole 20 ms frames' worth of samples queued for `key` that the audio thread has not played
   * yet (shared-memory path); 0 for an unknown key, and 0 without shared memory.
   */
  bufferedFrames(key: string): number {
    return Math.floor((this.bufferedSamples(key) ?? 0) / FRAME_SAMPLES);
  }

  /**
   * Samples (48 kHz) queued for `key` and not played yet: 0 for a voice without a slot yet,
   * undefined without shared memory (frames then cross to the audio thread as messages and the
   * queue cannot be read). Main thread.
   */
  bufferedSamples(key: string): number | undefined {
    if (!this.shared) return undefined;
    return this.slots.get(key)?.ring?.availableRead ?? 0;
  }

  /**
   * A clock ticking with the playback processor's render quanta, when this page has shared
   * memory and `Atomics.waitAsync`; undefined otherwise (the receiver then uses a timer).
   */
  playoutClock(): PlayoutClock | undefined {
    if (this.destroyed || !this.clock || !AudioPlayoutClock.supported(this.clock)) return undefined;
    return new AudioPlayoutClock(this.clock);
  }

  /**
   * Sets `key`'s playback volume: 0 (silent) to 2 (+6 dB), 1 by default.
   * @throws {RangeError} for a volume outside [0, 2].
   */
  setVolume(key: string, volume: number): void {
    if (!(volume >= 0 && volume <= 2))
      throw new RangeError(`volume must be in [0, 2], got ${volume}`);
    if (!this.attach(key)) return;
    const s = this.slots.get(key)!;
    s.volume = volume;
    this.applySlot(key, true);
    const t = this.taps.get(key);
    if (t?.gain) t.gain.gain.value = this.effectiveGain(key);
    const trackSlot = this.slots.get(trackSlotKey(key));
    if (trackSlot) {
      trackSlot.volume = volume;
      this.applySlot(trackSlotKey(key), true);
    }
  }

  /** `key`'s volume (1 when never set). */
  volumeOf(key: string): number {
    return this.slots.get(key)?.volume ?? 1;
  }

  /** Stops the processor and releases the node (idempotent). */
  destroy(): void {
    if (this.destroyed) return;
    for (const key of [...this.taps.keys()]) this.detachTrack(key);
    this.destroyed = true;
    this.post({ type: 'destroy' });
    this.worklet.disconnect();
    this.worklet.port.close();
    audioDiagnostics.workletNodes--;
    this.slots.clear();
    this.placements.clear();
  }

  private post(cmd: PlaybackCommand, transfer: Transferable[] = []): void {
    if (!this.destroyed || cmd.type === 'destroy') this.worklet.port.postMessage(cmd, transfer);
  }
}
