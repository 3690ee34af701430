// Spatial (binaural) renderer: µs per 128-sample render quantum for 1, 4 and 16 voices, against
// the plain mono mix of the same voices (Mixer kernel, 128-sample frames), same run, both with
// their limiter on. Rows: the kernel with voices standing still, the kernel with every voice
// moving every quantum (worst case: cross-faded delays, ramped shadow filters, and the
// direction recomputed in JS each call, which in the worklet happens only per position message), the scalar TS reference (src/reference/ScalarSpatializer.ts,
// no limiter), and the playback engine's whole quantum (ring pulls, kernel, echo reference) in
// mono vs binaural mode at 48 kHz.
import { Mixer } from '../../packages/wasm-dsp/src/Mixer.js';
import { Spatializer } from '../../packages/wasm-dsp/src/Spatializer.js';
import { ScalarSpatializer } from '../../packages/wasm-dsp/src/reference/ScalarSpatializer.js';
import { PlaybackEngine } from '../../packages/audio-worklet/src/playback/PlaybackEngine.js';
// The engine is typed against the built package: give it kernels from there.
import { Mixer as PackageMixer, Spatializer as PackageSpatializer } from '@concord/wasm-dsp';
import { SampleRing } from '../../packages/audio-worklet/src/shared/SampleRing.js';
import { whiteNoise } from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const N = 128;
const QUANTUM_US = (N / 48_000) * 1e6; // 2,666.7 µs of audio per render quantum
const opts = { batches: 41, batchSize: 2_000, warmupCalls: 20_000 };
const rows: BenchRow[] = [];

for (const voices of [1, 4, 16]) {
  const signals = Array.from({ length: voices }, (_, v) =>
    whiteNoise(N, v + 1).map((x) => x * 0.05),
  );
  const mixer = await Mixer.create({ maxStreams: voices, frameSamples: N });
  const spatial = await Spatializer.create({ maxVoices: voices, frameSamples: N });
  const scalar = new ScalarSpatializer(voices, N);
  signals.forEach((s, v) => {
    mixer.input(v).set(s);
    spatial.input(v).set(s);
    scalar.input(v).set(s);
    const az = -Math.PI / 2 + (Math.PI * v) / Math.max(1, voices - 1);
    spatial.setDirection(v, az);
    scalar.setDirection(v, az);
  });
  const mono = timeUs(() => mixer.process(voices), opts);
  const still = timeUs(() => spatial.process(voices), opts);
  let k = 0;
  const moving = timeUs(() => {
    k++;
    for (let v = 0; v < voices; v++) spatial.setDirection(v, Math.sin(k * 0.01 + v) * Math.PI);
    spatial.process(voices);
  }, opts);
  const ref = timeUs(() => scalar.process(voices), { ...opts, batchSize: 200, warmupCalls: 2_000 });
  const perVoice = still.medianUs / voices;
  rows.push(
    {
      name: `mono-mix.simd.${voices}v`,
      median: mono.medianUs,
      p95: mono.p95Us,
      unit: 'us/quantum',
      perVoiceUs: round(mono.medianUs / voices, 3),
    },
    {
      name: `spatial.simd.still.${voices}v`,
      median: still.medianUs,
      p95: still.p95Us,
      unit: 'us/quantum',
      goal: '<= 1 us per voice per quantum',
      met: perVoice <= 1,
      perVoiceUs: round(perVoice, 3),
      vsMonoMixSameRun: round(still.medianUs / mono.medianUs, 2),
      shareOfQuantumPct: round((100 * still.medianUs) / QUANTUM_US, 3),
      speedupVsScalar: round(ref.medianUs / still.medianUs, 2),
    },
    {
      name: `spatial.simd.moving.${voices}v`,
      median: moving.medianUs,
      p95: moving.p95Us,
      unit: 'us/quantum',
      perVoiceUs: round(moving.medianUs / voices, 3),
      vsMonoMixSameRun: round(moving.medianUs / mono.medianUs, 2),
    },
    {
      name: `spatial.scalar.still.${voices}v`,
      median: ref.medianUs,
      p95: ref.p95Us,
      unit: 'us/quantum',
      perVoiceUs: round(ref.medianUs / voices, 3),
    },
  );
}

// The playback engine's quantum with 16 voices fed 128 samples each per quantum.
{
  const voices = 16;
  const mixer = await PackageMixer.create({ maxStreams: voices, frameSamples: N });
  const spatializer = await PackageSpatializer.create({ maxVoices: voices, frameSamples: N });
  const reference = SampleRing.allocate(96_000, false);
  const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer, spatializer, reference });
  const rings = Array.from({ length: voices }, (_, v) => {
    const ring = SampleRing.allocate(8 * 960, false);
    engine.setStream(v, ring);
    engine.setDirection(v, -Math.PI / 2 + (Math.PI * v) / (voices - 1), 0);
    return ring;
  });
  const feed = whiteNoise(N, 9).map((x) => x * 0.05);
  const left = new Float32Array(N);
  const right = new Float32Array(N);
  const channels = [left, right];
  const quantum = (): void => {
    for (const r of rings) r.push(feed);
    engine.processQuantum(channels);
    reference.skip(reference.availableRead);
  };
  engine.setRenderMode('mono');
  const monoEngine = timeUs(quantum, opts);
  engine.setRenderMode('binaural');
  const binEngine = timeUs(quantum, opts);
  engine.setRenderMode('mono');
  const monoEngine2 = timeUs(quantum, opts);
  const monoMedian = Math.min(monoEngine.medianUs, monoEngine2.medianUs);
  rows.push(
    {
      name: 'engine.mono.16v',
      median: monoMedian,
      p95: Math.max(monoEngine.p95Us, monoEngine2.p95Us),
      unit: 'us/quantum',
      runs: [round(monoEngine.medianUs, 2), round(monoEngine2.medianUs, 2)],
    },
    {
      name: 'engine.binaural.16v',
      median: binEngine.medianUs,
      p95: binEngine.p95Us,
      unit: 'us/quantum',
      goal: '<= 1 us more per voice than mono',
      met: (binEngine.medianUs - monoMedian) / voices <= 1,
      extraPerVoiceUs: round((binEngine.medianUs - monoMedian) / voices, 3),
      vsMonoSameRun: round(binEngine.medianUs / monoMedian, 2),
      shareOfQuantumPct: round((100 * binEngine.medianUs) / QUANTUM_US, 3),
    },
  );
}

report('dsp-spatial', rows, { quantumSamples: N, sampleRateHz: 48_000 });
