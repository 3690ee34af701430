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
}

interface AecExports {
  memory: WebAssembly.Memory;
  init(partitions: number, suppression: number): void;
  micPtr(): number;
  refPtr(): number;
  outPtr(): number;
  statsPtr(): number;
  setSuppression(on: number): void;
  reset(): void;
  process(): void;
  processHalf(half: number): void;
}

/** Filter block (partition) length in samples: two per 20 ms frame. */
const BLOCK_SAMPLES = 480;

/**
 * Acoustic echo canceller, WASM SIMD (`build/aec.wasm`): a partitioned-block frequency-domain
 * adaptive filter (MDF) with foreground/background filters, Valin's double-talk-aware learning
 * rate and a residual echo suppressor. 48 kHz mono, 960-sample (20 ms) frames: `mic` is the
 * microphone, `ref` the far-end signal sent to the loudspeaker for the same 20 ms.
 *
 * Zero-allocation use on the audio thread: write `micView`/`refView`, call {@link process}, read
 * `outView`; or call {@link processFrame} with your own arrays (one copy each way). The output
 * lags the input by {@link latencySamples} (10 ms) because of the suppressor's overlap-add.
 * Diagnostics ({@link erleDb}, {@link doubleTalk}, …) are read from WASM memory per frame
 * without allocation. One instance per audio stream; not shareable between threads.
 */
export class EchoCanceller {
  /** Samples per frame (960). */
  readonly frameSamples = FRAME_SAMPLES;
  /** Delay of the output relative to the microphone input, in samples (480 = 10 ms). */
  readonly latencySamples = BLOCK_SAMPLES;
  /** Echo tail covered by the filter, in ms (rounded up to 10 ms partitions). */
  readonly tailMs: number;
  /** Microphone frame input (960 samples, view into WASM memory). */
  readonly micView: Float32Array;
  /** Far-end reference frame input (960 samples, view into WASM memory). */
  readonly refView: Float32Array;
  /** Echo-cancelled output frame (960 samples, view into WASM memory). */
  readonly outView: Float32Array;
  private readonly stats: Float32Array;
  private exports: AecExports | null;
  private suppressionOn: boolean;

  private constructor(instance: WebAssembly.Instance, tailMs: number, suppression: boolean) {
    const ex = instance.exports as unknown as AecExports;
    const partitions = Math.ceil((tailMs * SAMPLE_RATE_HZ) / 1000 / BLOCK_SAMPLES);
    ex.init(partitions, suppression ? 1 : 0);
    this.exports = ex;
    this.tailMs = (partitions * BLOCK_SAMPLES * 1000) / SAMPLE_RATE_HZ;
    this.suppressionOn = suppression;
    // Views are made after init: the stub runtime grew the memory there, never afterwards.
    const buf = ex.memory.buffer;
    this.micView = new Float32Array(buf, ex.micPtr(), FRAME_SAMPLES);
    this.refView = new Float32Array(buf, ex.refPtr(), FRAME_SAMPLES);
    this.outView = new Float32Array(buf, ex.outPtr(), FRAME_SAMPLES);
    this.stats = new Float32Array(buf, ex.statsPtr(), 4);
  }

  /**
   * Loads `build/aec.wasm` and creates a canceller (Node, async).
   * @throws {RangeError} when `tailMs` is outside 10–1000.
   * @throws {TypeError} when `suppression` is not a boolean.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be loaded.
   */
  static async create(options: EchoCancellerOptions = {}): Promise<EchoCanceller> {
    const { tailMs, suppression } = checkOptions(options);
    return new EchoCanceller(await loadKernel('aec'), tailMs, suppression);
  }

  /**
   * Creates a canceller synchronously from the kernel's bytes or compiled module (any thread,
   * including an AudioWorklet).
   * @throws {RangeError} when `tailMs` is outside 10–1000.
   * @throws {TypeError} when `suppression` is not a boolean.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be instantiated.
   */
  static createSync(source: WasmSource, options: EchoCancellerOptions = {}): EchoCanceller {
    const { tailMs, suppression } = checkOptions(options);
    return new EchoCanceller(instantiateKernelSync('aec', source), tailMs, suppression);
  }

  /**
   * Processes the frame in `micView`/`refView` into `outView`. Audio-thread safe: no allocation.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  process(): void {
    this.live().process();
  }

  /**
   * Processes one half of the frame in `micView`/`refView` (samples 0–479 for `half` 0,
   * 480–959 for 1) into the same half of `outView`. Half 0 then half 1 equals one
   * {@link process}: an audio thread can spread a frame's work over two render quanta.
   * Audio-thread safe: no allocation.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  processHalf(half: 0 | 1): void {
    this.live().processHalf(half);
  }

  /**
   * Copies `mic` and `ref` in, processes, copies the result to `out` (each 960 samples).
   * Audio-thread safe: no allocation.
   * @throws {RangeError} when an array does not hold exactly 960 samples.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  processFrame(mic: Float32Array, ref: Float32Array, out: Float32Array): void {
    const ex = this.live();
    checkFrame(mic, 'mic');
    checkFrame(ref, 'ref');
    checkFrame(out, 'out');
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

  /** True when the last block had far-end and near-end activity together. */
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

function checkOptions(options: EchoCancellerOptions): { tailMs: number; suppression: boolean } {
  const tailMs = options.tailMs ?? 200;
  if (!Number.isFinite(tailMs) || tailMs < 10 || tailMs > 1000) {
    throw new RangeError(`tailMs must be within 10–1000 ms, got ${String(options.tailMs)}`);
  }
  const suppression = options.suppression ?? true;
  if (typeof suppression !== 'boolean') throw new TypeError('suppression must be a boolean');
  return { tailMs, suppression };
}

function checkFrame(a: Float32Array, name: string): void {
  if (!(a instanceof Float32Array) || a.length !== FRAME_SAMPLES) {
    throw new RangeError(`${name} must be a Float32Array of ${FRAME_SAMPLES} samples`);
  }
}
