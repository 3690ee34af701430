import type { Mixer, Resampler, Spatializer } from '@concord/wasm-dsp';
import { FRAME_SAMPLES, RENDER_QUANTUM_FRAMES, SAMPLE_RATE_HZ } from '../shared/constants.js';
import { SampleRing } from '../shared/SampleRing.js';

/**
 * Samples per mix, 48 kHz: one render quantum. The engine mixes just what the next quantum
 * needs, so a decoded frame is wanted only when its first samples are (a whole-frame mix took
 * each voice's next frame up to 20 ms before it was heard, and the receiver had to keep it
 * there early).
 */
export const MIX_SAMPLES = RENDER_QUANTUM_FRAMES;

/** Parts of a {@link PlaybackEngine}. */
export interface PlaybackEngineOptions {
  /** Sample rate of the AudioContext, in Hz. */
  contextRateHz: number;
  /** The SIMD mixer with limiter (48 kHz, {@link MIX_SAMPLES}-sample frames). */
  mixer: Mixer;
  /** 48 kHz → context rate; required when the context does not run at 48 kHz. */
  resampleOut?: Resampler;
  /** Receives the 48 kHz mix: the echo canceller's far-end reference. */
  reference?: SampleRing;
  /**
   * The binaural renderer ({@link MIX_SAMPLES}-sample frames, as many voices as the mixer has
   * streams); without it only the mono render mode exists.
   */
  spatializer?: Spatializer;
  /** 48 kHz → context rate for the right ear (binaural mode, context not at 48 kHz). */
  resampleOutRight?: Resampler;
}

/**
 * How the engine renders: `mono`, one mix played identically on every channel (the default),
 * or `binaural`, each voice placed by its direction for headphones (left/right on channels 0/1).
 */
export type PlaybackRenderMode = 'mono' | 'binaural';

/** Counters of a {@link PlaybackEngine}. */
export interface PlaybackStats {
  /** Render quanta produced. */
  quanta: number;
  /** Mixes of {@link MIX_SAMPLES} samples produced. */
  mixes: number;
  /** Mixes for which an attached stream had fewer samples than needed (padded with silence). */
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
  private readonly outRight: SampleRing;
  private highest = 0;
  private mode: PlaybackRenderMode = 'mono';

  /** @throws {RangeError} when the context rate needs a resampler that was not given. */
  constructor(private readonly options: PlaybackEngineOptions) {
    if (options.contextRateHz !== SAMPLE_RATE_HZ && !options.resampleOut) {
      throw new RangeError(
        `a ${options.contextRateHz} Hz context needs resampleOut (from ${SAMPLE_RATE_HZ} Hz)`,
      );
    }
    if (options.mixer.frameSamples !== MIX_SAMPLES)
      throw new RangeError(
        `the mixer must work on ${MIX_SAMPLES}-sample frames, got ${options.mixer.frameSamples}`,
      );
    this.streams = new Array<SampleRing | undefined>(options.mixer.maxStreams).fill(undefined);
    const { spatializer } = options;
    if (spatializer) {
      if (spatializer.frameSamples !== MIX_SAMPLES || spatializer.maxVoices < this.streams.length)
        throw new RangeError(
          `the spatializer must work on ${MIX_SAMPLES}-sample frames with at least ${this.streams.length} voices`,
        );
      if (options.resampleOut && !options.resampleOutRight)
        throw new RangeError('a binaural engine off 48 kHz needs resampleOutRight');
    }
    this.out = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    this.outRight = SampleRing.allocate(4 * FRAME_SAMPLES, false);
  }

  /** The current render mode. */
  get renderMode(): PlaybackRenderMode {
    return this.mode;
  }

  /**
   * Switches between the mono mix and binaural rendering; takes effect at the next mix.
   * In binaural mode the echo reference is (left + right) / 2 of what the ears get.
   * @throws {RangeError} for `binaural` without a spatializer.
   */
  setRenderMode(mode: PlaybackRenderMode): void {
    if (mode === 'binaural' && !this.options.spatializer)
      throw new RangeError('render mode binaural needs a spatializer');
    if (mode !== 'binaural' && mode !== 'mono')
      throw new RangeError(`mode must be 'mono' or 'binaural', got ${String(mode)}`);
    this.mode = mode;
  }

