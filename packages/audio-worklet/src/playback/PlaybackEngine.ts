import type { Mixer, Resampler } from '@concord/wasm-dsp';
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
}

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
  private highest = 0;

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
      this.out.push(resampleOut.output, 0, resampleOut.process(MIX_SAMPLES));
    } else this.out.push(mix, 0, MIX_SAMPLES);
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.streams.length) {
      throw new RangeError(`slot must be an integer in [0, ${this.streams.length}), got ${slot}`);
    }
  }
}
