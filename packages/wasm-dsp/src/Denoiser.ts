import { RNNOISE_FRAME_SAMPLES } from './constants.js';
import { DspError } from './DspError.js';
import {
  readRnnoiseSource,
  RnnoiseWasm,
  type DenoiserModel,
  type RnnoiseWasmSource,
} from './RnnoiseWasm.js';

/** Options of {@link Denoiser.create}. */
export interface DenoiserOptions {
  /** RNNoise model; defaults to {@link DEFAULT_DENOISER_MODEL}. */
  model?: DenoiserModel;
  /**
   * {@link Denoiser.create} only: for `'fast'`, whether to load the WASM SIMD build (default:
   * whenever the engine has WASM SIMD); see `readRnnoiseSource`.
   */
  simd?: boolean;
}

/**
 * Default RNNoise model, chosen from measurements on this machine kind (`test/denoiser.test.ts`
 * scenarios: 8 s of espeak-ng speech, noise at 5 dB SNR against the active speech level; SI-SDR
 * gain after cross-correlation alignment; noise attenuation in speech pauses; CPU per 20 ms from
 * `bench/dsp/codecs.bench.ts`, all builds interleaved in one run):
 *
 * | measure                        | fast (rnnoise 0.1)       | quality (rnnoise 0.2) |
 * | ------------------------------ | ------------------------ | --------------------- |
 * | SI-SDR gain, white noise       | +9.4 dB                  | +10.0 dB              |
 * | SI-SDR gain, pink noise        | +6.6 dB                  | +7.2 dB               |
 * | SI-SDR gain, 4-voice babble    | −0.2 dB                  | +1.2 dB               |
 * | pause attenuation, white/pink  | 36 / 32 dB               | 83 / 83 dB            |
 * | delay                          | 10 ms                    | 20 ms                 |
 * | µs per 20 ms, same run, loaded | 173 SIMD / 267 no SIMD   | 749                   |
 *
 * `'fast'` runs `@shiguredo/rnnoise-wasm`'s WASM SIMD build wherever the engine has SIMD (every
 * current browser, Node ≥ 16): 1.5× faster than `@jitsi/rnnoise-wasm`'s build of the same model,
 * with the same output (to 2e-7) and delay. (The CPU figures come from a shared 2-core machine
 * under other work; ENVIRONMENT.md's quiet figure for the no-SIMD build is 242 µs.)
 *
 * `'fast'` is the default: it meets every quality goal (≥ 8 / ≥ 6 / ≥ 25 dB), and `'quality'`'s
 * +0.6 dB on stationary noise and +1.4 dB on babble (where neither really helps) cost over 4× the
 * CPU and 10 ms more delay on every call's mouth-to-ear path. `'quality'` is the better choice
 * for recordings or when pauses must be near-silent (83 vs 32–36 dB).
 */
export const DEFAULT_DENOISER_MODEL: DenoiserModel = 'fast';

/**
 * Delay from input to output per model, in samples at 48 kHz, measured by cross-correlation of
 * clean speech against the denoised output (`test/denoiser.test.ts`, every build). The wrapper
 * adds none: it processes each 480-sample half of a frame in place. `'fast'` (rnnoise 0.1, both
 * builds) delays by one RNNoise frame (10 ms: its analysis window is two frames long and the
 * output is overlap-added half a window late); `'quality'` (rnnoise 0.2) by two (20 ms).
 */
export const DENOISER_DELAY_SAMPLES: Readonly<Record<DenoiserModel, number>> = {
  fast: RNNOISE_FRAME_SAMPLES,
  quality: 2 * RNNOISE_FRAME_SAMPLES,
};

/** RNNoise's scale: it was trained on 16-bit PCM values, so [-1, 1] maps to [-32768, 32768]. */
const PCM16_SCALE = 32_768;

/** Largest frame {@link Denoiser.process} accepts: 20 ms = two RNNoise frames. */
const MAX_FRAMES_PER_CALL = 2;

