import { FRAME_SAMPLES } from './constants.js';
import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import { vadParams, type VadOptions } from './vadOptions.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** Options of {@link VoiceActivityDetector}. */
export interface VoiceActivityDetectorOptions extends VadOptions {
  /** Samples per frame (default 960: 20 ms at 48 kHz), up to 8,192. */
  frameSamples?: number;
}

interface VadExports {
  memory: WebAssembly.Memory;
  init(samples: number): void;
  framePtr(): number;
  configure(...params: number[]): void;
  reset(): void;
  process(n: number, external: number): void;
  levelDbfs(): number;
  peakDbfs(): number;
  noiseDbfs(): number;
  probability(): number;
  speaking(): number;
}

const KERNEL = 'vad';

/**
 * Level meter and voice-activity detector for speaking indicators (WASM kernel, 48 kHz mono).
 * Per frame: RMS and peak in dBFS, and a speech probability — the caller's (RNNoise's VAD output
 * when denoising is on) or, without one, an energy detector: speech-band (≈ 0.4–2.5 kHz) energy
 * against a minimum-tracking noise floor. `speaking` holds through pauses shorter than the
 * hangover. Write the frame into {@link frame}, call {@link process}, read the getters.
 * Allocates once. Runs on the thread that created it.
 */
export class VoiceActivityDetector {
  /** Samples per frame. */
  readonly frameSamples: number;
  /** The next frame to measure (kernel memory). */
  readonly frame: Float32Array;
  private exports: VadExports | null;

  private constructor(instance: WebAssembly.Instance, options: VoiceActivityDetectorOptions) {
    const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    if (!Number.isInteger(frameSamples) || frameSamples < 1 || frameSamples > 8192) {
      throw new RangeError(`frameSamples must be an integer in [1, 8192], got ${frameSamples}`);
    }
    const params = vadParams(frameSamples, options);
    const ex = instance.exports as unknown as VadExports;
    ex.init(frameSamples);
    ex.configure(...params);
    this.exports = ex;
    this.frameSamples = frameSamples;
    this.frame = new Float32Array(ex.memory.buffer, ex.framePtr(), frameSamples);
  }

  /**
   * Creates a detector in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: VoiceActivityDetectorOptions = {}): Promise<VoiceActivityDetector> {
    return VoiceActivityDetector.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates a detector synchronously from the kernel's bytes or module (AudioWorklet).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(
    source: WasmSource,
    options: VoiceActivityDetectorOptions = {},
  ): VoiceActivityDetector {
    return new VoiceActivityDetector(
      instantiateKernelSync(KERNEL, toModule(KERNEL, source)),
      options,
    );
  }

  /**
   * Measures {@link frame}. `speechProbability` in [0, 1] (e.g. RNNoise's) replaces the energy
   * detector; omit it to use the detector. No allocation.
   * @throws {RangeError} for a probability outside [0, 1]. @throws {DspError} after destroy.
   */
  process(speechProbability?: number): void {
    const ex = this.live();
    if (speechProbability !== undefined && !(speechProbability >= 0 && speechProbability <= 1)) {
      throw new RangeError(`speechProbability must be in [0, 1], got ${speechProbability}`);
    }
    ex.process(this.frameSamples, speechProbability ?? -1);
  }

  /** RMS level of the last frame, in dBFS (1.0 RMS = 0 dBFS; −120 for silence). */
  get levelDbfs(): number {
    return this.live().levelDbfs();
  }
  /** Peak of the last frame, in dBFS. */
  get peakDbfs(): number {
    return this.live().peakDbfs();
  }
  /** Speech probability of the last frame, in [0, 1]. */
  get speechProbability(): number {
    return this.live().probability();
  }
  /** Whether someone is speaking (the last frame was speech, or one within the hangover). */
  get speaking(): boolean {
    return this.live().speaking() !== 0;
  }
  /** Estimated noise floor in the speech band, in dBFS. */
  get noiseFloorDbfs(): number {
    return this.live().noiseDbfs();
  }

  /** Forgets the noise floor and the hangover. */
  reset(): void {
    this.live().reset();
  }

  /** Releases the kernel; idempotent. Every other member then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private live(): VadExports {
    if (this.exports === null) throw DspError.destroyed('VoiceActivityDetector');
    return this.exports;
  }
}
