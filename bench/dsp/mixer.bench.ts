// Mixer kernel: µs per 20 ms frame of 8 streams × 960 samples, WASM SIMD vs the scalar TS
// reference (src/reference/ScalarMixer.ts) and a plain JS accumulate loop, in the same run.
import { Mixer } from '../../packages/wasm-dsp/src/Mixer.js';
import { ScalarMixer } from '../../packages/wasm-dsp/src/reference/ScalarMixer.js';
import { whiteNoise } from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const STREAMS = 8;
const N = 960;

const streams = Array.from({ length: STREAMS }, (_, s) =>
  whiteNoise(N, s + 1).map((v) => v * 0.05),
);
const loud = Array.from({ length: STREAMS }, (_, s) => whiteNoise(N, s + 100).map((v) => v * 0.4));

const mixer = await Mixer.create({ maxStreams: STREAMS });
const scalar = new ScalarMixer(STREAMS, N);
const plainOut = new Float32Array(N);
const plainGains = new Float32Array(STREAMS).fill(1);

function load(set: Float32Array[]): void {
  set.forEach((s, i) => {
    mixer.input(i).set(s);
    scalar.inputs[i]!.set(s);
  });
}

function plainJs(): void {
  plainOut.fill(0);
  for (let s = 0; s < STREAMS; s++) {
    const x = streams[s]!;
    const g = plainGains[s]!;
    for (let i = 0; i < N; i++) plainOut[i]! += g * x[i]!;
  }
}

const opts = { batches: 41, batchSize: 2_000, warmupCalls: 20_000 };
load(streams);
mixer.limiterEnabled = false;
const simdRaw = timeUs(() => mixer.process(STREAMS), opts);
const scalarRaw = timeUs(() => scalar.process(STREAMS, false), opts);
const plain = timeUs(plainJs, opts);
mixer.limiterEnabled = true;
const simdQuiet = timeUs(() => mixer.process(STREAMS), opts);
const scalarQuiet = timeUs(() => scalar.process(STREAMS, true), opts);
load(loud);
const simdLoud = timeUs(() => mixer.process(STREAMS), opts);
const scalarLoud = timeUs(() => scalar.process(STREAMS, true), opts);
const reduction = mixer.takeLimiterReductionDb();

const rows: BenchRow[] = [
  {
    name: 'mixer.simd.8x960',
    median: simdRaw.medianUs,
    p95: simdRaw.p95Us,
    unit: 'us/frame',
    goal: '<= 1 us, >= 6x scalar',
    met: simdRaw.medianUs <= 1 && scalarRaw.medianUs / simdRaw.medianUs >= 6,
    speedupVsScalar: round(scalarRaw.medianUs / simdRaw.medianUs, 2),
    speedupVsPlainJs: round(plain.medianUs / simdRaw.medianUs, 2),
  },
  {
    name: 'mixer.scalar.8x960',
    median: scalarRaw.medianUs,
    p95: scalarRaw.p95Us,
    unit: 'us/frame',
  },
  { name: 'mixer.plainjs.8x960', median: plain.medianUs, p95: plain.p95Us, unit: 'us/frame' },
  {
    name: 'mixer+limiter.simd.8x960.quiet',
    median: simdQuiet.medianUs,
    p95: simdQuiet.p95Us,
    unit: 'us/frame',
    goal: '<= 3 us',
    met: simdQuiet.medianUs <= 3,
    speedupVsScalar: round(scalarQuiet.medianUs / simdQuiet.medianUs, 2),
  },
  {
    name: 'mixer+limiter.scalar.8x960.quiet',
    median: scalarQuiet.medianUs,
    p95: scalarQuiet.p95Us,
    unit: 'us/frame',
  },
  {
    name: 'mixer+limiter.simd.8x960.limiting',
    median: simdLoud.medianUs,
    p95: simdLoud.p95Us,
    unit: 'us/frame',
    goal: '<= 3 us',
    met: simdLoud.medianUs <= 3,
    speedupVsScalar: round(scalarLoud.medianUs / simdLoud.medianUs, 2),
    limiterReductionDb: round(reduction, 1),
  },
  {
    name: 'mixer+limiter.scalar.8x960.limiting',
    median: scalarLoud.medianUs,
    p95: scalarLoud.p95Us,
    unit: 'us/frame',
  },
];
report('dsp-mixer', rows, { streams: STREAMS, frameSamples: N });
