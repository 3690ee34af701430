import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import { designResampler, type ResamplerDesign } from './resamplerDesign.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** Options of {@link Resampler}. */
export interface ResamplerOptions {
  /** Rate of the input, in Hz (e.g. 44,100). */
  inRateHz: number;
  /** Rate of the output, in Hz (e.g. 48,000). */
  outRateHz: number;
  /** Most input samples per {@link Resampler.process} call (default 4,096; at most 1,048,576). */
  maxInputSamples?: number;
}

interface ResamplerExports {
  memory: WebAssembly.Memory;
  init(l: number, m: number, t: number, inputs: number): void;
  maxOutput(): number;
  coeffsPtr(): number;
  inputPtr(): number;
  outputPtr(): number;
  reset(): void;
  process(n: number): number;
}

const KERNEL = 'resampler';

/**
 * Streaming sample-rate converter (mono) with the WASM SIMD polyphase kernel: a Kaiser-windowed
 * sinc, 90 dB stopband from the lower rate's Nyquist up (see {@link designResampler}), any
 * rational ratio such as 44.1 ↔ 48 kHz. State carries across calls, so blocks of any size
 * (128-sample render quanta, 20 ms frames) join seamlessly. Write up to `maxInputSamples` into
 * {@link input}, call {@link process}, read that many samples from {@link output}. Buffers are
 * allocated once. Runs on the thread that created it.
 */
export class Resampler {
  /** The filter bank in use (phases, taps, passband edge, delay). */
  readonly design: ResamplerDesign;
  /** Input rate, in Hz. */
  readonly inRateHz: number;
  /** Output rate, in Hz. */
  readonly outRateHz: number;
  /** Where the next call's input goes (kernel memory), `maxInputSamples` long. */
  readonly input: Float32Array;
  /** Outputs of the last call are its first `n` samples (`n` returned by {@link process}). */
  readonly output: Float32Array;
  private exports: ResamplerExports | null;

  private constructor(instance: WebAssembly.Instance, options: ResamplerOptions) {
    const maxInputSamples = options.maxInputSamples ?? 4096;
    if (!Number.isInteger(maxInputSamples) || maxInputSamples < 1 || maxInputSamples > 1 << 20) {
      throw new RangeError(
        `maxInputSamples must be an integer in [1, 1048576], got ${maxInputSamples}`,
      );
    }
    const design = designResampler(options.inRateHz, options.outRateHz);
    const ex = instance.exports as unknown as ResamplerExports;
    ex.init(design.phases, design.decimation, design.taps, maxInputSamples);
    new Float32Array(ex.memory.buffer, ex.coeffsPtr(), design.coeffs.length).set(design.coeffs);
    this.exports = ex;
    this.design = design;
    this.inRateHz = options.inRateHz;
    this.outRateHz = options.outRateHz;
    this.input = new Float32Array(ex.memory.buffer, ex.inputPtr(), maxInputSamples);
    this.output = new Float32Array(ex.memory.buffer, ex.outputPtr(), ex.maxOutput());
  }

  /**
   * Creates a resampler in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad rates or sizes. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: ResamplerOptions): Promise<Resampler> {
    return Resampler.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates a resampler synchronously from the kernel's bytes or module (AudioWorklet).
   * @throws {RangeError} for bad rates or sizes. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(source: WasmSource, options: ResamplerOptions): Resampler {
    return new Resampler(instantiateKernelSync(KERNEL, toModule(KERNEL, source)), options);
  }

  /**
   * Converts the first `inputSamples` of {@link input}; returns how many samples of
   * {@link output} were written (about `inputSamples · outRateHz / inRateHz`). No allocation.
   * @throws {RangeError} when `inputSamples` exceeds the input buffer. @throws {DspError} after
   * destroy.
   */
  process(inputSamples: number): number {
    const ex = this.live();
    if (!(inputSamples >= 0 && inputSamples <= this.input.length)) {
      throw new RangeError(
        `inputSamples must be in [0, ${this.input.length}], got ${inputSamples}`,
      );
    }
    return ex.process(inputSamples | 0);
  }

  /**
   * Converts a whole signal (offline: files, tests, the CLI) and returns a new array of
   * `round(signal.length · outRateHz / inRateHz)` samples, aligned with the input: the filter's
   * delay is removed to the nearest output sample. Resets the stream state first and after.
   * Allocates. @throws {DspError} after destroy.
   */
  processSignal(signal: Float32Array): Float32Array {
    this.reset();
    const total = Math.round((signal.length * this.outRateHz) / this.inRateHz);
    const skip = Math.round(this.design.delayOutputSamples);
    const out = new Float32Array(total);
    let produced = 0; // outputs seen, including the skipped ones
    const chunk = this.input.length;
    const take = (n: number): void => {
      const got = this.process(n);
      for (let i = 0; i < got; i++, produced++) {
        const at = produced - skip;
        if (at >= 0 && at < total) out[at] = this.output[i]!;
      }
    };
    for (let at = 0; at < signal.length; at += chunk) {
      const n = Math.min(chunk, signal.length - at);
      this.input.set(signal.subarray(at, at + n));
      take(n);
    }
    // Flush the filter's tail with silence until every output is written.
    while (produced < total + skip) {
      this.input.fill(0);
      take(chunk);
    }
    this.reset();
    return out;
  }

  /** Forgets the history (as if preceded by silence) and restarts the phase. */
  reset(): void {
    this.live().reset();
  }

  /** Releases the kernel; idempotent. Every other method then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private live(): ResamplerExports {
    if (this.exports === null) throw DspError.destroyed('Resampler');
    return this.exports;
  }
}
