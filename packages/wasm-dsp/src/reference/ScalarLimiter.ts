import { LIMITER_SUB_BLOCK_SAMPLES, type LimiterParams } from '../limiterOptions.js';

const f = Math.fround;
const SUB = LIMITER_SUB_BLOCK_SAMPLES;
const INV_SUB = 1 / SUB;

/**
 * Plain-TS reference of assembly/lib/limiter.ts, one sample at a time with the same f32
 * roundings, for tests and benchmarks. Any thread; allocates only in the constructor.
 */
export class ScalarLimiter {
  /** Gain at the end of the last block (1 when idle). */
  lastGain = 1;
  private readonly peaks = new Float32Array(256);
  private readonly gains = new Float64Array(257);

  constructor(private readonly params: LimiterParams) {}

  private curveGain(peak: number): number {
    const { knee, ceiling } = this.params;
    if (peak <= knee) return 1;
    const span = ceiling - knee;
    const u = (peak - knee) / span;
    return (knee + (span * u) / (1 + u)) / peak;
  }

  /** Limits `block` (a multiple of 32 samples) in place. */
  process(block: Float32Array): void {
    const subBlocks = block.length / SUB;
    const knee = f(this.params.knee);
    let loudest = 0;
    for (let b = 0; b < subBlocks; b++) {
      let peak = 0;
      for (let k = 0; k < SUB; k++) peak = Math.max(peak, Math.abs(block[b * SUB + k]!));
      this.peaks[b] = peak;
      if (peak > loudest) loudest = peak;
    }
    if (this.lastGain === 1 && loudest <= knee) return;

    let prevPeak = this.peaks[0]!;
    let g = Math.min(this.lastGain, this.curveGain(prevPeak));
    this.gains[0] = g;
    for (let b = 1; b <= subBlocks; b++) {
      const peak = b < subBlocks ? this.peaks[b]! : prevPeak;
      const target = this.curveGain(Math.max(prevPeak, peak));
      if (target < g) g = target;
      else {
        g += (target - g) * this.params.releaseCoef;
        if (target - g < 1e-6) g = target;
      }
      this.gains[b] = g;
      prevPeak = peak;
    }
    this.lastGain = g;

    const ceiling = f(this.params.ceiling);
    for (let b = 0; b < subBlocks; b++) {
      const g0 = f(this.gains[b]!);
      const g1 = f(this.gains[b + 1]!);
      if (g0 === 1 && g1 === 1) continue;
      const step = f(f(g1 - g0) * INV_SUB);
      for (let k = 0; k < SUB; k++) {
        const gain = f(g0 + f(step * (k + 1)));
        const y = f(block[b * SUB + k]! * gain);
        block[b * SUB + k] = Math.max(-ceiling, Math.min(ceiling, y));
      }
    }
  }
}
