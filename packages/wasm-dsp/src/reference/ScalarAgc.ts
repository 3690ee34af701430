import { agcParams, noiseCapParams, type AgcOptions } from '../Agc.js';
import { limiterParams } from '../limiterOptions.js';
import { vadParams } from '../vadOptions.js';
import { ScalarLimiter } from './ScalarLimiter.js';
import { ScalarVad } from './ScalarVad.js';

const f = Math.fround;
const SETTLED_FRAMES = 25;
const WEAK_FRAME_RATIO = 0.05;
const NOISE_SUB_WINDOWS = 8;
const BACKGROUND_MARGIN_DB = 6;
const CAP_MARGIN_DB = 2;
const MAX_ATTENUATION_DB = 60;

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
  private smoothedSource = -1;
  private smoothedInput = -1;
  private readonly subMins: number[] = [];
  private framesInSub = 0;
  private subAt = 0;
  private sourceSubMin = 0;
  /** Source floor (dBFS), background attenuation and noise-aware gain cap (dB), last frame. */
  sourceFloorDbfs = -120;
  attenuationDb = 0;
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
    const [maxNoise, subFrames, smooth, att] = this.noise;
    if (this.smoothedSource < 0) {
      this.smoothedSource = sourceMeanSquare;
      this.smoothedInput = inputMeanSquare;
    } else {
      this.smoothedSource += smooth * (sourceMeanSquare - this.smoothedSource);
      this.smoothedInput += smooth * (inputMeanSquare - this.smoothedInput);
    }
    const src = powerDbfs(this.smoothedSource);
    this.sourceSubMin = this.framesInSub === 0 ? src : Math.min(this.sourceSubMin, src);
    this.framesInSub++;
    const floor = Math.min(this.sourceSubMin, ...this.subMins);
    this.sourceFloorDbfs = floor;
    if (this.framesInSub === subFrames) {
      this.subMins[this.subAt] = this.sourceSubMin;
      this.subAt = (this.subAt + 1) % NOISE_SUB_WINDOWS;
      this.framesInSub = 0;
    }
    if (src <= floor + BACKGROUND_MARGIN_DB) {
      const d = Math.min(Math.max(src - powerDbfs(this.smoothedInput), 0), MAX_ATTENUATION_DB);
      this.attenuationDb += att * (d - this.attenuationDb);
    }
    const allowed = Math.max(this.attenuationDb, this.attenuationDb + maxNoise - floor);
    this.gainCapDb = Math.min(Math.max(allowed - CAP_MARGIN_DB, 0), this.params[2]);
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
