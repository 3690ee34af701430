import { SAMPLE_RATE_HZ } from './constants.js';
import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import { limiterParams, LIMITER_SUB_BLOCK_SAMPLES, type LimiterOptions } from './limiterOptions.js';
import { binauralParams, DEFAULT_HEAD_RADIUS_M, shadowLowPass } from './spatialModel.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** Options of {@link Spatializer}. */
export interface SpatializerOptions {
  /** Most voices rendered at once (1–256). */
  maxVoices: number;
  /** Samples per voice per call at 48 kHz, a multiple of 32 up to 4,096 (default 128). */
  frameSamples?: number;
  /** Head radius in metres, 0.05–0.15 (default 0.0875). */
  headRadiusM?: number;
  /** Limiter settings (knee, ceiling, release), linked across both ears. */
  limiter?: LimiterOptions;
}

interface SpatialExports {
  memory: WebAssembly.Memory;
  init(voices: number, samples: number): void;
  setLowPass(b: number, a1: number): void;
  historySamples(): number;
  paramsPerVoice(): number;
  inputPtr(v: number): number;
  paramsPtr(): number;
  leftPtr(): number;
  rightPtr(): number;
  monoPtr(): number;
  resetVoice(v: number): void;
  render(count: number, limited: number): void;
  limiterConfigure(knee: number, ceiling: number, release: number): void;
  limiterReset(): void;
  limiterTakeMinGain(): number;
}

const KERNEL = 'spatial';
// Parameter slots of a voice (assembly/spatial.ts).
const P_GAIN = 0;
const P_DELAY_L = 1;
const P_DELAY_R = 2;
const P_ALPHA_L = 3;
const P_ALPHA_R = 4;

/**
 * Binaural renderer for headphones with the WASM SIMD spatial kernel: each mono voice is placed
 * by its direction with Brown & Duda's spherical-head model (per-ear head-shadow filter and
 * Woodworth interaural delay, see `spatialModel.ts`), scaled by its gain, and summed into a
 * left/right pair, then a soft-knee limiter linked across both ears. A voice without a
 * direction passes unchanged to both ears. Gain, shadow and delay changes are ramped or
 * cross-faded across the next frame. {@link mono} is (left + right) / 2: the signal an echo
 * canceller should take as its reference. Every buffer lives in kernel memory and is allocated
 * once; runs on the thread that created it (the audio thread for playback).
 */
export class Spatializer {
  /** Samples per voice per call. */
  readonly frameSamples: number;
  /** Most voices per call. */
  readonly maxVoices: number;
  /** Head radius, m. */
  readonly headRadiusM: number;
  /** Left ear of the last {@link process} call. */
  readonly left: Float32Array;
  /** Right ear of the last {@link process} call. */
  readonly right: Float32Array;
  /** (left + right) / 2 of the last {@link process} call. */
  readonly mono: Float32Array;
  /** Whether the limiter runs after the mix (default true). */
  limiterEnabled = true;
  /** Longest per-ear delay the kernel can hold, in samples. */
  readonly maxDelaySamples: number;
  private exports: SpatialExports | null;
  private readonly inputs: Float32Array[];
  private readonly params: Float32Array;
  private readonly stride: number;

  private constructor(instance: WebAssembly.Instance, options: SpatializerOptions) {
    const frameSamples = options.frameSamples ?? 128;
    const { maxVoices } = options;
    const headRadiusM = options.headRadiusM ?? DEFAULT_HEAD_RADIUS_M;
    if (!Number.isInteger(maxVoices) || maxVoices < 1 || maxVoices > 256)
      throw new RangeError(`maxVoices must be an integer in [1, 256], got ${maxVoices}`);
    if (
      !Number.isInteger(frameSamples) ||
      frameSamples < LIMITER_SUB_BLOCK_SAMPLES ||
      frameSamples > 4096 ||
      frameSamples % LIMITER_SUB_BLOCK_SAMPLES !== 0
    )
      throw new RangeError(
        `frameSamples must be a multiple of 32 in [32, 4096], got ${frameSamples}`,
      );
    if (!(headRadiusM >= 0.05 && headRadiusM <= 0.15))
      throw new RangeError(`headRadiusM must be in [0.05, 0.15], got ${headRadiusM}`);
    const limiter = limiterParams(options.limiter);
    const ex = instance.exports as unknown as SpatialExports;
    ex.init(maxVoices, frameSamples);
    // The limiter sees left/right interleaved: its 32-sample sub-blocks span 16 frames, so the
    // per-sub-block release coefficient is the one for half the time.
    const release = 1 - Math.sqrt(1 - limiter.releaseCoef);
    ex.limiterConfigure(limiter.knee, limiter.ceiling, release);
    const lp = shadowLowPass(headRadiusM, SAMPLE_RATE_HZ);
    ex.setLowPass(lp.b, lp.a1);
    const buf = ex.memory.buffer;
    this.exports = ex;
    this.frameSamples = frameSamples;
    this.maxVoices = maxVoices;
    this.headRadiusM = headRadiusM;
    this.maxDelaySamples = ex.historySamples() - 2;
    this.stride = ex.paramsPerVoice();
    this.inputs = Array.from(
      { length: maxVoices },
      (_, i) => new Float32Array(buf, ex.inputPtr(i), frameSamples),
    );
    this.params = new Float32Array(buf, ex.paramsPtr(), maxVoices * this.stride);
    this.left = new Float32Array(buf, ex.leftPtr(), frameSamples);
    this.right = new Float32Array(buf, ex.rightPtr(), frameSamples);
    this.mono = new Float32Array(buf, ex.monoPtr(), frameSamples);
  }

