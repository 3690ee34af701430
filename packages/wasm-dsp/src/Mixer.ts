import { FRAME_SAMPLES } from './constants.js';
import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import { limiterParams, LIMITER_SUB_BLOCK_SAMPLES, type LimiterOptions } from './limiterOptions.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** Options of {@link Mixer}. */
export interface MixerOptions {
  /** Most streams mixed at once (1–256). */
  maxStreams: number;
  /** Samples per stream per call, a multiple of 32 up to 8,192 (default 960: 20 ms at 48 kHz). */
  frameSamples?: number;
  /** Limiter settings; the limiter is on unless {@link Mixer.limiterEnabled} is cleared. */
  limiter?: LimiterOptions;
}

interface MixerExports {
  memory: WebAssembly.Memory;
  init(streams: number, samples: number): void;
  inputsPtr(): number;
  gainsPtr(): number;
  previousGainsPtr(): number;
  outputPtr(): number;
  mix(count: number, limited: number): void;
  limiterConfigure(knee: number, ceiling: number, release: number): void;
  limiterReset(): void;
  limiterTakeMinGain(): number;
}

const KERNEL = 'mixer';

/**
 * Mixes up to `maxStreams` mono streams with per-stream gains into one output with the WASM
 * SIMD mixer kernel, then a soft-knee peak limiter so the sum never clips. Gain changes are
 * ramped across the next frame. Every buffer lives in the kernel's memory and is allocated once:
 * write each stream into {@link input}, set {@link gains}, call {@link process}, read
 * {@link output}. Runs on the thread that created it (the audio thread for playback).
 */
export class Mixer {
  /** Samples per stream per call. */
  readonly frameSamples: number;
  /** Most streams per call. */
  readonly maxStreams: number;
  /** Linear gain of each stream (default 1); changes are ramped over the next frame. */
  readonly gains: Float32Array;
  /** The mixed frame of the last {@link process} call. */
  readonly output: Float32Array;
  /** Whether the limiter runs after the mix (default true). */
  limiterEnabled = true;
  private exports: MixerExports | null;
  private readonly inputs: Float32Array[];

  private constructor(instance: WebAssembly.Instance, options: MixerOptions) {
    const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    const { maxStreams } = options;
    if (!Number.isInteger(maxStreams) || maxStreams < 1 || maxStreams > 256) {
      throw new RangeError(`maxStreams must be an integer in [1, 256], got ${maxStreams}`);
    }
    if (
      !Number.isInteger(frameSamples) ||
      frameSamples < LIMITER_SUB_BLOCK_SAMPLES ||
      frameSamples > 8192 ||
      frameSamples % LIMITER_SUB_BLOCK_SAMPLES !== 0
    ) {
      throw new RangeError(
        `frameSamples must be a multiple of 32 in [32, 8192], got ${frameSamples}`,
      );
    }
    const limiter = limiterParams(options.limiter);
    const ex = instance.exports as unknown as MixerExports;
    ex.init(maxStreams, frameSamples);
    ex.limiterConfigure(limiter.knee, limiter.ceiling, limiter.releaseCoef);
    const buf = ex.memory.buffer;
    this.exports = ex;
    this.frameSamples = frameSamples;
    this.maxStreams = maxStreams;
    this.inputs = Array.from(
      { length: maxStreams },
      (_, i) => new Float32Array(buf, ex.inputsPtr() + i * frameSamples * 4, frameSamples),
    );
    this.gains = new Float32Array(buf, ex.gainsPtr(), maxStreams);
    this.output = new Float32Array(buf, ex.outputPtr(), frameSamples);
  }

  /**
   * Creates a mixer in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: MixerOptions): Promise<Mixer> {
    return Mixer.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates a mixer synchronously from the kernel's bytes or compiled module (inside an
   * AudioWorklet, with bytes from `processorOptions`).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(source: WasmSource, options: MixerOptions): Mixer {
    return new Mixer(instantiateKernelSync(KERNEL, toModule(KERNEL, source)), options);
  }

  /**
   * The input frame of stream `index`: a view into kernel memory, valid until {@link destroy}.
   * @throws {RangeError} when `index` is not in [0, maxStreams).
   */
  input(index: number): Float32Array {
    const view = this.inputs[index];
    if (!Number.isInteger(index) || view === undefined) {
      throw new RangeError(`index must be an integer in [0, ${this.maxStreams}), got ${index}`);
    }
    return view;
  }

  /**
   * Mixes streams 0..`streamCount`−1 into {@link output} (and limits it). No allocation.
   * @throws {RangeError} when `streamCount` is out of range. @throws {DspError} after destroy.
   */
  process(streamCount: number = this.maxStreams): Float32Array {
    const ex = this.live();
    if (!(streamCount >= 0 && streamCount <= this.maxStreams)) {
      throw new RangeError(`streamCount must be in [0, ${this.maxStreams}], got ${streamCount}`);
    }
    ex.mix(streamCount | 0, this.limiterEnabled ? 1 : 0);
    return this.output;
  }

  /**
   * Deepest limiter gain reduction since the last call, in dB (≥ 0; 0 when the limiter was
   * idle). For stats, a few times per second.
   */
  takeLimiterReductionDb(): number {
    return Math.max(0, -20 * Math.log10(this.live().limiterTakeMinGain()));
  }

  /** Forgets the limiter's gain state (e.g. after a discontinuity). */
  reset(): void {
    this.live().limiterReset();
  }

  /** Releases the kernel; idempotent. Every other method then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private live(): MixerExports {
    if (this.exports === null) throw DspError.destroyed('Mixer');
    return this.exports;
  }
}
