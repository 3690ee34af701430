import { Agc, type AgcOptions } from './Agc.js';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from './constants.js';
import { Denoiser, type DenoiserModel } from './Denoiser.js';
import { DspError } from './DspError.js';
import { EchoCanceller, type EchoCancellerOptions } from './EchoCanceller.js';
import { compileKernel } from './kernelModule.js';
import { readRnnoiseSource, type RnnoiseWasmSource } from './RnnoiseWasm.js';
import {
  VoiceActivityDetector,
  type VoiceActivityDetectorOptions,
} from './VoiceActivityDetector.js';
import type { WasmSource } from './wasmLoader.js';

/** The stages of the capture chain, in processing order. */
export const CAPTURE_STAGES = ['aec', 'ns', 'agc', 'vad'] as const;
/** One stage: echo cancellation, noise suppression (RNNoise), gain control, level/VAD. */
export type CaptureStage = (typeof CAPTURE_STAGES)[number];

/** Options of a {@link CaptureChain}. */
export interface CaptureChainOptions {
  /** Which stages start enabled (default: all). Switch later with `setStageEnabled`. */
  stages?: Partial<Record<CaptureStage, boolean>>;
  /** RNNoise build for the `ns` stage (default `'fast'`, see `DEFAULT_DENOISER_MODEL`). */
  nsModel?: DenoiserModel;
  /** Echo canceller settings. */
  aec?: EchoCancellerOptions;
  /** AGC settings. */
  agc?: AgcOptions;
  /** Level meter / VAD settings (used when `ns` is off; RNNoise's VAD drives it otherwise). */
  vad?: VoiceActivityDetectorOptions;
  /** Clock for per-stage timing, in ms (default `performance.now`; AudioWorklets lack it). */
  now?: () => number;
  /**
   * Samples per frame: 960 (20 ms, default) or 480 (10 ms). With 480, each {@link
   * CaptureChain.process} runs one 10 ms frame through every stage (the echo canceller, which
   * works on 20 ms frames, takes alternate halves of its frame, exactly as {@link
   * CaptureChain.processHalf} does) and AGC and level/VAD run per 10 ms.
   */
  frameSamples?: 480 | 960;
}

/** The compiled modules a chain needs, for synchronous creation on an audio thread. */
export interface CaptureChainSources {
  aec: WasmSource;
  agc: WasmSource;
  vad: WasmSource;
  rnnoise: RnnoiseWasmSource;
}

/**
 * Per-frame results, updated in place by {@link CaptureChain.process} (read them before the
 * next call; copy what you keep).
 */
export interface CaptureFrameReport {
  /** RMS level of the processed frame, in dBFS (−120 for silence). */
  levelDbfs: number;
  /** Speech probability in [0, 1] (RNNoise's VAD when `ns` is on, the energy VAD otherwise). */
  speechProbability: number;
  /** Speaking decision with hangover (false when the `vad` stage is off). */
  speaking: boolean;
  /** Processing time of each stage for this frame, in µs, indexed like {@link CAPTURE_STAGES}. */
  readonly stageUs: Float64Array;
  /** Whole-chain processing time for this frame, in µs. */
  totalUs: number;
}

const defaultNow = (): (() => number) => {
  const perf = (globalThis as { performance?: { now(): number } }).performance;
  return perf ? () => perf.now() : () => Date.now();
};

/**
 * The capture chain on 20 ms (or 10 ms, {@link CaptureChainOptions.frameSamples}) frames at
 * 48 kHz: echo canceller → RNNoise → AGC → level/VAD, each stage switchable at runtime. Write the
 * microphone frame into {@link input} and the far-end (playback) frame of the same time into
 * {@link reference}, call {@link process}, read
 * {@link output} and the report. The same object runs in the capture AudioWorklet, in Node bots
 * and in the `concord-dsp` CLI. Allocation happens only at creation; `process` is audio-thread
 * safe. One instance per microphone stream.
 */
