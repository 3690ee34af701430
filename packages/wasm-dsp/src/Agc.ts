import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from './constants.js';
import { DspError } from './DspError.js';
import { compileKernel, toModule } from './kernelModule.js';
import { limiterParams, LIMITER_SUB_BLOCK_SAMPLES, type LimiterOptions } from './limiterOptions.js';
import { vadParams, type VadOptions } from './vadOptions.js';
import { instantiateKernelSync, type WasmSource } from './wasmLoader.js';

/** Options of {@link Agc}. */
export interface AgcOptions {
  /** Active-speech level to reach, in dBFS (default −18). */
  targetDbfs?: number;
  /** Least gain, in dB (default −20). */
  minGainDb?: number;
  /** Most gain, in dB (default +30). */
  maxGainDb?: number;
  /** Time constant of gain reductions (loud speech), in ms (default 100). */
  attackMs?: number;
  /** Time constant of gain increases (quiet speech), in ms (default 400). */
  releaseMs?: number;
  /** Memory of the speech-level estimate once settled, in ms of speech (default 2,000). */
  levelTimeConstantMs?: number;
  /** Gain before any speech was heard, in dB (default 0). */
  initialGainDb?: number;
  /**
   * Noise-aware gain cap: when {@link Agc.process} is given the frame's level before noise
   * suppression, the gain is capped so the background in the output stays at or below the
   * background before suppression — or below this level, in dBFS, where that is quieter still
   * (default −60; in [−120, 0]).
   */
  maxOutputNoiseDbfs?: number;
  /** Samples per frame, a multiple of 32 up to 8,192 (default 960: 20 ms at 48 kHz). */
  frameSamples?: number;
  /** The built-in energy VAD, used when {@link Agc.process} gets no speech probability. */
  vad?: VadOptions;
  /** The output limiter. */
  limiter?: LimiterOptions;
}

/** Validated AGC parameters in kernel order (see `configure` in assembly/agc.ts). */
export type AgcParams = [
  targetDbfs: number,
  minGainDb: number,
  maxGainDb: number,
  attackCoef: number,
  releaseCoef: number,
  levelAlphaMin: number,
  initialGainDb: number,
];

/**
 * Validates {@link AgcOptions} (without the VAD and limiter parts) for `frameSamples` frames.
 * @throws {RangeError} naming the option that is out of range.
 */
export function agcParams(frameSamples: number, o: AgcOptions = {}): AgcParams {
  const target = o.targetDbfs ?? -18;
  const minGain = o.minGainDb ?? -20;
  const maxGain = o.maxGainDb ?? 30;
  const attackMs = o.attackMs ?? 100;
  const releaseMs = o.releaseMs ?? 400;
  const levelMs = o.levelTimeConstantMs ?? 2000;
  const initial = o.initialGainDb ?? 0;
  if (!(target >= -60 && target <= -1)) {
    throw new RangeError(`targetDbfs must be in [-60, -1], got ${target}`);
  }
  if (!(minGain >= -60 && minGain <= 0)) {
    throw new RangeError(`minGainDb must be in [-60, 0], got ${minGain}`);
  }
  if (!(maxGain >= 0 && maxGain <= 60)) {
    throw new RangeError(`maxGainDb must be in [0, 60], got ${maxGain}`);
  }
  if (!(initial >= minGain && initial <= maxGain)) {
    throw new RangeError(`initialGainDb must be in [minGainDb, maxGainDb], got ${initial}`);
  }
  const frameMs = (frameSamples * 1000) / SAMPLE_RATE_HZ;
  for (const [name, ms] of [
    ['attackMs', attackMs],
    ['releaseMs', releaseMs],
    ['levelTimeConstantMs', levelMs],
  ] as const) {
    if (!(ms >= 1 && ms <= 60_000))
      throw new RangeError(`${name} must be in [1, 60000], got ${ms}`);
  }
  return [
    target,
    minGain,
    maxGain,
    1 - Math.exp(-frameMs / attackMs),
    1 - Math.exp(-frameMs / releaseMs),
    Math.min(1, frameMs / levelMs),
    initial,
  ];
}

