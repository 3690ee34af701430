// µs per 20 ms of audio through the whole capture chain (echo canceller → RNNoise → AGC →
// level/VAD), interleaved batch by batch in one run (bench/lib/paired.ts):
// - fast.nosimd: RNNoise 'fast' from @jitsi/rnnoise-wasm without SIMD (the earlier default),
// - fast.simd: RNNoise 'fast' from @shiguredo/rnnoise-wasm with WASM SIMD (the default now),
// - fast.simd.10ms: the same on 480-sample frames (two process() calls per 20 ms),
// - quality: RNNoise 'quality' (rnnoise 0.2, jitsi, no SIMD);
// then the same chain built from the scalar TS references (RNNoise shared: it is a library).
// Also the chain's input-to-output delay, per stage and all on, by cross-correlation on a
// near-end-only signal (output vs input).
// Goals (issue 12): ≤ 400 µs per 20 ms with the fast model; delay known per stage.
import {
  CAPTURE_STAGES,
  CaptureChain,
  type CaptureChainSources,
  type CaptureStage,
} from '../../packages/wasm-dsp/src/CaptureChain.js';
import { Denoiser } from '../../packages/wasm-dsp/src/Denoiser.js';
import { ReferenceEchoCanceller } from '../../packages/wasm-dsp/src/reference/aec.js';
import { ScalarAgc } from '../../packages/wasm-dsp/src/reference/ScalarAgc.js';
import { ScalarVad } from '../../packages/wasm-dsp/src/reference/ScalarVad.js';
import { readRnnoiseSource } from '../../packages/wasm-dsp/src/RnnoiseWasm.js';
import { vadParams } from '../../packages/wasm-dsp/src/vadOptions.js';
import {
  bestLag,
  convolve,
  FS,
  pinkNoise,
  roomImpulseResponse,
  scaleTo,
  speechTrack,
} from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';
import { pairedUs } from '../lib/paired.js';

const FRAME = 960;
const FRAMES = 150; // 3 s, looped
const n = FRAMES * FRAME;
const far = scaleTo(speechTrack(n, 'en-us', 300, 0), -20);
const echo = scaleTo(convolve(far, roomImpulseResponse(300, 10, 3)), -26);
const near = scaleTo(speechTrack(n, 'en-gb', 500, 4), -24);
const noise = scaleTo(pinkNoise(n, 9), -56);
const mic = near.map((v, i) => v + echo[i]! + noise[i]!);

const rows: BenchRow[] = [];
const GOAL_US = 400;

const base = await CaptureChain.loadSources('fast');
const withNs = async (model: 'fast' | 'quality', simd: boolean): Promise<CaptureChainSources> => ({
  ...base,
  rnnoise: await readRnnoiseSource(model, { simd }),
});
const variants = [
  { name: 'fast.nosimd', sources: await withNs('fast', false), frameSamples: 960 },
  { name: 'fast.simd', sources: await withNs('fast', true), frameSamples: 960 },
  { name: 'fast.simd.10ms', sources: await withNs('fast', true), frameSamples: 480 },
  { name: 'quality', sources: await withNs('quality', false), frameSamples: 960 },
] as const;

const stageSamples = variants.map(() => CAPTURE_STAGES.map((): number[] => []));
const chains = variants.map((v) =>
  CaptureChain.createSync(v.sources, { frameSamples: v.frameSamples }),
);
// One call = 20 ms of audio, whatever the frame size.
const fns = chains.map((chain, k) => {
  let f = 0;
  const per = FRAME / chain.frameSamples;
  return () => {
    const at = (f++ % FRAMES) * FRAME;
    for (let p = 0; p < per; p++) {
      const from = at + p * chain.frameSamples;
      chain.input.set(mic.subarray(from, from + chain.frameSamples));
      chain.reference.set(far.subarray(from, from + chain.frameSamples));
      const r = chain.process();
      if (p === per - 1) r.stageUs.forEach((us, s) => stageSamples[k]![s]!.push(us * per));
    }
  };
});
const timings = pairedUs(fns, { batches: 31, batchSize: 50, warmupCalls: 300 });
for (const c of chains) c.destroy();
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// The same chain from the scalar references (20 ms frames, RNNoise SIMD build).
const aec = new ReferenceEchoCanceller();
const ns = await Denoiser.create({ model: 'fast' });
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

variants.forEach((v, k) => {
  const t = timings[k]!;
  const isFast = v.name.startsWith('fast');
  rows.push({
    name: `chain.${v.name}.wasm`,
    median: round(t.medianUs, 1),
    p95: round(t.p95Us, 1),
    unit: 'us/20ms',
    ...(isFast ? { goal: `<= ${GOAL_US} us`, met: t.medianUs <= GOAL_US } : {}),
    cpuUs: round(t.cpuUs, 1),
    ratioToNoSimd: round(t.ratioToFirst, 3),
    stageMedianUs: Object.fromEntries(
      CAPTURE_STAGES.map((s, i) => [s, round(med(stageSamples[k]![i]!), 1)]),
    ),
  });
});
rows.push({
  name: 'chain.fast.simd.scalar',
  median: round(scalar.medianUs, 1),
  p95: round(scalar.p95Us, 1),
  unit: 'us/20ms',
  ratioVsWasm: round(scalar.medianUs / timings[1]!.medianUs, 2),
});

// --- Delay ---------------------------------------------------------------------------------
// Near-end talker only, reference silent; each stage alone, then all. Lag of the output behind
// the input by cross-correlation, in samples at 48 kHz.
const talk = (() => {
  const s = scaleTo(speechTrack(4 * FS, 'en-us', 300, 5), -26);
  const bg = scaleTo(pinkNoise(4 * FS, 8), -60);
  return s.map((v, i) => v + bg[i]!);
})();
const delaySetups: [string, Partial<Record<CaptureStage, boolean>>][] = [
  ...CAPTURE_STAGES.map((s): [string, Partial<Record<CaptureStage, boolean>>] => [
    s,
    Object.fromEntries(CAPTURE_STAGES.map((t) => [t, t === s])),
  ]),
  ['all', {}],
];
for (const frameSamples of [960, 480] as const) {
  for (const [name, stages] of delaySetups) {
    const chain = CaptureChain.createSync(variants[1].sources, { stages, frameSamples });
    const out = new Float32Array(talk.length);
    for (let at = 0; at + frameSamples <= talk.length; at += frameSamples) {
      chain.input.set(talk.subarray(at, at + frameSamples));
      chain.reference.fill(0);
      chain.process();
      out.set(chain.output, at);
    }
    const lag = bestLag(talk, out, 2_400);
    rows.push({
      name: `chain.delay.${name}.${frameSamples === 960 ? '20ms' : '10ms'}`,
      median: lag,
      unit: 'samples',
      ms: round((lag * 1000) / FS, 2),
      declaredSamples: chain.delaySamples,
      ...(name === 'all' ? { goal: '<= 960 samples', met: lag <= 960 } : {}),
    });
    chain.destroy();
  }
}

report('dsp-chain', rows, {
  frames: FRAMES,
  tailMs: 200,
  signal: 'near speech + far-end echo (RT60 300 ms) + pink noise',
  timing: 'variants interleaved batch by batch (bench/lib/paired.ts); us per 20 ms of audio',
});
for (const r of rows)
  if (r['stageMedianUs'])
    console.log(r.name, 'stage medians (µs):', JSON.stringify(r['stageMedianUs']));