export class CaptureChain {
  /** Samples per frame (960 or 480, see {@link CaptureChainOptions.frameSamples}). */
  readonly frameSamples: number;
  /** Microphone frame ({@link frameSamples} samples). */
  readonly input: Float32Array;
  /** Far-end reference frame ({@link frameSamples} samples): what the loudspeaker played. */
  readonly reference: Float32Array;
  /** Processed frame ({@link frameSamples} samples). */
  readonly output: Float32Array;
  /** Results of the last frame. */
  readonly report: CaptureFrameReport = {
    levelDbfs: -120,
    speechProbability: 0,
    speaking: false,
    stageUs: new Float64Array(CAPTURE_STAGES.length),
    totalUs: 0,
  };
  private readonly enabled: Record<CaptureStage, boolean>;
  private readonly work: Float32Array;
  // 480-sample frames: which half of the echo canceller's 20 ms frame the next frame is.
  private aecHalf: 0 | 1 = 0;
  // Views of each 10 ms half, made once: subarray() allocates, and this runs per frame.
  private readonly halves: readonly [HalfViews, HalfViews];
  private halfProbability = -1;
  // Sum of squares of the frame before noise suppression (after the echo canceller): the AGC's
  // noise-aware gain cap compares the background there with the background it is given.
  private sourceEnergy = 0;
  private readonly now: () => number;
  private destroyed = false;
  private farEndHangoverFrames = 0;
  private readonly farEndTailFrames: number;

  private constructor(
    private readonly aec: EchoCanceller,
    private readonly ns: Denoiser,
    private readonly agc: Agc,
    private readonly vad: VoiceActivityDetector,
    options: CaptureChainOptions,
  ) {
    this.enabled = { aec: true, ns: true, agc: true, vad: true, ...options.stages };
    this.now = options.now ?? defaultNow();
    const n = checkFrameSamples(options.frameSamples);
    this.frameSamples = n;
    this.input = new Float32Array(n);
    this.reference = new Float32Array(n);
    this.output = new Float32Array(n);
    this.work = new Float32Array(n);
    this.farEndTailFrames = Math.ceil((aec.tailMs * SAMPLE_RATE_HZ) / 1000 / n);
    const half = (i: 0 | 1): HalfViews => {
      const from = i * HALF_FRAME_SAMPLES;
      const to = from + HALF_FRAME_SAMPLES;
      // With 10 ms frames every frame is a whole half: only the echo canceller's views alternate.
      const own = n === HALF_FRAME_SAMPLES ? [0, n] : [from, to];
      return {
        input: this.input.subarray(own[0], own[1]),
        reference: this.reference.subarray(own[0], own[1]),
        work: this.work.subarray(own[0], own[1]),
        aecMic: aec.micView.subarray(from, to),
        aecRef: aec.refView.subarray(from, to),
        aecOut: aec.outView.subarray(from, to),
      };
    };
    this.halves = [half(0), half(1)];
  }

  /**
   * Creates a chain in Node or a Worker (async: compiles/loads every module once per process).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async create(options: CaptureChainOptions = {}): Promise<CaptureChain> {
    return CaptureChain.createSync(await CaptureChain.loadSources(options.nsModel), options);
  }

  /**
   * Loads the compiled modules a chain needs (Node/Worker), e.g. to post them to an AudioWorklet
   * in `processorOptions` and create the chain there with {@link createSync}.
   */
  static async loadSources(nsModel: DenoiserModel = 'fast'): Promise<CaptureChainSources> {
    const [aec, agc, vad, rnnoise] = await Promise.all([
      compileKernel('aec'),
      compileKernel('agc'),
      compileKernel('vad'),
      readRnnoiseSource(nsModel),
    ]);
    return { aec, agc, vad, rnnoise };
  }

  /**
   * Creates a chain synchronously from compiled modules or bytes (AudioWorklet).
   * @throws {RangeError} for bad options. @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static createSync(sources: CaptureChainSources, options: CaptureChainOptions = {}): CaptureChain {
    const created: Array<{ destroy(): void }> = [];
    try {
      const aec = EchoCanceller.createSync(sources.aec, options.aec);
      created.push(aec);
      const ns = Denoiser.createSync(
        sources.rnnoise,
        options.nsModel ? { model: options.nsModel } : {},
      );
      created.push(ns);
      const frameSamples = checkFrameSamples(options.frameSamples);
      const agc = Agc.createSync(sources.agc, { ...options.agc, frameSamples });
      created.push(agc);
      const vad = VoiceActivityDetector.createSync(sources.vad, { ...options.vad, frameSamples });
      return new CaptureChain(aec, ns, agc, vad, options);
    } catch (err) {
      for (const c of created) c.destroy();
      throw err;
    }
  }

  /** Whether `stage` runs. */
  isStageEnabled(stage: CaptureStage): boolean {
    return this.enabled[stage];
  }

