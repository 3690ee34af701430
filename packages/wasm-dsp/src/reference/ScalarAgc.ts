import { agcParams, noiseCapParams, type AgcOptions } from '../Agc.js';
import { limiterParams } from '../limiterOptions.js';
import { vadParams } from '../vadOptions.js';
import { ScalarLimiter } from './ScalarLimiter.js';
import { ScalarVad } from './ScalarVad.js';

const f = Math.fround;
const SETTLED_FRAMES = 25;
const WEAK_FRAME_RATIO = 0.05;
const NOISE_SUB_WINDOWS = 8;

const powerDbfs = (p: number): number => (p > 1e-12 ? 10 * Math.log10(p) : -120);

/**
 * Plain-TS reference of the AGC kernel (assembly/agc.ts), operation for operation with the same
 * f32 roundings on samples. Tests and benchmarks only.
 */
export class ScalarAgc {
  gainDb: number;
  readonly vad: ScalarVad;
  private readonly params;
  private readonly limiter: ScalarLimiter;
  private speechFrames = 0;
  private levelPower = 0;
  private targetGainDb: number;
  private appliedGain: number;
  private readonly noise;
  private sourcePower = -1;
  private inputPower = -1;
  private readonly subMins = { source: [] as number[], input: [] as number[] };
  private framesInSub = 0;
  private subAt = 0;
  private sourceSubMin = 0;
  private inputSubMin = 0;
  /** Noise floors (dBFS) and the noise-aware gain cap (dB) after the last frame. */
  sourceFloorDbfs = -120;
  inputFloorDbfs = -120;
  gainCapDb: number;

  constructor(frameSamples: number, options: AgcOptions = {}) {
    this.params = agcParams(frameSamples, options);
    this.vad = new ScalarVad(vadParams(frameSamples, options.vad));
    this.limiter = new ScalarLimiter(limiterParams(options.limiter));
    const initial = this.params[6];
    this.gainDb = initial;
    this.targetGainDb = initial;
    this.appliedGain = f(10 ** (initial / 20));
    this.noise = noiseCapParams(frameSamples, options);
    this.gainCapDb = this.params[2];
  }

  private trackNoise(sourceMeanSquare: number, inputMeanSquare: number): void {
    const [, subFrames, smooth] = this.noise;
    if (this.sourcePower < 0) {
      this.sourcePower = sourceMeanSquare;
      this.inputPower = inputMeanSquare;
    } else {
      this.sourcePower += smooth * (sourceMeanSquare - this.sourcePower);
      this.inputPower += smooth * (inputMeanSquare - this.inputPower);
    }
    const src = powerDbfs(this.sourcePower);
    const inp = powerDbfs(this.inputPower);
    if (this.framesInSub === 0) {
      this.sourceSubMin = src;
      this.inputSubMin = inp;
    } else {
      this.sourceSubMin = Math.min(this.sourceSubMin, src);
      this.inputSubMin = Math.min(this.inputSubMin, inp);
    }
    this.framesInSub++;
    this.sourceFloorDbfs = Math.min(this.sourceSubMin, ...this.subMins.source);
    this.inputFloorDbfs = Math.min(this.inputSubMin, ...this.subMins.input);
    if (this.framesInSub === subFrames) {
      this.subMins.source[this.subAt] = this.sourceSubMin;
      this.subMins.input[this.subAt] = this.inputSubMin;
      this.subAt = (this.subAt + 1) % NOISE_SUB_WINDOWS;
      this.framesInSub = 0;
    }
  }

  /**
   * Processes `frame` in place; `external` ≥ 0 replaces the energy VAD; `sourceDbfs` (the
   * frame's level before noise suppression) enables the noise-aware gain cap.
   */
  process(frame: Float32Array, external = -1, limited = true, sourceDbfs?: number): Float32Array {
    const [targetDbfs, minGainDb, maxGainDb, attackCoef, releaseCoef, alphaMin] = this.params;
    const power = this.vad.process(frame, external);
    if (sourceDbfs === undefined) {
      this.gainCapDb = maxGainDb;
    } else {
      this.trackNoise(10 ** (sourceDbfs / 10), power);
      const allowed = Math.max(this.sourceFloorDbfs, this.noise[0]) - this.inputFloorDbfs;
      this.gainCapDb = Math.min(Math.max(allowed, 0), maxGainDb);
    }
    const settled = this.speechFrames > SETTLED_FRAMES;
    if (this.vad.probability >= 0.5 && !(settled && power < this.levelPower * WEAK_FRAME_RATIO)) {
      this.speechFrames++;
      const alpha = Math.max(1 / this.speechFrames, alphaMin);
      const p = settled ? Math.min(power, this.levelPower * 10) : power;
      this.levelPower += alpha * (p - this.levelPower);
      const levelDb = 10 * Math.log10(Math.max(this.levelPower, 1e-12));
      this.targetGainDb = Math.min(Math.max(targetDbfs - levelDb, minGainDb), maxGainDb);
    }
    const goal = Math.min(this.targetGainDb, this.gainCapDb);
    this.gainDb += (goal - this.gainDb) * (goal < this.gainDb ? attackCoef : releaseCoef);
    const next = f(10 ** (this.gainDb / 20));
    const n = frame.length;
    if (next === this.appliedGain) {
      for (let i = 0; i < n; i++) frame[i] = next * frame[i]!;
    } else {
      const step = f(f(next - this.appliedGain) / n);
      for (let i = 0; i < n; i++) frame[i] = f(this.appliedGain + f(step * (i + 1))) * frame[i]!;
      this.appliedGain = next;
    }
    if (limited) this.limiter.process(frame);
    return frame;
  }
}
