import { FRAME_FLAG_SPEAKING, FRAME_SAMPLES } from '@concord/audio-worklet';
import { Resampler, SAMPLE_RATE_HZ } from '@concord/wasm-dsp';
import type { CapturedFrame } from '../media/LocalAudio.js';
import { InvalidStateError } from '../errors.js';
import type { FrameSource } from '../send/VoiceSender.js';
import { TypedEmitter } from '../TypedEmitter.js';

/** Frame duration, ms (the SDK's 20 ms frames: 960 samples at 48 kHz). */
const FRAME_MS = 20;
/**
 * Default voice activity threshold, dBFS: an RMS level above it is speech. Speech recorded for
 * a call sits around −30 to −20 dBFS active level (ITU-T P.56 measured), digital silence and
 * quiet rooms below −60; −45 keeps breath noise out.
 */
export const DEFAULT_VOICE_ACTIVITY_DBFS = -45;
/** A source more than this far behind its clock skips ahead instead of bursting frames, ms. */
const MAX_CATCH_UP_MS = 200;

/** Options of a {@link PcmSource}. */
export interface PcmSourceOptions {
  /** RMS level above which a frame counts as voice activity, dBFS (default −45, range −100–0). */
  voiceActivityDbfs?: number;
  /** Clock (tests): milliseconds, monotonic. Default `performance.now`. */
  now?: () => number;
}

/** Events of a {@link PcmSource}. */
export type PcmSourceEvents = {
  /**
   * Voice activity of the frames being sent changed (level above the threshold or not), per
   * frame without hangover: feed it to a {@link SpeakingHangover} that calls `room.setSpeaking`.
   */
  voiceActivity: [active: boolean];
  /** Everything queued has been sent; the source sends silence until more is queued. */
  drained: [];
};

/**
 * Audio a Node app sends: PCM or WAV files queued with {@link play}, sent as the SDK's 20 ms
 * frames (960 samples, 48 kHz mono) on a drift-free 20 ms clock, silence in between (which the
 * sender turns into DTX, so an idle bot sends next to nothing). Each frame carries its level and
 * the speaking flag from an energy voice-activity decision. Pass it as
 * `new VoiceClient({ media: { frameSource } })`. Node main thread; allocates only when audio is
 * queued.
 *
 * ```ts
 * const source = new PcmSource();
 * const client = new VoiceClient({ url, token, WebSocket, media: { frameSource: source } });
 * source.start();
 * source.play(await readWavFile('hello.wav'));
 * ```
 */
export class PcmSource extends TypedEmitter<PcmSourceEvents> implements FrameSource {
  private readonly frameListeners = new Set<(frame: CapturedFrame) => void>();
  private readonly queue: Float32Array[] = [];
  private offset = 0;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextMs = 0;
  private active = false;
  private closed = false;
  private readonly thresholdDbfs: number;
  private readonly now: () => number;
  private readonly frame = new Float32Array(FRAME_SAMPLES);

  /** @throws {RangeError} for a `voiceActivityDbfs` outside [−100, 0]. */
  constructor(options: PcmSourceOptions = {}) {
    super();
    const t = options.voiceActivityDbfs ?? DEFAULT_VOICE_ACTIVITY_DBFS;
    if (!(t >= -100 && t <= 0))
      throw new RangeError(`voiceActivityDbfs must be in [-100, 0] dBFS, got ${String(t)}`);
    this.thresholdDbfs = t;
    this.now = options.now ?? (() => performance.now());
  }

