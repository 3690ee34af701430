// AGC and level meter/VAD kernels: µs per 20 ms frame (960 samples) of speech with noise, WASM
// vs the scalar TS references (src/reference/ScalarAgc.ts, ScalarVad.ts), same run.
import { Agc } from '../../packages/wasm-dsp/src/Agc.js';
import { ScalarAgc } from '../../packages/wasm-dsp/src/reference/ScalarAgc.js';
import { ScalarVad } from '../../packages/wasm-dsp/src/reference/ScalarVad.js';
import { vadParams } from '../../packages/wasm-dsp/src/vadOptions.js';
import { VoiceActivityDetector } from '../../packages/wasm-dsp/src/VoiceActivityDetector.js';
import { mix, pinkNoise, scaleTo, speechTrack } from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const N = 960;
const x = mix(
  scaleTo(speechTrack(48_000 * 8, 'en-us', 400), -30),
  scaleTo(pinkNoise(48_000 * 8, 1), -60),
);
const frames = x.length / N;
const opts = { batches: 41, batchSize: 400, warmupCalls: 4_000 };

// Each call processes the next frame of the signal, cycling, so gains and decisions move.
function cycler(write: (frame: Float32Array) => void, run: () => void): () => void {
  let f = 0;
  return () => {
    write(x.subarray(f * N, f * N + N));
    run();
    f = (f + 1) % frames;
  };
}

const agc = await Agc.create();
const agcRef = new ScalarAgc(N);
const agcBuf = new Float32Array(N);
const vad = await VoiceActivityDetector.create();
const vadRef = new ScalarVad(vadParams(N));
const copy = new Float32Array(N);

const copyOnly = timeUs(
  cycler(
    (fr) => copy.set(fr),
    () => {},
  ),
  opts,
);
const a = timeUs(
  cycler(
    (fr) => agc.frame.set(fr),
    () => void agc.process(),
  ),
  opts,
);
const ar = timeUs(
  cycler(
    (fr) => agcBuf.set(fr),
    () => void agcRef.process(agcBuf),
  ),
  opts,
);
const v = timeUs(
  cycler(
    (fr) => vad.frame.set(fr),
    () => vad.process(),
  ),
  opts,
);
const vr = timeUs(
  cycler(
    (fr) => copy.set(fr),
    () => void vadRef.process(copy),
  ),
  opts,
);

const rows: BenchRow[] = [
  {
    name: 'agc.wasm.960',
    median: a.medianUs,
    p95: a.p95Us,
    unit: 'us/frame',
    speedupVsScalar: round(ar.medianUs / a.medianUs, 2),
    note: 'includes its energy VAD and the limiter',
  },
  { name: 'agc.scalar.960', median: ar.medianUs, p95: ar.p95Us, unit: 'us/frame' },
  {
    name: 'vad.wasm.960',
    median: v.medianUs,
    p95: v.p95Us,
    unit: 'us/frame',
    speedupVsScalar: round(vr.medianUs / v.medianUs, 2),
  },
  { name: 'vad.scalar.960', median: vr.medianUs, p95: vr.p95Us, unit: 'us/frame' },
  { name: 'frame-copy.960', median: copyOnly.medianUs, p95: copyOnly.p95Us, unit: 'us/frame' },
];
report('dsp-agc-vad', rows, { signal: 'speech -30 dBFS + pink noise -60 dBFS' });