const sourceCache = new Map<string, Promise<RnnoiseWasmSource>>();

/**
 * RNNoise noise suppression on 48 kHz mono float frames (`@shiguredo/rnnoise-wasm`'s SIMD build
 * or `@jitsi/rnnoise-wasm`'s builds, see {@link DenoiserModel}).
 *
 * Takes 20 ms (960-sample) or 10 ms (480-sample) frames, runs them as RNNoise's 480-sample frames
 * in preallocated buffers inside the RNNoise module's heap, and returns a speech probability.
 * Adds no buffering of its own: its delay is RNNoise's, {@link DENOISER_DELAY_SAMPLES}.
 *
 * Threads: `create` on any thread with Node's fs (Node, bots, tests); `createSync` anywhere,
 * including an AudioWorklet. `process` is audio-thread safe: no allocation, no logging.
 *
 * In a browser, the main thread fetches the build's files and passes the parsed source to the
 * worklet, which instantiates synchronously (`addModule` does not await promises):
 * ```ts
 * // main thread ('fast' with SIMD: @shiguredo/rnnoise-wasm/dist/rnnoise_simd.wasm)
 * const bytes = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());
 * const source = wasmSimdSupported()
 *   ? simdRnnoiseSource(await bytes(rnnoiseSimdWasmUrl))
 *   : parseRnnoiseGlue('fast', await (await fetch(jitsiGlueUrl)).text(), await bytes(jitsiWasmUrl));
 * // 'quality': parseRnnoiseGlue('quality', <text of jitsi's rnnoise-sync.js>)
 * new AudioWorkletNode(ctx, 'capture', { processorOptions: { source } });
 * // worklet constructor
 * this.denoiser = Denoiser.createSync(options.processorOptions.source);
 * ```
 */
export class Denoiser {
  /** The RNNoise model this denoiser runs. */
  readonly model: DenoiserModel;
  /** Whether its build uses WASM SIMD. */
  readonly simd: boolean;
  /** Input-to-output delay in samples at 48 kHz ({@link DENOISER_DELAY_SAMPLES} of the model). */
  readonly delaySamples: number;
  private readonly runtime: RnnoiseWasm;
  private statePtr: number;
  private readonly inPtr: number;
  private readonly outPtr: number;
  private destroyed = false;

  private constructor(runtime: RnnoiseWasm) {
    this.runtime = runtime;
    this.model = runtime.model;
    this.simd = runtime.simd;
    this.delaySamples = DENOISER_DELAY_SAMPLES[runtime.model];
    // One malloc for both buffers; freed in destroy(). Float pointers must be 4-byte aligned
    // (emmalloc returns 8-byte aligned blocks).
    const bytes = RNNOISE_FRAME_SAMPLES * 4;
    const block = runtime.malloc(2 * bytes);
    if (block === 0) throw DspError.codec('rnnoise: malloc failed');
    this.inPtr = block;
    this.outPtr = block + bytes;
    // NULL model: the build's built-in weights.
    this.statePtr = runtime.create(0);
    if (this.statePtr === 0) {
      runtime.free(block);
      throw DspError.codec('rnnoise: rnnoise_create failed');
    }
  }

  /**
   * Loads the RNNoise build from the installed package and creates a denoiser. The compiled
   * module and its instance are cached per model, so later calls cost only `rnnoise_create`.
   * Node/Worker with Node's fs; async.
   * @throws {RangeError} when `opts.model` is not `'fast'` or `'quality'`.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the package cannot be loaded.
   */
  static async create(opts: DenoiserOptions = {}): Promise<Denoiser> {
    const model = checkModel(opts.model);
    const read = opts.simd === undefined ? {} : { simd: opts.simd };
    const key = `${model}/${String(opts.simd)}`;
    let pending = sourceCache.get(key);
    if (pending === undefined) {
      pending = readRnnoiseSource(model, read).then((s) => ({
        ...s,
        wasm: s.wasm instanceof WebAssembly.Module ? s.wasm : new WebAssembly.Module(s.wasm),
      }));
      sourceCache.set(key, pending);
      pending.catch(() => sourceCache.delete(key));
    }
    return Denoiser.createSync(await pending, { model });
  }

