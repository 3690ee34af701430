// µs per 20 ms frame of the whole capture chain (echo canceller → RNNoise → AGC → level/VAD),
// with the fast and the quality RNNoise model: the WASM chain (`CaptureChain`) vs the same chain
// built from the scalar TS references (RNNoise is the same library in both), in the same run.
// Goals (issue 3): ≤ 400 µs with the fast model, ≤ 800 µs with the quality model.
import { CaptureChain } from '../../packages/wasm-dsp/src/CaptureChain.js';
import { Denoiser, type DenoiserModel } from '../../packages/wasm-dsp/src/Denoiser.js';
import { ReferenceEchoCanceller } from '../../packages/wasm-dsp/src/reference/aec.js';
import { ScalarAgc } from '../../packages/wasm-dsp/src/reference/ScalarAgc.js';
import { ScalarVad } from '../../packages/wasm-dsp/src/reference/ScalarVad.js';
import { vadParams } from '../../packages/wasm-dsp/src/vadOptions.js';
import {
  convolve,
  pinkNoise,
  roomImpulseResponse,
  scaleTo,
  speechTrack,
} from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const FRAME = 960;
const FRAMES = 150; // 3 s, looped
const n = FRAMES * FRAME;
const far = scaleTo(speechTrack(n, 'en-us', 300, 0), -20);
const echo = scaleTo(convolve(far, roomImpulseResponse(300, 10, 3)), -26);
const near = scaleTo(speechTrack(n, 'en-gb', 500, 4), -24);
const noise = scaleTo(pinkNoise(n, 9), -56);
const mic = near.map((v, i) => v + echo[i]! + noise[i]!);

const rows: BenchRow[] = [];
const goals: Record<DenoiserModel, number> = { fast: 400, quality: 800 };

for (const model of ['fast', 'quality'] as const) {
  const chain = await CaptureChain.create({ nsModel: model });
  let f = 0;
  const wasm = timeUs(
    () => {
      const at = (f++ % FRAMES) * FRAME;
      chain.input.set(mic.subarray(at, at + FRAME));
      chain.reference.set(far.subarray(at, at + FRAME));
      chain.process();
    },
    { batches: 31, batchSize: 50, warmupCalls: 300 },
  );
  // Per-stage medians from the chain's own report, over one more pass.
  const stageSamples: number[][] = [[], [], [], []];
  for (let i = 0; i < FRAMES; i++) {
    const at = i * FRAME;
    chain.input.set(mic.subarray(at, at + FRAME));
    chain.reference.set(far.subarray(at, at + FRAME));
    const r = chain.process();
    r.stageUs.forEach((us, s) => stageSamples[s]!.push(us));
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  chain.destroy();

  // The same chain from the scalar references (RNNoise is shared: it is a library, not ours).
  const aec = new ReferenceEchoCanceller();
  const ns = await Denoiser.create({ model });
  const agc = new ScalarAgc(FRAME);
  const vad = new ScalarVad(vadParams(FRAME));
  const a = new Float32Array(FRAME);
  const b = new Float32Array(FRAME);
  let g = 0;
  const scalar = timeUs(
    () => {
      const at = (g++ % FRAMES) * FRAME;
      aec.process(mic.subarray(at, at + FRAME), far.subarray(at, at + FRAME), a);
      const p = ns.process(a, b);
      const out = agc.process(b, p);
      vad.process(out, p);
    },
    { batches: 21, batchSize: 20, warmupCalls: 100 },
  );
  ns.destroy();

  rows.push({
    name: `chain.${model}.wasm`,
    median: round(wasm.medianUs, 1),
    p95: round(wasm.p95Us, 1),
    unit: 'us/frame',
    goal: `<= ${goals[model]} us`,
    met: wasm.medianUs <= goals[model],
    ratioVsScalar: round(scalar.medianUs / wasm.medianUs, 2),
    stageMedianUs: {
      aec: round(med(stageSamples[0]!), 1),
      ns: round(med(stageSamples[1]!), 1),
      agc: round(med(stageSamples[2]!), 1),
      vad: round(med(stageSamples[3]!), 1),
    },
  });
  rows.push({
    name: `chain.${model}.scalar`,
    median: round(scalar.medianUs, 1),
    p95: round(scalar.p95Us, 1),
    unit: 'us/frame',
  });
}

report('dsp-chain', rows, {
  frames: FRAMES,
  tailMs: 200,
  signal: 'near speech + far-end echo (RT60 300 ms) + pink noise',
});
for (const r of rows)
  if (r['stageMedianUs'])
    console.log(r.name, 'stage medians (µs):', JSON.stringify(r['stageMedianUs']));
