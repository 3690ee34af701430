import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from './constants.js';
import { DspError } from './DspError.js';
import { instantiateKernelSync, loadKernel, type WasmSource } from './wasmLoader.js';

/** Options of {@link EchoCanceller}. */
export interface EchoCancellerOptions {
  /**
   * Echo tail covered by the adaptive filter, in ms, including any bulk delay between the
   * reference and the microphone: 10–1000 (default 200). Cost grows linearly with it.
   */
  tailMs?: number;
  /** Residual echo suppression after the linear filter (default true). */
  suppression?: boolean;
  /**
   * Samples per frame given to {@link EchoCanceller.process}: 960 (20 ms, default) or 480
   * (10 ms). The canceller works in 5 ms blocks inside either.
   */
  frameSamples?: 480 | 960;
}

interface AecExports {
  memory: WebAssembly.Memory;
  init(partitions: number, suppression: number, frameSamples: number): void;
  micPtr(): number;
  refPtr(): number;
  outPtr(): number;
  statsPtr(): number;
  setSuppression(on: number): void;
  reset(): void;
  process(): void;
  processHalf(half: number): void;
}

/** Filter block (partition) length in samples (5 ms): four per 20 ms frame. */
const BLOCK_SAMPLES = 240;
/** Hop of the residual echo suppressor in samples (2.5 ms): the canceller's whole delay. */
const SUPPRESSOR_HOP_SAMPLES = 120;

/**
 * Acoustic echo canceller, WASM SIMD (`build/aec.wasm`): a partitioned-block frequency-domain
 * adaptive Kalman filter (5 ms partitions) and a residual echo suppressor on 2.5 ms hops. 48 kHz
 * mono, 960-sample (20 ms) or 480-sample (10 ms) frames: `mic` is the microphone, `ref` the
 * far-end signal sent to the loudspeaker for the same frame.
 *
 * Zero-allocation use on the audio thread: write `micView`/`refView`, call {@link process}, read
 * `outView`; or call {@link processFrame} with your own arrays (one copy each way). The output
 * lags the input by {@link latencySamples} (120 samples, 2.5 ms) because of the suppressor's
 * overlap-add; the adaptive filter adds no delay (its blocks divide the frame).
 * Diagnostics ({@link erleDb}, {@link doubleTalk}, …) are read from WASM memory per frame
 * without allocation. One instance per audio stream; not shareable between threads.
 */
export class EchoCanceller {
  /** Samples per frame: 960 (default) or 480. */
  readonly frameSamples: 480 | 960;
  /** Delay of the output relative to the microphone input, in samples (120 = 2.5 ms). */
  readonly latencySamples = SUPPRESSOR_HOP_SAMPLES;
  /** Echo tail covered by the filter, in ms (rounded up to 5 ms partitions). */
  readonly tailMs: number;
  /** Microphone frame input ({@link frameSamples} samples, view into WASM memory). */
  readonly micView: Float32Array;
  /** Far-end reference frame input ({@link frameSamples} samples, view into WASM memory). */
  readonly refView: Float32Array;
  /** Echo-cancelled output frame ({@link frameSamples} samples, view into WASM memory). */
  readonly outView: Float32Array;
  private readonly stats: Float32Array;
  private exports: AecExports | null;
  private suppressionOn: boolean;

  private constructor(instance: WebAssembly.Instance, options: CheckedOptions) {
    const { tailMs, suppression, frameSamples } = options;
    const ex = instance.exports as unknown as AecExports;
    const partitions = Math.ceil((tailMs * SAMPLE_RATE_HZ) / 1000 / BLOCK_SAMPLES - 1e-9);
    ex.init(partitions, suppression ? 1 : 0, frameSamples);
    this.frameSamples = frameSamples;
    this.exports = ex;
    this.tailMs = (partitions * BLOCK_SAMPLES * 1000) / SAMPLE_RATE_HZ;
    this.suppressionOn = suppression;
    // Views are made after init: the stub runtime grew the memory there, never afterwards.
    const buf = ex.memory.buffer;
    this.micView = new Float32Array(buf, ex.micPtr(), frameSamples);
    this.refView = new Float32Array(buf, ex.refPtr(), frameSamples);
    this.outView = new Float32Array(buf, ex.outPtr(), frameSamples);
    this.stats = new Float32Array(buf, ex.statsPtr(), 4);
  }

  /**
   * Loads `build/aec.wasm` and creates a canceller (Node, async).
   * @throws {RangeError} when `tailMs` is outside 10–1000.
   * @throws {RangeError} when `frameSamples` is not 480 or 960.
   * @throws {TypeError} when `suppression` is not a boolean.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be loaded.
   */
  static async create(options: EchoCancellerOptions = {}): Promise<EchoCanceller> {
    const checked = checkOptions(options);
    return new EchoCanceller(await loadKernel('aec'), checked);
  }