  /**
   * Switches a stage on or off from the next frame. A stage switched on starts from a clean
   * state (an echo path learnt long ago would be wrong). Audio-thread safe.
   * @throws {RangeError} for an unknown stage.
   */
  setStageEnabled(stage: CaptureStage, on: boolean): void {
    if (!(stage in this.enabled))
      throw new RangeError(
        `stage must be one of ${CAPTURE_STAGES.join(', ')}, got ${String(stage)}`,
      );
    if (on && !this.enabled[stage]) {
      if (stage === 'aec') {
        this.aec.reset();
        this.aecHalf = 0;
      } else if (stage === 'agc') this.agc.reset();
      else if (stage === 'vad') this.vad.reset();
    }
    this.enabled[stage] = on;
  }

  /**
   * Processes {@link input} (with {@link reference}) into {@link output} and updates
   * {@link report}: `processHalf(0)` then `processHalf(1)`. Audio-thread safe: no allocation,
   * no logging.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   */
  process(): CaptureFrameReport {
    if (this.frameSamples === HALF_FRAME_SAMPLES) {
      const half = this.aecHalf;
      if (this.enabled.aec) this.aecHalf = half === 0 ? 1 : 0;
      return this.step(half, true)!;
    }
    this.step(0, false);
    return this.step(1, true)!;
  }

  /**
   * Input-to-output delay of the chain with its current stages, in samples at 48 kHz: the echo
   * canceller's (`EchoCanceller.latencySamples`) plus RNNoise's (`DENOISER_DELAY_SAMPLES`); AGC
   * and level/VAD add none (no look-ahead beyond the frame), nor does the chain (no buffering).
   */
  get delaySamples(): number {
    return (
      (this.enabled.aec ? this.aec.latencySamples : 0) +
      (this.enabled.ns ? this.ns.delaySamples : 0)
    );
  }

  /**
   * Processes one 10 ms half of the frame, so an audio thread can spread a frame's work over two
   * render quanta (half the frame's cost in each, instead of all of it in one): half 0 needs
   * samples 0–479 of {@link input} and {@link reference} and runs the echo canceller and RNNoise
   * on them; half 1 needs the rest, runs the same on it, then AGC and level/VAD on the whole
   * frame, fills {@link output} and returns the report. The result is identical to
   * {@link process}. Audio-thread safe: no allocation, no logging. 960-sample frames only.
   * @throws {DspError} `CONCORD_ERR_DSP_DESTROYED` after {@link destroy}.
   * @throws {RangeError} when the chain runs 480-sample frames.
   */
  processHalf(half: 0 | 1): CaptureFrameReport | undefined {
    if (this.frameSamples !== FRAME_SAMPLES) {
      throw new RangeError('processHalf needs 960-sample frames; with 480, call process()');
    }
    return this.step(half, half === 1);
  }

