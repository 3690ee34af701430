import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import {
  checkTsmInput,
  checkTsmOutput,
  TSM_MAX_INPUT_SAMPLES,
  TSM_MAX_PERIOD_SAMPLES,
  TSM_OUTCOMES,
  tsmParams,
  type TimeStretcherOptions,
  type TimeStretchOutcome,
} from './tsmOptions.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** What {@link TimeStretcher.run} does with the input. */
export type TimeStretchAction = 'accelerate' | 'preemptiveExpand' | 'pass';

interface TsmExports {
  memory: WebAssembly.Memory;
  init(): void;
  configure(threshold: number, quietMeanSquare: number): void;
  reset(): void;
  inputPtr(): number;
  outputPtr(): number;
  statsPtr(): number;
  pass(n: number): number;
  accelerate(n: number): number;
  expand(n: number): number;
}

const KERNEL = 'tsm';

/**
 * Time-scale modification for a jitter buffer (WASM SIMD kernel `build/tsm.wasm`, 48 kHz
 * mono): {@link accelerate} removes one pitch period from a decoded frame and
 * {@link preemptiveExpand} inserts one, by a pitch-synchronous overlap-add (WSOLA family, with
 * WebRTC NetEq's accelerate/preemptive-expand decisions), so the play-out delay moves by
 * 2.5–20 ms inside a talk-spurt without a click and without changing the pitch.
 *
 * The pitch period is searched over 2.5–20 ms by normalised autocorrelation at 8 kHz over the
 * last 20 ms, then refined at 48 kHz (±6 samples) on the splice itself. Loud frames whose two
 * periods correlate below `correlationThreshold` (unvoiced speech, noise) are refused: the output
 * is the input and {@link lastOutcome} says why. Quiet frames are stretched regardless.
 *
 * **Continuity.** The stretcher keeps the last 40 ms it produced as history: every sample the
 * listener hears must pass through it, in order — stretched frames through
 * {@link accelerate}/{@link preemptiveExpand}, all others (decoded, FEC, PLC, comfort noise)
 * through {@link passThrough}. Each output then starts continuous with the previous one and
 * ends on the input's last sample; the splice lies inside the output. Call {@link reset} after
 * a discontinuity (stream restart) so that no splice reaches back across it.
 *
 * **Frame sizes.** Any input of 1–2,880 samples. Accelerate needs the input to hold a period
 * plus a 60-sample cross-fade and one sample: 10 ms frames can lose periods up to 419 samples
 * (8.7 ms: F0 ≥ ~115 Hz), so for low voices pass two frames (20 ms) at once. Preemptive expand
 * uses the history and inserts any period into any input of ≥ 60 samples.
 *
 * Per call: no allocation. The report of the last call ({@link lastOutcome},
 * {@link lastChangeSamples}, {@link lastPeriodSamples}, {@link lastCorrelation},
 * {@link lastLevelDbfs}) is read from kernel memory. Runs on the thread that created it (a
 * worker, the main thread or an AudioWorklet); one instance per stream.
 */
export class TimeStretcher {
  /**
   * The kernel's input (2,880 samples of kernel memory) for zero-copy use with {@link run}:
   * write the frame at its start.
   */
  readonly inputView: Float32Array;
  /**
   * The kernel's output (3,840 samples of kernel memory): after {@link run}, the first `n`
   * samples (its return value) are the frame to play.
   */
  readonly outputView: Float32Array;
  private readonly stats: Float64Array;
  private exports: TsmExports | null;

  private constructor(instance: WebAssembly.Instance, options: TimeStretcherOptions) {
    const params = tsmParams(options);
    const ex = instance.exports as unknown as TsmExports;
    ex.init();
    ex.configure(...params);
    this.exports = ex;
    // Views are made after init: the stub runtime grew the memory there, never afterwards.
    const buf = ex.memory.buffer;
    this.inputView = new Float32Array(buf, ex.inputPtr(), TSM_MAX_INPUT_SAMPLES);
    this.outputView = new Float32Array(
      buf,
      ex.outputPtr(),
      TSM_MAX_INPUT_SAMPLES + TSM_MAX_PERIOD_SAMPLES,
    );
    this.stats = new Float64Array(buf, ex.statsPtr(), 5);
  }

  /**
   * Creates a time stretcher in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: TimeStretcherOptions = {}): Promise<TimeStretcher> {
    return TimeStretcher.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates a time stretcher synchronously from the kernel's bytes or compiled module (any
   * thread, including an AudioWorklet with bytes from `processorOptions`).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(source: WasmSource, options: TimeStretcherOptions = {}): TimeStretcher {
    return new TimeStretcher(instantiateKernelSync(KERNEL, toModule(KERNEL, source)), options);
  }

  /**
   * Removes one pitch period (120–960 samples) from `input` into `output` and records the
   * output as played. When refused (see {@link lastOutcome}) `output` receives `input` as is.
   * No allocation.
   * @param input 1–2,880 samples at 48 kHz, continuing the previous call's input.
   * @param output room for at least `input.length` samples.
   * @returns samples written to `output`: `input.length − lastPeriodSamples`, or
   *   `input.length` when refused.
   * @throws {RangeError} for a bad input or a too short output. @throws {DspError} after destroy.
   */
  accelerate(input: Float32Array, output: Float32Array): number {
    const n = checkTsmInput(input);
    checkTsmOutput(output, n, 'accelerate');
    return this.copyRun('accelerate', input, output);
  }

