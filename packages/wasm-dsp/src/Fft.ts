import { DspError } from './DspError.js';
import { instantiateKernelSync, loadKernel, type WasmSource } from './wasmLoader.js';

/** Options of {@link Fft}. */
export interface FftOptions {
  /** Transform length in samples: a power of two in [16, 65536] (default 1024). */
  size?: number;
}

interface FftExports {
  memory: WebAssembly.Memory;
  init(size: number): void;
  timePtr(): number;
  rePtr(): number;
  imPtr(): number;
  forward(): void;
  inverse(): void;
}

/**
 * Real FFT/IFFT of a power-of-two size, WASM SIMD (`build/fft.wasm`), the kernel the echo
 * canceller uses internally. Data goes through preallocated views into WASM memory: write
 * `time`, call {@link forward}, read `re`/`im` (`bins = size/2 + 1` bins, unscaled); or write
 * `re`/`im`, call {@link inverse}, read `time` (scaled by 1/size). Audio-thread safe once
 * created: no allocation per call.
 */
export class Fft {
  /** Transform length in samples. */
  readonly size: number;
  /** Complex bins of a spectrum: `size / 2 + 1`. */
  readonly bins: number;
  /** Time-domain buffer (`size` samples): input of `forward`, output of `inverse`. */
  readonly time: Float32Array;
  /** Real parts of the spectrum (`bins` values). */
  readonly re: Float32Array;
  /** Imaginary parts of the spectrum (`bins` values). */
  readonly im: Float32Array;
  private exports: FftExports | null;

  private constructor(instance: WebAssembly.Instance, size: number) {
    const ex = instance.exports as unknown as FftExports;
    ex.init(size);
    this.exports = ex;
    this.size = size;
    this.bins = size / 2 + 1;
    const buf = ex.memory.buffer;
    this.time = new Float32Array(buf, ex.timePtr(), size);
    this.re = new Float32Array(buf, ex.rePtr(), this.bins);
    this.im = new Float32Array(buf, ex.imPtr(), this.bins);
  }

  /**
   * Loads `build/fft.wasm` and creates a transform (Node, async).
   * @throws {RangeError} when `size` is not a power of two in [16, 65536].
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be loaded.
   */
  static async create(options: FftOptions = {}): Promise<Fft> {
    const size = checkSize(options.size);
    return new Fft(await loadKernel('fft'), size);
  }

  /**
   * Creates a transform synchronously from the kernel's bytes or compiled module (any thread,
   * including an AudioWorklet).
   * @throws {RangeError} when `size` is not a power of two in [16, 65536].
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the kernel cannot be instantiated.
   */
  static createSync(source: WasmSource, options: FftOptions = {}): Fft {
    const size = checkSize(options.size);
    return new Fft(instantiateKernelSync('fft', source), size);
  }

  /**
   * Forward transform of `time` into `re`/`im`, unscaled.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  forward(): void {
    this.live().forward();
  }

  /**
   * Inverse transform of `re`/`im` into `time`, scaled by 1/size.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  inverse(): void {
    this.live().inverse();
  }

  /** Releases the WASM instance. Idempotent; later calls throw. */
  destroy(): void {
    this.exports = null;
  }

  private live(): FftExports {
    if (this.exports === null) throw DspError.destroyed('Fft');
    return this.exports;
  }
}

function checkSize(size: number | undefined): number {
  const n = size ?? 1024;
  if (!Number.isInteger(n) || n < 16 || n > 65_536 || (n & (n - 1)) !== 0) {
    throw new RangeError(`size must be a power of two in [16, 65536], got ${String(size)}`);
  }
  return n;
}
