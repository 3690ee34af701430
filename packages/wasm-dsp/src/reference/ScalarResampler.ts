import { designResampler, type ResamplerDesign } from '../resamplerDesign.js';

/**
 * Plain-TS reference of the resampler kernel (assembly/resampler.ts): the same polyphase bank
 * and streaming state, one multiply-add at a time in f64. Tests and benchmarks only.
 */
export class ScalarResampler {
  readonly design: ResamplerDesign;
  private readonly line: Float32Array;
  private readonly history: number;
  private phase = 0;
  private next = 0;

  constructor(inRateHz: number, outRateHz: number, maxInputSamples: number) {
    this.design = designResampler(inRateHz, outRateHz);
    this.history = this.design.taps - 1;
    this.line = new Float32Array(this.history + maxInputSamples);
  }

  /** Consumes `input`, writes outputs into `out` and returns how many. */
  process(input: Float32Array, out: Float32Array): number {
    const { phases, decimation, taps, coeffs } = this.design;
    const n = input.length;
    const line = this.line;
    line.set(input, this.history);
    let count = 0;
    let at = this.next;
    let ph = this.phase;
    while (at < n) {
      let acc = 0;
      const row = ph * taps;
      for (let j = 0; j < taps; j++) acc += coeffs[row + j]! * line[at + j]!;
      out[count++] = acc;
      ph += decimation;
      while (ph >= phases) {
        ph -= phases;
        at++;
      }
    }
    this.phase = ph;
    this.next = at - n;
    line.copyWithin(0, n, n + this.history);
    return count;
  }
}