  /** {@link FrameSource}: subscribes to every frame; returns an unsubscribe function. */
  onFrame(listener: (frame: CapturedFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Samples queued and not sent yet (48 kHz). */
  get queuedSamples(): number {
    return this.queue.reduce((n, q) => n + q.length, 0) - this.offset;
  }

  /** Whether the frames being sent now carry voice activity. */
  get voiceActive(): boolean {
    return this.active;
  }

  /**
   * Queues mono samples in [−1, 1] at 48 kHz behind what is queued (use
   * {@link resampleTo48k} or {@link readWavFile} for other rates). The array is kept, not copied.
   * @throws {TypeError} for anything but a Float32Array. @throws {InvalidStateError} after close.
   */
  play(samples48k: Float32Array): void {
    if (this.closed) throw new InvalidStateError('PcmSource is closed');
    if (!(samples48k instanceof Float32Array))
      throw new TypeError('samples48k must be a Float32Array of 48 kHz mono samples');
    if (samples48k.length > 0) this.queue.push(samples48k);
  }

  /** Drops everything queued (the next frame is silence). */
  clear(): void {
    this.queue.length = 0;
    this.offset = 0;
  }

  /** Starts the 20 ms clock (idempotent). @throws {InvalidStateError} after close. */
  start(): void {
    if (this.closed) throw new InvalidStateError('PcmSource is closed');
    if (this.timer !== undefined) return;
    this.nextMs = this.now();
    this.tick();
  }

  /** Stops the clock; queued audio stays (idempotent). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.setActive(false);
  }

  /** Stops and drops the queue; afterwards `play`/`start` throw (idempotent). */
  close(): void {
    this.stop();
    this.clear();
    this.closed = true;
  }

  /**
   * Produces the next frame now, without the clock (tests, or an app driving its own clock).
   * @returns the frame handed to the listeners (valid only until the next call).
   */
  pull(): CapturedFrame {
    const frame = this.frame;
    let filled = 0;
    const hadAudio = this.queue.length > 0;
    while (filled < FRAME_SAMPLES && this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = Math.min(FRAME_SAMPLES - filled, head.length - this.offset);
      frame.set(head.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      if (this.offset >= head.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    frame.fill(0, filled);
    let energy = 0;
    for (let i = 0; i < FRAME_SAMPLES; i++) energy += frame[i]! * frame[i]!;
    const rms = Math.sqrt(energy / FRAME_SAMPLES);
    const levelDbfs = rms > 0 ? 20 * Math.log10(rms) : -120;
    const active = levelDbfs > this.thresholdDbfs;
    const captured: CapturedFrame = {
      samples: frame,
      meta: {
        seq: this.seq++,
        levelDbfs,
        speechProbability: active ? 1 : 0,
        flags: active ? FRAME_FLAG_SPEAKING : 0,
      },
    };
    for (const l of this.frameListeners) l(captured);
    this.setActive(active);
    if (hadAudio && this.queue.length === 0) this.safeEmit('drained');
    return captured;
  }

  // Drift-free clock: the deadline advances by exactly 20 ms per frame and each wait is measured
  // against it (the pattern of discord.js voice's audio player), so timer lateness never
  // accumulates. Far behind (a stalled event loop) it skips ahead instead of bursting.
  private tick(): void {
    const now = this.now();
    if (now - this.nextMs > MAX_CATCH_UP_MS) this.nextMs = now;
    while (this.nextMs <= now) {
      this.pull();
      this.nextMs += FRAME_MS;
    }
    this.timer = setTimeout(() => this.tick(), Math.max(1, this.nextMs - this.now()));
  }

  private setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.safeEmit('voiceActivity', active);
  }
}

/**
 * Converts mono samples at `sampleRateHz` to 48 kHz with Concord's polyphase resampler (the
 * WASM kernel; async because it compiles the kernel once per process). Returns the input itself
 * at 48 kHz. Node main thread; allocates.
 * @throws {RangeError} for a rate outside [8000, 192000] Hz.
 */
export async function resampleTo48k(
  samples: Float32Array,
  sampleRateHz: number,
): Promise<Float32Array> {
  if (!(Number.isInteger(sampleRateHz) && sampleRateHz >= 8_000 && sampleRateHz <= 192_000))
    throw new RangeError(`sampleRateHz must be an integer in [8000, 192000], got ${sampleRateHz}`);
  if (sampleRateHz === SAMPLE_RATE_HZ) return samples;
  const resampler = await Resampler.create({ inRateHz: sampleRateHz, outRateHz: SAMPLE_RATE_HZ });
  try {
    return resampler.processSignal(samples);
  } finally {
    resampler.destroy();
  }
}
