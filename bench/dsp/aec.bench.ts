// µs per 20 ms frame of the echo canceller (200 ms tail) and of its real FFTs: WASM SIMD vs the
// scalar TypeScript reference, measured in the same run. Goal (issue 3): AEC ≤ 100 µs/frame.
// Quality figures of issue 12 on the test scenarios (test/aecScenario.ts): convergence time to
// 20 dB ERLE, smallest 0.5 s-window ERLE after it, re-convergence after an echo-path change,
// echo levels −30…+10 dB re the reference, double-talk SI-SDR gain and the measured latency.
// Same-run comparison with the previous kernel (10 ms MDF): build it from main and pass its
// path, e.g. `AEC_BASELINE_WASM=/tmp/aec-old.wasm npm run bench dsp/aec`.
import { readFileSync } from 'node:fs';
import { EchoCanceller } from '../../packages/wasm-dsp/src/EchoCanceller.js';
import { Fft } from '../../packages/wasm-dsp/src/Fft.js';
import { ReferenceEchoCanceller } from '../../packages/wasm-dsp/src/reference/aec.js';
import { ReferenceFft } from '../../packages/wasm-dsp/src/reference/fft.js';
import {
  activeLevelDbfs,
  convolve,
  pinkNoise,
  roomImpulseResponse,
  scaleTo,
  speechTrack,
  whiteNoise,
} from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';
import {
  convergenceMs,
  farEndOnsetS,
  measuredLatencySamples,
  minWindowErle,
  runAll,
  scenario,
  siSdrGain,
  type FrameProcessor,
} from '../../packages/wasm-dsp/test/aecScenario.js';

const FRAME = 960;
const FFT_SIZES = [512, 256];
const FRAMES = 200; // 4 s of signal, looped
const TAIL_MS = 200;

// Far-end speech, its echo through an RT60 300 ms room at −26 dBFS, pink noise 30 dB below.
const n = FRAMES * FRAME;
const ref = scaleTo(speechTrack(n, 'en-us', 400, 0), -20);
const echo = convolve(ref, roomImpulseResponse(300, 10, 1));
const gain = 10 ** ((-26 - activeLevelDbfs(echo)) / 20);
const noise = scaleTo(pinkNoise(n, 7), -56);
const mic = echo.map((v, i) => v * gain + noise[i]!);

const rows: BenchRow[] = [];
const wasmPath = new URL('../../packages/wasm-dsp/build/aec.wasm', import.meta.url);

/**
 * Median over `batches` of the process CPU time (user + system) per call, in µs. On a shared
 * machine wall-clock medians include time the process spent descheduled; CPU time does not, so
 * both are recorded.
 */
function cpuUs(fn: () => void, batches = 21, batchSize = 200): number {
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < batchSize; i++) fn();
    const c = process.cpuUsage(c0);
    samples.push((c.user + c.system) / batchSize);
  }
  samples.sort((x, y) => x - y);
  return samples[samples.length >> 1]!;
}

// FFT: one forward + one inverse real transform of each size the canceller uses.
for (const size of FFT_SIZES) {
  const wasm = await Fft.create({ size });
  const x = whiteNoise(size, 1);
  wasm.time.set(x);
  const simd = timeUs(() => {
    wasm.forward();
    wasm.inverse();
  });
  const reference = new ReferenceFft(size);
  const re = new Float32Array(reference.bins);
  const im = new Float32Array(reference.bins);
  const y = new Float32Array(size);
  const scalar = timeUs(() => {
    reference.forward(x, re, im);
    reference.inverse(re, im, y);
  });
  const ratio = scalar.medianUs / simd.medianUs;
  rows.push({
    name: `fft.simd.${size}.fwd+inv`,
    median: simd.medianUs,
    p95: simd.p95Us,
    unit: 'us/pair',
    // Per 20 ms frame: 4 blocks × 5 transforms of 512, 8 hops × 5 transforms of 256.
    perAecFrameUs: round((size === 512 ? 10 : 20) * simd.medianUs),
    ratioVsScalar: round(ratio, 2),
  });
  rows.push({
    name: `fft.scalar.${size}.fwd+inv`,
    median: scalar.medianUs,
    p95: scalar.p95Us,
    unit: 'us/pair',
  });
}