/** Sub-window of the source floor's minimum tracking, in ms (8 of them: a 4 s window). */
const NOISE_SUB_WINDOW_MS = 500;
/** Time constant of the power smoothing before the minimum tracking, in ms. */
const NOISE_SMOOTH_MS = 60;
/** Time constant of the background attenuation estimate, in ms of background frames. */
const ATTENUATION_MS = 500;

/**
 * Validates the noise-cap option and returns `[maxOutputNoiseDbfs, subWindowFrames, smoothCoef, attCoef]` for
 * `frameSamples` frames (the kernel's `noiseCapConfigure` arguments).
 * @throws {RangeError} when `maxOutputNoiseDbfs` is out of range.
 */
export function noiseCapParams(
  frameSamples: number,
  o: AgcOptions = {},
): [maxOutputNoiseDbfs: number, subWindowFrames: number, smoothCoef: number, attCoef: number] {
  const maxNoise = o.maxOutputNoiseDbfs ?? -60;
  if (!(maxNoise >= -120 && maxNoise <= 0)) {
    throw new RangeError(`maxOutputNoiseDbfs must be in [-120, 0], got ${maxNoise}`);
  }
  const frameMs = (frameSamples * 1000) / SAMPLE_RATE_HZ;
  return [
    maxNoise,
    Math.max(1, Math.round(NOISE_SUB_WINDOW_MS / frameMs)),
    1 - Math.exp(-frameMs / NOISE_SMOOTH_MS),
    1 - Math.exp(-frameMs / ATTENUATION_MS),
  ];
}

interface AgcExports {
  memory: WebAssembly.Memory;
  init(samples: number): void;
  framePtr(): number;
  configure(...params: AgcParams): void;
  vadCoreConfigure(...params: number[]): void;
  limiterConfigure(knee: number, ceiling: number, release: number): void;
  limiterTakeMinGain(): number;
  reset(): void;
  process(n: number, external: number, limited: number, sourceDbfs: number): void;
  noiseCapConfigure(
    maxNoiseDbfs: number,
    subWindowFrames: number,
    smooth: number,
    attenuation: number,
  ): void;
  noiseGainCapDb(): number;
  sourceNoiseFloorDbfs(): number;
  backgroundAttenuationDb(): number;
  currentGainDb(): number;
  speechLevelDbfs(): number;
  vadCoreLevelDbfs(): number;
  vadCoreProbability(): number;
  vadCoreSpeaking(): number;
}

const KERNEL = 'agc';

/**
 * Automatic gain control (WASM kernel, 48 kHz mono, in place): brings active speech to
 * `targetDbfs` with bounded gain and separate attack/release. Only frames judged speech — by the
 * caller's probability (RNNoise's VAD) or the built-in energy VAD — move the speech-level
 * estimate, so noise and pauses never raise the gain. Given each frame's level before noise
 * suppression, it also caps the gain so the background in the talker's pauses comes out no
 * louder than it was before suppression (see {@link AgcOptions.maxOutputNoiseDbfs}): babble,
 * which RNNoise neither removes nor tells from the talker, is then not lifted with the talker.
 * A soft-knee limiter keeps every output sample below its ceiling. Write the frame into {@link frame}, call {@link process}, read the
 * frame back. Allocates once. Runs on the thread that created it (the audio thread for capture).
 */
export class Agc {
  /** Samples per frame. */
  readonly frameSamples: number;
  /** The frame processed in place by {@link process} (kernel memory). */
  readonly frame: Float32Array;
  /** Whether the output limiter runs (default true). */
  limiterEnabled = true;
  private exports: AgcExports | null;