  /**
   * Places slot `slot`'s voice at a direction around the listener (binaural mode):
   * `azimuthRad` 0 ahead, positive to the left; `elevationRad` positive up.
   * @throws {RangeError} for a bad slot or angle, or without a spatializer.
   */
  setDirection(slot: number, azimuthRad: number, elevationRad: number): void {
    this.checkSlot(slot);
    this.spatial().setDirection(slot, azimuthRad, elevationRad);
  }

  /** Removes slot `slot`'s direction: it plays centred, unfiltered. @throws {RangeError}. */
  clearDirection(slot: number): void {
    this.checkSlot(slot);
    this.spatial().clearDirection(slot);
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
    const { spatializer } = this.options;
    if (spatializer) {
      spatializer.input(slot).fill(0);
      spatializer.resetVoice(slot);
    }
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
    this.options.spatializer?.setGain(slot, gain);
  }

  /** Fills every output channel with the next render quantum of the mix. No allocation. */
  processQuantum(channels: readonly Float32Array[]): void {
    const first = channels[0];
    const n = first?.length ?? RENDER_QUANTUM_FRAMES;
    this.stats.quanta++;
    while (this.out.availableRead < n) this.mixFrame();
    if (!first) {
      this.out.skip(n);
      this.outRight.skip(n);
      return;
    }
    this.out.pull(first, 0, n);
    const second = channels[1];
    if (second) this.outRight.pull(second, 0, n);
    else this.outRight.skip(n);
    for (let c = 2; c < channels.length; c++) channels[c]!.set(first);
  }

  private mixFrame(): void {
    if (this.mode === 'binaural') {
      this.renderBinaural(this.options.spatializer!);
      return;
    }
    const { mixer, resampleOut, reference } = this.options;
    for (let slot = 0; slot < this.highest; slot++) {
      const ring = this.streams[slot];
      const input = mixer.input(slot);
      const got = ring ? ring.pull(input, 0, MIX_SAMPLES) : 0;
      if (got < MIX_SAMPLES) {
        input.fill(0, got);
        if (ring) this.stats.streamUnderruns++;
      }
    }
    const mix = mixer.process(this.highest);
    this.stats.mixes++;
    if (reference) {
      const written = reference.push(mix, 0, MIX_SAMPLES);
      if (written < MIX_SAMPLES) this.stats.referenceOverruns++;
    }
    if (resampleOut) {
      const input = resampleOut.input;
      for (let i = 0; i < MIX_SAMPLES; i++) input[i] = mix[i]!;
      const produced = resampleOut.process(MIX_SAMPLES);
      this.out.push(resampleOut.output, 0, produced);
      this.outRight.push(resampleOut.output, 0, produced);
    } else {
      this.out.push(mix, 0, MIX_SAMPLES);
      this.outRight.push(mix, 0, MIX_SAMPLES);
    }
  }

  private renderBinaural(spatializer: Spatializer): void {
    const { resampleOut, resampleOutRight, reference } = this.options;
    for (let slot = 0; slot < this.highest; slot++) {
      const ring = this.streams[slot];
      const input = spatializer.input(slot);
      const got = ring ? ring.pull(input, 0, MIX_SAMPLES) : 0;
      if (got < MIX_SAMPLES) {
        input.fill(0, got);
        if (ring) this.stats.streamUnderruns++;
      }
    }
    spatializer.process(this.highest);
    this.stats.mixes++;
    if (reference) {
      // A mono echo canceller hears both speakers: its reference is their average.
      const written = reference.push(spatializer.mono, 0, MIX_SAMPLES);
      if (written < MIX_SAMPLES) this.stats.referenceOverruns++;
    }
    if (resampleOut && resampleOutRight) {
      resampleOut.input.set(spatializer.left);
      this.out.push(resampleOut.output, 0, resampleOut.process(MIX_SAMPLES));
      resampleOutRight.input.set(spatializer.right);
      this.outRight.push(resampleOutRight.output, 0, resampleOutRight.process(MIX_SAMPLES));
    } else {
      this.out.push(spatializer.left, 0, MIX_SAMPLES);
      this.outRight.push(spatializer.right, 0, MIX_SAMPLES);
    }
  }

  private spatial(): Spatializer {
    const s = this.options.spatializer;
    if (!s) throw new RangeError('spatial audio needs a spatializer (none was given)');
    return s;
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.streams.length) {
      throw new RangeError(`slot must be an integer in [0, ${this.streams.length}), got ${slot}`);
    }
  }
}
