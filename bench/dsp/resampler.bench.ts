// Resampler kernel: µs per 20 ms frame (882 → 960 and 960 → 882 samples), WASM SIMD vs the
// scalar TS reference (src/reference/ScalarResampler.ts), same run; also per 128-sample quantum.
import { Resampler } from '../../packages/wasm-dsp/src/Resampler.js';
import { ScalarResampler } from '../../packages/wasm-dsp/src/reference/ScalarResampler.js';
import { whiteNoise } from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const opts = { batches: 41, batchSize: 500, warmupCalls: 5_000 };
const rows: BenchRow[] = [];

for (const [inRateHz, outRateHz, block] of [
  [44_100, 48_000, 882],
  [48_000, 44_100, 960],
  [44_100, 48_000, 128],
] as const) {
  const simd = await Resampler.create({ inRateHz, outRateHz, maxInputSamples: block });
  const scalar = new ScalarResampler(inRateHz, outRateHz, block);
  const input = whiteNoise(block, 1).map((v) => v * 0.1);
  simd.input.set(input);
  const out = new Float32Array(block * 2);
  const s = timeUs(() => simd.process(block), opts);
  const r = timeUs(() => scalar.process(input, out), opts);
  const name = `resampler.${inRateHz / 1000}to${outRateHz / 1000}.${block}`;
  rows.push({
    name: `${name}.simd`,
    median: s.medianUs,
    p95: s.p95Us,
    unit: 'us/call',
    speedupVsScalar: round(r.medianUs / s.medianUs, 2),
    taps: simd.design.taps,
    phases: simd.design.phases,
  });
  rows.push({ name: `${name}.scalar`, median: r.medianUs, p95: r.p95Us, unit: 'us/call' });
}
report('dsp-resampler', rows);