  private constructor(instance: WebAssembly.Instance, options: AgcOptions) {
    const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
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
    const params = agcParams(frameSamples, options);
    const vad = vadParams(frameSamples, options.vad);
    const limiter = limiterParams(options.limiter);
    const ex = instance.exports as unknown as AgcExports;
    ex.init(frameSamples);
    ex.vadCoreConfigure(...vad);
    ex.limiterConfigure(limiter.knee, limiter.ceiling, limiter.releaseCoef);
    ex.configure(...params);
    ex.noiseCapConfigure(...noiseCapParams(frameSamples, options));
    this.exports = ex;
    this.frameSamples = frameSamples;
    this.frame = new Float32Array(ex.memory.buffer, ex.framePtr(), frameSamples);
  }

  /**
   * Creates an AGC in Node or a Worker (async: compiles the kernel once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: AgcOptions = {}): Promise<Agc> {
    return Agc.createSync(await compileKernel(KERNEL), options);
  }

  /**
   * Creates an AGC synchronously from the kernel's bytes or module (AudioWorklet).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(source: WasmSource, options: AgcOptions = {}): Agc {
    return new Agc(instantiateKernelSync(KERNEL, toModule(KERNEL, source)), options);
  }

  /**
   * Applies the gain to {@link frame} in place. `speechProbability` in [0, 1] (RNNoise's VAD)
   * gates the level estimate; omit it to use the built-in energy VAD. `sourceLevelDbfs` is the
   * RMS level of the same frame before noise suppression, in dBFS: given, it enables the
   * noise-aware gain cap; omitted, the gain is not capped by noise. No allocation.
   * @throws {RangeError} for a probability outside [0, 1] or a non-finite source level.
   * @throws {DspError} after destroy.
   */
  process(speechProbability?: number, sourceLevelDbfs?: number): Float32Array {
    const ex = this.live();
    if (speechProbability !== undefined && !(speechProbability >= 0 && speechProbability <= 1)) {
      throw new RangeError(`speechProbability must be in [0, 1], got ${speechProbability}`);
    }
    if (sourceLevelDbfs !== undefined && !Number.isFinite(sourceLevelDbfs)) {
      throw new RangeError(`sourceLevelDbfs must be a finite dBFS level, got ${sourceLevelDbfs}`);
    }
    ex.process(
      this.frameSamples,
      speechProbability ?? -1,
      this.limiterEnabled ? 1 : 0,
      sourceLevelDbfs ?? Number.NaN,
    );
    return this.frame;
  }

  /**
   * The noise-aware cap on the gain at the last frame, in dB (`maxGainDb` while no source level
   * is given).
   */
  get noiseGainCapDb(): number {
    return this.live().noiseGainCapDb();
  }
  /** Background level before noise suppression (minimum statistics), in dBFS. */
  get sourceNoiseFloorDbfs(): number {
    return this.live().sourceNoiseFloorDbfs();
  }
  /** What noise suppression takes off the background, as estimated for the cap, in dB. */
  get backgroundAttenuationDb(): number {
    return this.live().backgroundAttenuationDb();
  }

  /** Gain applied at the end of the last frame, in dB (before the limiter). */
  get gainDb(): number {
    return this.live().currentGainDb();
  }
  /** Estimated active-speech level of the input, in dBFS (−120 before any speech). */
  get speechLevelDbfs(): number {
    return this.live().speechLevelDbfs();
  }
  /** RMS level of the last input frame, in dBFS. */
  get inputLevelDbfs(): number {
    return this.live().vadCoreLevelDbfs();
  }
  /** Speech probability that gated the last frame, in [0, 1]. */
  get speechProbability(): number {
    return this.live().vadCoreProbability();
  }

  /**
   * Deepest limiter gain reduction since the last call, in dB (≥ 0). For stats, a few times
   * per second.
   */
  takeLimiterReductionDb(): number {
    return Math.max(0, -20 * Math.log10(this.live().limiterTakeMinGain()));
  }

  /** Forgets the speech level, the VAD state and the limiter state; gain back to initial. */
  reset(): void {
    const ex = this.live();
    ex.reset();
  }

  /** Releases the kernel; idempotent. Every other member then throws `DspError`. */
  destroy(): void {
    this.exports = null;
  }

  private live(): AgcExports {
    if (this.exports === null) throw DspError.destroyed('Agc');
    return this.exports;
  }
}