  // Runs the echo canceller's `half` and RNNoise on this frame's part; on the frame's last part
  // (`last`), AGC and level/VAD on the whole frame too, and returns the report.
  private step(half: 0 | 1, last: boolean): CaptureFrameReport | undefined {
    if (this.destroyed) throw DspError.destroyed('CaptureChain');
    const first = this.frameSamples === HALF_FRAME_SAMPLES || half === 0;
    const { report, enabled } = this;
    const stageUs = report.stageUs;
    const h = this.halves[half];
    const t0 = this.now();
    let t = t0;
    if (first) {
      stageUs.fill(0);
      report.totalUs = 0;
      this.halfProbability = -1;
      this.sourceEnergy = 0;
    }

    let src = h.input;
    if (enabled.aec) {
      h.aecMic.set(h.input);
      h.aecRef.set(h.reference);
      this.aec.processHalf(half);
      src = h.aecOut;
    }
    let now = this.now();
    if (enabled.aec) stageUs[0]! += (now - t) * 1000;
    t = now;

    if (enabled.agc) this.sourceEnergy += energy(src);
    if (enabled.ns) {
      const p = this.ns.process(src, h.work);
      // The frame's speech probability is the louder half's, as Denoiser reports for 20 ms.
      if (p > this.halfProbability) this.halfProbability = p;
    } else h.work.set(src);
    now = this.now();
    if (enabled.ns) stageUs[1]! += (now - t) * 1000;
    report.totalUs += (now - t0) * 1000;
    if (!last) return undefined;
    t = now;
    const tAfterNs = now;

    let probability = this.halfProbability;
    let frame: Float32Array = this.work;
    // While only the far end talks, what is left after the echo canceller is residual echo,
    // not the local talker: it must neither drive the AGC's gain up (measured: +30 dB of gain
    // undid 30 dB of echo cancellation) nor light the speaking indicator.
    // The far end counts as active for one echo tail after it stops: reverberation lingers.
    if (rms(this.reference) > FAR_END_ACTIVE_RMS) this.farEndHangoverFrames = this.farEndTailFrames;
    else if (this.farEndHangoverFrames > 0) this.farEndHangoverFrames--;
    const echoOnly = enabled.aec && this.farEndHangoverFrames > 0 && !this.aec.doubleTalk;
    if (echoOnly) probability = 0;

    if (enabled.agc) {
      this.agc.frame.set(frame);
      const sourceDbfs = energyDbfs(this.sourceEnergy, this.frameSamples);
      this.agc.process(probability >= 0 ? probability : undefined, sourceDbfs);
      frame = this.agc.frame;
    }
    now = this.now();
    if (enabled.agc) stageUs[2] = (now - t) * 1000;
    t = now;

    this.output.set(frame);
    if (enabled.vad) {
      this.vad.frame.set(frame);
      this.vad.process(probability >= 0 ? probability : undefined);
      report.levelDbfs = this.vad.levelDbfs;
      report.speechProbability = this.vad.speechProbability;
      report.speaking = this.vad.speaking;
    } else {
      report.levelDbfs = levelDbfs(frame);
      report.speechProbability = probability >= 0 ? probability : 0;
      report.speaking = false;
    }
    now = this.now();
    if (enabled.vad) stageUs[3] = (now - t) * 1000;
    report.totalUs += (now - tAfterNs) * 1000;
    return report;
  }

  /** Releases every stage (idempotent). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.aec.destroy();
    this.ns.destroy();
    this.agc.destroy();
    this.vad.destroy();
  }
}

/** Samples in half a frame (10 ms at 48 kHz): the unit of {@link CaptureChain.processHalf}. */
export const HALF_FRAME_SAMPLES = FRAME_SAMPLES / 2;

function checkFrameSamples(n: number | undefined): number {
  if (n === undefined) return FRAME_SAMPLES;
  if (n !== FRAME_SAMPLES && n !== HALF_FRAME_SAMPLES) {
    throw new RangeError(`frameSamples must be 480 or 960, got ${String(n)}`);
  }
  return n;
}

interface HalfViews {
  input: Float32Array;
  reference: Float32Array;
  work: Float32Array;
  aecMic: Float32Array;
  aecRef: Float32Array;
  aecOut: Float32Array;
}

// −60 dBFS: below this the far end is silent (comfort noise at most).
const FAR_END_ACTIVE_RMS = 1e-3;

function rms(frame: Float32Array): number {
  let s = 0;
  for (let i = 0; i < frame.length; i++) s += frame[i]! * frame[i]!;
  return Math.sqrt(s / frame.length);
}

function energy(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

function energyDbfs(sumSquares: number, samples: number): number {
  return sumSquares > 0 ? Math.max(10 * Math.log10(sumSquares / samples), -120) : -120;
}

function levelDbfs(frame: Float32Array): number {
  let s = 0;
  for (let i = 0; i < frame.length; i++) s += frame[i]! * frame[i]!;
  return s > 0 ? 10 * Math.log10(s / frame.length) : -120;
}