// AEC: 20 ms frames, 200 ms tail, suppression on.
{
  const aec = await EchoCanceller.create({ tailMs: TAIL_MS });
  let f = 0;
  const simd = timeUs(
    () => {
      const o = f * FRAME;
      aec.micView.set(mic.subarray(o, o + FRAME));
      aec.refView.set(ref.subarray(o, o + FRAME));
      aec.process();
      f = (f + 1) % FRAMES;
    },
    { batches: 41, batchSize: FRAMES, warmupCalls: 4 * FRAMES },
  );
  const reference = new ReferenceEchoCanceller({ tailMs: TAIL_MS });
  const out = new Float32Array(FRAME);
  let g = 0;
  const scalar = timeUs(
    () => {
      const o = g * FRAME;
      reference.process(mic.subarray(o, o + FRAME), ref.subarray(o, o + FRAME), out);
      g = (g + 1) % FRAMES;
    },
    { batches: 11, batchSize: FRAMES, warmupCalls: 2 * FRAMES },
  );
  const ratio = scalar.medianUs / simd.medianUs;
  let h = 0;
  const simdCpu = cpuUs(() => {
    const o = h * FRAME;
    aec.micView.set(mic.subarray(o, o + FRAME));
    aec.refView.set(ref.subarray(o, o + FRAME));
    aec.process();
    h = (h + 1) % FRAMES;
  });
  rows.push({
    name: `aec.simd.tail${TAIL_MS}ms`,
    median: simd.medianUs,
    p95: simd.p95Us,
    unit: 'us/frame',
    goal: '<= 100 us',
    met: simd.medianUs <= 100,
    minUs: round(simd.minUs),
    cpuMedianUs: round(simdCpu),
    ratioVsScalar: round(ratio, 2),
  });
  rows.push({
    name: `aec.scalar.tail${TAIL_MS}ms`,
    median: scalar.medianUs,
    p95: scalar.p95Us,
    unit: 'us/frame',
  });

  // 10 ms frames (the chain's future framing): µs per 480-sample frame.
  const aec480 = await EchoCanceller.create({ tailMs: TAIL_MS, frameSamples: 480 });
  let j = 0;
  const simd480 = timeUs(
    () => {
      const o = j * 480;
      aec480.micView.set(mic.subarray(o, o + 480));
      aec480.refView.set(ref.subarray(o, o + 480));
      aec480.process();
      j = (j + 1) % (2 * FRAMES);
    },
    { batches: 41, batchSize: FRAMES, warmupCalls: 4 * FRAMES },
  );
  rows.push({
    name: `aec.simd.tail${TAIL_MS}ms.frame480`,
    median: simd480.medianUs,
    p95: simd480.p95Us,
    unit: 'us/frame',
  });

  // The previous kernel (10 ms MDF partitions, `init(partitions, suppression)`), same run.
  const baselinePath = process.env.AEC_BASELINE_WASM;
  if (baselinePath !== undefined && baselinePath !== '') {
    const { instance } = await WebAssembly.instantiate(readFileSync(baselinePath), {
      env: { abort: () => {}, seed: () => 0 },
    });
    const ex = instance.exports as unknown as {
      memory: WebAssembly.Memory;
      init(partitions: number, suppression: number): void;
      micPtr(): number;
      refPtr(): number;
      process(): void;
    };
    ex.init(TAIL_MS / 10, 1);
    const micB = new Float32Array(ex.memory.buffer, ex.micPtr(), FRAME);
    const refB = new Float32Array(ex.memory.buffer, ex.refPtr(), FRAME);
    let b = 0;
    const step = (): void => {
      const o = b * FRAME;
      micB.set(mic.subarray(o, o + FRAME));
      refB.set(ref.subarray(o, o + FRAME));
      ex.process();
      b = (b + 1) % FRAMES;
    };
    const base = timeUs(step, { batches: 41, batchSize: FRAMES, warmupCalls: 4 * FRAMES });
    const baseCpu = cpuUs(step);
    rows.push({
      name: `aec.baseline-mdf480.tail${TAIL_MS}ms`,
      median: base.medianUs,
      p95: base.p95Us,
      unit: 'us/frame',
      cpuMedianUs: round(baseCpu),
      newOverBaseline: round(simd.medianUs / base.medianUs, 2),
      newOverBaselineCpu: round(simdCpu / baseCpu, 2),
    });
  }
}