  /**
   * Creates a renderer in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: SpatializerOptions): Promise<Spatializer> {
    return Spatializer.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates a renderer synchronously from the kernel's bytes or module (inside an AudioWorklet).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(source: WasmSource, options: SpatializerOptions): Spatializer {
    return new Spatializer(instantiateKernelSync(KERNEL, toModule(KERNEL, source)), options);
  }

  /**
   * The input frame of voice `index` (a view into kernel memory, valid until destroy).
   * @throws {RangeError} when `index` is not in [0, maxVoices).
   */
  input(index: number): Float32Array {
    const view = this.inputs[index];
    if (!Number.isInteger(index) || view === undefined)
      throw new RangeError(`index must be an integer in [0, ${this.maxVoices}), got ${index}`);
    return view;
  }

  /**
   * Sets voice `index`'s linear gain (0–4), reached at the end of the next frame.
   * @throws {RangeError} for a bad index or gain.
   */
  setGain(index: number, gain: number): void {
    this.checkIndex(index);
    if (!(gain >= 0 && gain <= 4)) throw new RangeError(`gain must be in [0, 4], got ${gain}`);
    this.params[index * this.stride + P_GAIN] = gain;
  }

  /** Voice `index`'s target gain. @throws {RangeError} for a bad index. */
  gainOf(index: number): number {
    this.checkIndex(index);
    return this.params[index * this.stride + P_GAIN]!;
  }

  /**
   * Places voice `index` at a direction around the listener's head: `azimuthRad` 0 ahead,
   * positive to the left (π/2: the left ear), `elevationRad` positive up. Takes effect over the
   * next frame. A sphere has no front/back cue: a source behind sounds as the mirrored one
   * ahead. Any thread that owns the renderer; no allocation in the kernel.
   * @throws {RangeError} for a bad index or a non-finite angle.
   */
  setDirection(index: number, azimuthRad: number, elevationRad = 0): void {
    this.checkIndex(index);
    if (!Number.isFinite(azimuthRad) || !Number.isFinite(elevationRad))
      throw new RangeError(
        `azimuthRad and elevationRad must be finite, got ${azimuthRad}, ${elevationRad}`,
      );
    const p = binauralParams(azimuthRad, elevationRad, this.headRadiusM, SAMPLE_RATE_HZ);
    const base = index * this.stride;
    const max = this.maxDelaySamples;
    this.params[base + P_DELAY_L] = Math.min(max, p.left.delaySamples);
    this.params[base + P_DELAY_R] = Math.min(max, p.right.delaySamples);
    this.params[base + P_ALPHA_L] = p.left.alpha;
    this.params[base + P_ALPHA_R] = p.right.alpha;
  }

  /**
   * Removes voice `index`'s direction: it then plays unchanged in both ears (as in a mono mix).
   * @throws {RangeError} for a bad index.
   */
  clearDirection(index: number): void {
    this.checkIndex(index);
    const base = index * this.stride;
    this.params[base + P_DELAY_L] = 0;
    this.params[base + P_DELAY_R] = 0;
    this.params[base + P_ALPHA_L] = 1;
    this.params[base + P_ALPHA_R] = 1;
  }

  /** Forgets voice `index`'s past samples (a new stream in that slot). @throws {RangeError}. */
  resetVoice(index: number): void {
    this.checkIndex(index);
    this.live().resetVoice(index);
  }

  /**
   * Renders voices 0..`voiceCount`−1 into {@link left}/{@link right}/{@link mono}. No allocation.
   * @throws {RangeError} when `voiceCount` is out of range. @throws {DspError} after destroy.
   */
  process(voiceCount: number = this.maxVoices): void {
    const ex = this.live();
    if (!(voiceCount >= 0 && voiceCount <= this.maxVoices))
      throw new RangeError(`voiceCount must be in [0, ${this.maxVoices}], got ${voiceCount}`);
    ex.render(voiceCount | 0, this.limiterEnabled ? 1 : 0);
  }

  /** Deepest limiter gain reduction since the last call, in dB (≥ 0). */
  takeLimiterReductionDb(): number {
    return Math.max(0, -20 * Math.log10(this.live().limiterTakeMinGain()));
  }

  /** Releases the kernel; idempotent. Every other method then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private checkIndex(index: number): void {
    this.live();
    if (!Number.isInteger(index) || index < 0 || index >= this.maxVoices)
      throw new RangeError(`index must be an integer in [0, ${this.maxVoices}), got ${index}`);
  }

  private live(): SpatialExports {
    if (this.exports === null) throw DspError.destroyed('Spatializer');
    return this.exports;
  }
}
