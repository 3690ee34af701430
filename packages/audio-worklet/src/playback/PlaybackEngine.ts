import type { Mixer, Resampler } from '@concord/wasm-dsp';
import { FRAME_SAMPLES, RENDER_QUANTUM_FRAMES, SAMPLE_RATE_HZ } from '../shared/constants.js';
import { SampleRing } from '../shared/SampleRing.js';

/** Parts of a {@link PlaybackEngine}. */
export interface PlaybackEngineOptions {
  /** Sample rate of the AudioContext, in Hz. */
  contextRateHz: number;
  /** The SIMD mixer with limiter (48 kHz, 960-sample frames). */
  mixer: Mixer;
  /** 48 kHz → context rate; required when the context does not run at 48 kHz. */
  resampleOut?: Resampler;
  /** Receives the 48 kHz mix: the echo canceller's far-end reference. */
  reference?: SampleRing;
}

/** Counters of a {@link PlaybackEngine}. */
export interface PlaybackStats {
  /** Render quanta produced. */
  quanta: number;
  /** 20 ms mixes produced. */
  mixes: number;
  /** Times an attached stream had no frame ready when a mix needed one. */
  streamUnderruns: number;
  /** Reference samples dropped because the capture side did not read them. */
  referenceOverruns: number;
}

/**
 * The playback processor's logic without the Web Audio shell: one 48 kHz PCM ring per remote
 * participant (fed with decoded 20 ms frames), per-participant gain, SIMD mix + limiter, the mix
 * to the speakers at the context rate and to the echo canceller as its reference. Audio thread;
 * `processQuantum` allocates nothing.
 */
export class PlaybackEngine {
  /** Counters since creation. */
  readonly stats: PlaybackStats = { quanta: 0, mixes: 0, streamUnderruns: 0, referenceOverruns: 0 };
  private readonly streams: Array<SampleRing | undefined>;
  private readonly out: SampleRing;
  private highest = 0;

  /** @throws {RangeError} when the context rate needs a resampler that was not given. */
  constructor(private readonly options: PlaybackEngineOptions) {
    if (options.contextRateHz !== SAMPLE_RATE_HZ && !options.resampleOut) {
      throw new RangeError(
        `a ${options.contextRateHz} Hz context needs resampleOut (from ${SAMPLE_RATE_HZ} Hz)`,
      );
    }
    this.streams = new Array<SampleRing | undefined>(options.mixer.maxStreams).fill(undefined);
    this.out = SampleRing.allocate(4 * FRAME_SAMPLES, false);
  }

  /** Most streams at once. */
  get maxStreams(): number {
    return this.streams.length;
  }

  /**
   * Attaches (or with `undefined`, detaches) the PCM ring of slot `slot`.
   * @throws {RangeError} for a slot outside [0, maxStreams).
   */
  setStream(slot: number, ring: SampleRing | undefined): void {
    this.checkSlot(slot);
    this.streams[slot] = ring;
    if (!ring) this.options.mixer.input(slot).fill(0);
    let h = 0;
    for (let i = 0; i < this.streams.length; i++) if (this.streams[i]) h = i + 1;
    this.highest = h;
  }

  /**
   * Sets the linear gain of slot `slot` (0–2; ramped across the next frame by the mixer).
   * @throws {RangeError} for a bad slot or gain.
   */
  setGain(slot: number, gain: number): void {
    this.checkSlot(slot);
    if (!(gain >= 0 && gain <= 2)) throw new RangeError(`gain must be in [0, 2], got ${gain}`);
    this.options.mixer.gains[slot] = gain;
  }

  /** Fills every output channel with the next render quantum of the mix. No allocation. */
  processQuantum(channels: readonly Float32Array[]): void {
    const first = channels[0];
    const n = first?.length ?? RENDER_QUANTUM_FRAMES;
    this.stats.quanta++;
    while (this.out.availableRead < n) this.mixFrame();
    if (!first) {
      this.out.skip(n);
      return;
    }
    this.out.pull(first, 0, n);
    for (let c = 1; c < channels.length; c++) channels[c]!.set(first);
  }

  private mixFrame(): void {
    const { mixer, resampleOut, reference } = this.options;
    for (let slot = 0; slot < this.highest; slot++) {
      const ring = this.streams[slot];
      const input = mixer.input(slot);
      if (ring && ring.availableRead >= FRAME_SAMPLES) ring.pull(input, 0, FRAME_SAMPLES);
      else {
        input.fill(0);
        if (ring) this.stats.streamUnderruns++;
      }
    }
    const mix = mixer.process(this.highest);
    this.stats.mixes++;
    if (reference) {
      const written = reference.push(mix, 0, FRAME_SAMPLES);
      if (written < FRAME_SAMPLES) this.stats.referenceOverruns++;
    }
    if (resampleOut) {
      resampleOut.input.set(mix);
      this.out.push(resampleOut.output, 0, resampleOut.process(FRAME_SAMPLES));
    } else this.out.push(mix, 0, FRAME_SAMPLES);
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.streams.length) {
      throw new RangeError(`slot must be an integer in [0, ${this.streams.length}), got ${slot}`);
    }
  }
}