  /**
   * Creates a canceller synchronously from the kernel's bytes or compiled module (any thread,
   * including an AudioWorklet).
   * @throws {RangeError} when `tailMs` is outside 10–1000.
   * @throws {RangeError} when `frameSamples` is not 480 or 960.
   * @throws {TypeError} when `suppression` is not a boolean.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be instantiated.
   */
  static createSync(source: WasmSource, options: EchoCancellerOptions = {}): EchoCanceller {
    const checked = checkOptions(options);
    return new EchoCanceller(instantiateKernelSync('aec', source), checked);
  }

  /**
   * Processes the frame in `micView`/`refView` into `outView`. Audio-thread safe: no allocation.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  process(): void {
    this.live().process();
  }

  /**
   * Processes one half of a 960-sample frame in `micView`/`refView` (samples 0–479 for `half`
   * 0, 480–959 for 1) into the same half of `outView`. Half 0 then half 1 equals one
   * {@link process}: an audio thread can spread a frame's work over two render quanta.
   * Audio-thread safe: no allocation.
   * @throws {RangeError} when {@link frameSamples} is 480 and `half` is 1.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  processHalf(half: 0 | 1): void {
    const ex = this.live();
    if (half === 1 && this.frameSamples === 480) {
      throw new RangeError('half must be 0 when frameSamples is 480');
    }
    ex.processHalf(half);
  }

  /**
   * Copies `mic` and `ref` in, processes, copies the result to `out` (each
   * {@link frameSamples} samples). Audio-thread safe: no allocation.
   * @throws {RangeError} when an array does not hold exactly {@link frameSamples} samples.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  processFrame(mic: Float32Array, ref: Float32Array, out: Float32Array): void {
    const ex = this.live();
    checkFrame(mic, 'mic', this.frameSamples);
    checkFrame(ref, 'ref', this.frameSamples);
    checkFrame(out, 'out', this.frameSamples);
    this.micView.set(mic);
    this.refView.set(ref);
    ex.process();
    out.set(this.outView);
  }

  /** Whether the residual echo suppressor runs; may change between frames. */
  get suppression(): boolean {
    return this.suppressionOn;
  }

  set suppression(on: boolean) {
    if (typeof on !== 'boolean') throw new TypeError('suppression must be a boolean');
    this.live().setSuppression(on ? 1 : 0);
    this.suppressionOn = on;
  }

  /** Smoothed echo return loss enhancement over far-end-active frames, in dB (mic / output). */
  get erleDb(): number {
    this.live();
    return this.stats[0]!;
  }

  /** Smoothed echo return loss, in dB: far-end power over the estimated echo power. */
  get echoReturnLossDb(): number {
    this.live();
    return this.stats[1]!;
  }

  /** True when the last 2.5 ms hop had far-end and near-end activity together. */
  get doubleTalk(): boolean {
    this.live();
    return this.stats[2]! !== 0;
  }

  /** Leak estimate of the linear filter (0.01–1): residual echo power over echo estimate. */
  get leakEstimate(): number {
    this.live();
    return this.stats[3]!;
  }

  /**
   * Forgets the learned echo path and all state (e.g. after a device change).
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  reset(): void {
    this.live().reset();
  }

  /** Releases the WASM instance. Idempotent; later calls throw `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private live(): AecExports {
    if (this.exports === null) throw DspError.destroyed('EchoCanceller');
    return this.exports;
  }
}

interface CheckedOptions {
  tailMs: number;
  suppression: boolean;
  frameSamples: 480 | 960;
}

function checkOptions(options: EchoCancellerOptions): CheckedOptions {
  const tailMs = options.tailMs ?? 200;
  if (!Number.isFinite(tailMs) || tailMs < 10 || tailMs > 1000) {
    throw new RangeError(`tailMs must be within 10–1000 ms, got ${String(options.tailMs)}`);
  }
  const suppression = options.suppression ?? true;
  if (typeof suppression !== 'boolean') throw new TypeError('suppression must be a boolean');
  const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
  if (frameSamples !== 480 && frameSamples !== 960) {
    throw new RangeError(`frameSamples must be 480 or 960, got ${String(options.frameSamples)}`);
  }
  return { tailMs, suppression, frameSamples };
}

function checkFrame(a: Float32Array, name: string, samples: number): void {
  if (!(a instanceof Float32Array) || a.length !== samples) {
    throw new RangeError(`${name} must be a Float32Array of ${samples} samples`);
  }
}