  /**
   * Inserts one pitch period (120–960 samples) into `input`, into `output`, and records the
   * output as played. When refused `output` receives `input` as is. No allocation.
   * @param input 1–2,880 samples at 48 kHz, continuing the previous call's input.
   * @param output room for at least `input.length + 960` samples.
   * @returns samples written to `output`: `input.length + lastPeriodSamples`, or
   *   `input.length` when refused.
   * @throws {RangeError} for a bad input or a too short output. @throws {DspError} after destroy.
   */
  preemptiveExpand(input: Float32Array, output: Float32Array): number {
    const n = checkTsmInput(input);
    checkTsmOutput(output, n + TSM_MAX_PERIOD_SAMPLES, 'preemptiveExpand');
    return this.copyRun('preemptiveExpand', input, output);
  }

  /**
   * Records `input` as played unchanged (every frame that is neither accelerated nor expanded
   * must pass here, so the next splice stays continuous). No allocation.
   * @returns `input.length`.
   * @throws {RangeError} for a bad input. @throws {DspError} after destroy.
   */
  passThrough(input: Float32Array): number {
    const n = checkTsmInput(input);
    const ex = this.live();
    this.inputView.set(input);
    return ex.pass(n);
  }

  /**
   * Zero-copy form: processes the first `inputSamples` samples of {@link inputView}; the result
   * is the first `n` samples of {@link outputView} (for `'pass'` too), `n` returned. No
   * allocation.
   * @throws {RangeError} when `inputSamples` is not an integer in [1, 2880] or the action is
   *   unknown. @throws {DspError} after destroy.
   */
  run(action: TimeStretchAction, inputSamples: number): number {
    const ex = this.live();
    if (
      !Number.isInteger(inputSamples) ||
      inputSamples < 1 ||
      inputSamples > TSM_MAX_INPUT_SAMPLES
    ) {
      throw new RangeError(
        `inputSamples must be an integer in [1, ${TSM_MAX_INPUT_SAMPLES}], got ${inputSamples}`,
      );
    }
    switch (action) {
      case 'accelerate':
        return ex.accelerate(inputSamples);
      case 'preemptiveExpand':
        return ex.expand(inputSamples);
      case 'pass':
        return ex.pass(inputSamples);
      default:
        throw new RangeError(
          `action must be accelerate, preemptiveExpand or pass, got ${String(action)}`,
        );
    }
  }

  /** What the last call did. */
  get lastOutcome(): TimeStretchOutcome {
    this.live();
    return TSM_OUTCOMES[this.stats[0]!]!;
  }

  /** Samples the last call added (> 0) or removed (< 0); 0 when refused or passed. */
  get lastChangeSamples(): number {
    this.live();
    return this.stats[1]!;
  }

  /**
   * Pitch period of the last accelerate/expand in samples at 48 kHz: the lag spliced, or the
   * lag found when refused; 0 after {@link passThrough}.
   */
  get lastPeriodSamples(): number {
    this.live();
    return this.stats[2]!;
  }

  /**
   * Normalised correlation (−1–1) of the two periods of the last accelerate/expand at
   * {@link lastPeriodSamples}; for `'noRoom'` the coarse (8 kHz) one; 0 after a pass.
   */
  get lastCorrelation(): number {
    this.live();
    return this.stats[3]!;
  }

  /**
   * Level (mean square) of the louder of the two compared periods of the last
   * accelerate/expand, in dBFS; −Infinity when none were compared (a pass, or `'noRoom'` on an
   * input too short for any lag).
   */
  get lastLevelDbfs(): number {
    this.live();
    return 10 * Math.log10(this.stats[4]!);
  }

  /** Bytes of kernel memory (constant after creation: a diagnostic for leak checks). */
  get memoryBytes(): number {
    return this.live().memory.buffer.byteLength;
  }

  /**
   * Forgets the history (as if silence had been played) and the last report: after a stream
   * restart or any other discontinuity. No allocation.
   * @throws {DspError} after destroy.
   */
  reset(): void {
    this.live().reset();
  }

  /** Releases the kernel; idempotent. Every other member then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private copyRun(action: TimeStretchAction, input: Float32Array, output: Float32Array): number {
    const ex = this.live();
    const n = input.length;
    this.inputView.set(input);
    const m = action === 'accelerate' ? ex.accelerate(n) : ex.expand(n);
    // A loop, not set(subarray): subarray would allocate a view per call.
    const y = this.outputView;
    for (let i = 0; i < m; i++) output[i] = y[i]!;
    return m;
  }

  private live(): TsmExports {
    if (this.exports === null) throw DspError.destroyed('TimeStretcher');
    return this.exports;
  }
}
