import { agcParams, type AgcOptions } from '../Agc.js';
import { limiterParams } from '../limiterOptions.js';
import { vadParams } from '../vadOptions.js';
import { ScalarLimiter } from './ScalarLimiter.js';
import { ScalarVad } from './ScalarVad.js';

const f = Math.fround;
const SETTLED_FRAMES = 25;
const WEAK_FRAME_RATIO = 0.05;

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

  constructor(frameSamples: number, options: AgcOptions = {}) {
    this.params = agcParams(frameSamples, options);
    this.vad = new ScalarVad(vadParams(frameSamples, options.vad));
    this.limiter = new ScalarLimiter(limiterParams(options.limiter));
    const initial = this.params[6];
    this.gainDb = initial;
    this.targetGainDb = initial;
    this.appliedGain = f(10 ** (initial / 20));
  }

  /** Processes `frame` in place; `external` ≥ 0 replaces the energy VAD. */
  process(frame: Float32Array, external = -1, limited = true): Float32Array {
    const [targetDbfs, minGainDb, maxGainDb, attackCoef, releaseCoef, alphaMin] = this.params;
    const power = this.vad.process(frame, external);
    const settled = this.speechFrames > SETTLED_FRAMES;
    if (this.vad.probability >= 0.5 && !(settled && power < this.levelPower * WEAK_FRAME_RATIO)) {
      this.speechFrames++;
      const alpha = Math.max(1 / this.speechFrames, alphaMin);
      const p = settled ? Math.min(power, this.levelPower * 10) : power;
      this.levelPower += alpha * (p - this.levelPower);
      const levelDb = 10 * Math.log10(Math.max(this.levelPower, 1e-12));
      this.targetGainDb = Math.min(Math.max(targetDbfs - levelDb, minGainDb), maxGainDb);
    }
    this.gainDb +=
      (this.targetGainDb - this.gainDb) *
      (this.targetGainDb < this.gainDb ? attackCoef : releaseCoef);
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
