import { limiterParams, type LimiterOptions } from '../limiterOptions.js';
import { ScalarLimiter } from './ScalarLimiter.js';

const f = Math.fround;

/**
 * Plain-TS reference of the mixer kernel (assembly/mixer.ts): same order of operations and
 * f32 roundings, so the SIMD kernel must match it bit for bit. Tests and benchmarks only.
 */
export class ScalarMixer {
  /** Per-stream input frames. */
  readonly inputs: Float32Array[];
  /** Per-stream linear gains. */
  readonly gains: Float32Array;
  /** Mixed (and limited) output frame. */
  readonly output: Float32Array;
  private readonly previousGains: Float32Array;
  private readonly limiter: ScalarLimiter;

  constructor(maxStreams: number, frameSamples: number, limiter: LimiterOptions = {}) {
    this.inputs = Array.from({ length: maxStreams }, () => new Float32Array(frameSamples));
    this.gains = new Float32Array(maxStreams).fill(1);
    this.previousGains = new Float32Array(maxStreams).fill(1);
    this.output = new Float32Array(frameSamples);
    this.limiter = new ScalarLimiter(limiterParams(limiter));
  }

  /** Mixes the first `count` streams; limits when `limited`. */
  process(count: number, limited = true): Float32Array {
    const out = this.output;
    const n = out.length;
    let first = true;
    for (let s = 0; s < count; s++) {
      const g = this.gains[s]!;
      const gp = this.previousGains[s]!;
      if (g === 0 && gp === 0) continue;
      const x = this.inputs[s]!;
      if (g === gp) {
        for (let i = 0; i < n; i++) {
          const y = f(g * x[i]!);
          out[i] = first ? y : out[i]! + y;
        }
      } else {
        const step = f(f(g - gp) / n);
        for (let i = 0; i < n; i++) {
          const y = f(f(gp + f(step * (i + 1))) * x[i]!);
          out[i] = first ? y : out[i]! + y;
        }
        this.previousGains[s] = g;
      }
      first = false;
    }
    if (first) out.fill(0);
    if (limited) this.limiter.process(out);
    return out;
  }
}