// Quality (WASM kernel, 200 ms tail, suppression on), the figures of issue 12.
{
  const make = (frameSamples: 480 | 960 = 960): FrameProcessor =>
    EchoCanceller.createSync(readFileSync(wasmPath), { tailMs: TAIL_MS, frameSamples });
  const conv: number[] = [];
  const minWin: number[] = [];
  for (const rt60Ms of [150, 300]) {
    for (const frameSamples of [960, 480] as const) {
      const s = scenario({ seconds: 8, rt60Ms });
      const out = runAll(make(frameSamples), s, frameSamples);
      const c = convergenceMs(s, out);
      conv.push(c);
      minWin.push(minWindowErle(s, out, farEndOnsetS(s) + c / 1000, 8));
    }
  }
  const levels: Record<string, { convergenceMs: number; minWindowErleDb: number }> = {};
  for (const echoRelDb of [-30, -20, -10, 0, 10]) {
    const s = scenario({ seconds: 6, rt60Ms: 300, echoRelDb });
    const out = runAll(make(), s);
    const c = convergenceMs(s, out);
    conv.push(c);
    const w = minWindowErle(s, out, farEndOnsetS(s) + c / 1000, 6);
    minWin.push(w);
    levels[String(echoRelDb)] = { convergenceMs: c, minWindowErleDb: round(w, 1) };
  }
  const reconv: number[] = [];
  const minAfterChange: number[] = [];
  for (const rt60Ms of [150, 300]) {
    const s = scenario({ seconds: 7, rt60Ms, changeAtS: 4 });
    const out = runAll(make(), s);
    const c = convergenceMs(s, out, 4);
    reconv.push(c);
    minAfterChange.push(minWindowErle(s, out, 4 + c / 1000, 7));
  }
  const dtGain: number[] = [];
  for (const rt60Ms of [150, 300]) {
    const s = scenario({ seconds: 10, rt60Ms, near: [3, 8] });
    dtGain.push(siSdrGain(s, runAll(make(), s), 3, 8));
  }
  const latency = Math.max(
    measuredLatencySamples(make(960)),
    measuredLatencySamples(make(480), 2, 480),
  );
  const worstConv = Math.max(...conv);
  const worstWin = Math.min(...minWin);
  const worstReconv = Math.max(...reconv);
  const worstAfterChange = Math.min(...minAfterChange);
  const worstDt = Math.min(...dtGain);
  rows.push(
    {
      name: 'aec.quality.convergenceTo20dB',
      median: worstConv,
      unit: 'ms (worst)',
      goal: '<= 500 ms',
      met: worstConv <= 500,
      all: conv,
      levels,
    },
    {
      name: 'aec.quality.minWindowErleAfterConvergence',
      median: round(worstWin, 1),
      unit: 'dB (worst)',
      goal: '>= 15 dB',
      met: worstWin >= 15,
      all: minWin.map((v) => round(v, 1)),
    },
    {
      name: 'aec.quality.reconvergenceAfterPathChange',
      median: worstReconv,
      unit: 'ms (worst)',
      goal: '<= 500 ms',
      met: worstReconv <= 500,
      all: reconv,
    },
    {
      name: 'aec.quality.minWindowErleAfterReconvergence',
      median: round(worstAfterChange, 1),
      unit: 'dB (worst)',
      goal: '>= 15 dB',
      met: worstAfterChange >= 15,
      all: minAfterChange.map((v) => round(v, 1)),
    },
    {
      name: 'aec.quality.doubleTalkSiSdrGain',
      median: round(worstDt, 1),
      unit: 'dB (worst)',
      goal: '>= 8 dB',
      met: worstDt >= 8,
      all: dtGain.map((v) => round(v, 1)),
    },
    {
      name: 'aec.quality.latencyMeasured',
      median: latency,
      unit: 'samples',
      goal: '<= 144',
      met: latency <= 144,
    },
  );
}

report('dsp-aec', rows, { frameSamples: FRAME, fftSizes: FFT_SIZES, tailMs: TAIL_MS });
for (const r of rows) {
  if (r.ratioVsScalar !== undefined) {
    console.log(`${r.name}: ${String(r.ratioVsScalar)}x the scalar TS reference`);
  }
  if (r.cpuMedianUs !== undefined) {
    console.log(`${r.name}: CPU-time median ${String(r.cpuMedianUs)} us per frame`);
  }
}