  /**
   * Creates a denoiser synchronously from a source built on the main thread by
   * `readRnnoiseSource`/`parseRnnoiseGlue` (e.g. passed in `processorOptions`). Denoisers
   * created from the same `source` object (or the same compiled module in `source.wasm`) share
   * one RNNoise instance per thread. Any thread, including an AudioWorklet.
   * @throws {RangeError} when `opts.model` is given and differs from `source.model`.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when instantiation fails,
   *   `CONCORD_ERR_DSP_CODEC` when RNNoise cannot allocate its state.
   */
  static createSync(source: RnnoiseWasmSource, opts: DenoiserOptions = {}): Denoiser {
    if (opts.model !== undefined && checkModel(opts.model) !== source.model) {
      throw new RangeError(
        `opts.model '${opts.model}' does not match source.model '${source.model}'`,
      );
    }
    return new Denoiser(RnnoiseWasm.fromSource(source));
  }

  /**
   * Denoises one frame of 48 kHz mono samples in [-1, 1]: 960 samples (20 ms) or 480 (10 ms).
   * `output` may be `input` (in place). Returns the speech probability in [0, 1]: the maximum of
   * RNNoise's per-10 ms VAD outputs, so a word starting in the second half of a 20 ms frame still
   * marks the frame as speech (a mean would halve the onset; speaking indicators add hangover).
   * Audio-thread safe: allocates nothing.
   * @throws {RangeError} when a length is not 480 or 960 or the lengths differ.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link Denoiser.destroy}.
   */
  process(input: Float32Array, output: Float32Array = input): number {
    if (this.destroyed) throw DspError.destroyed('Denoiser');
    const n = input.length;
    if (
      (n !== RNNOISE_FRAME_SAMPLES && n !== RNNOISE_FRAME_SAMPLES * MAX_FRAMES_PER_CALL) ||
      output.length !== n
    ) {
      throw new RangeError(
        `input and output must both hold 480 or 960 samples, got ${n} and ${output.length}`,
      );
    }
    const rt = this.runtime;
    let vad = 0;
    for (let start = 0; start < n; start += RNNOISE_FRAME_SAMPLES) {
      // Fetched per sub-frame: a heap growth inside RNNoise would detach an older view.
      let heap = rt.heapF32();
      let at = this.inPtr >> 2;
      for (let i = 0; i < RNNOISE_FRAME_SAMPLES; i++)
        heap[at + i] = input[start + i]! * PCM16_SCALE;
      const p = rt.processFrame(this.statePtr, this.outPtr, this.inPtr);
      if (p > vad) vad = p;
      heap = rt.heapF32();
      at = this.outPtr >> 2;
      for (let i = 0; i < RNNOISE_FRAME_SAMPLES; i++)
        output[start + i] = heap[at + i]! / PCM16_SCALE;
    }
    return vad;
  }

  /**
   * Bytes of the RNNoise module's heap shared by this thread's denoisers of the same build.
   * Diagnostics and leak tests; any thread.
   */
  get heapBytes(): number {
    return this.runtime.heapBytes;
  }

  /** Whether {@link Denoiser.destroy} has run. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * Frees the RNNoise state and buffers (`rnnoise_destroy` + `free`). Idempotent; any thread.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.runtime.destroy(this.statePtr);
    this.runtime.free(this.inPtr);
    this.statePtr = 0;
  }
}

function checkModel(model: DenoiserModel | undefined): DenoiserModel {
  if (model === undefined) return DEFAULT_DENOISER_MODEL;
  if (model !== 'fast' && model !== 'quality') {
    throw new RangeError(`model must be 'fast' or 'quality', got ${String(model)}`);
  }
  return model;
}

export type { DenoiserModel, RnnoiseWasmSource } from './RnnoiseWasm.js';
