// Time-stretch kernel (jitter-buffer accelerate / preemptive expand): µs per call on 10 ms
// (480) and 20 ms (960) frames at 48 kHz, WASM SIMD vs the scalar TS reference
// (src/reference/ScalarTimeStretcher.ts), same run. Inputs cycle through the voiced part of an
// espeak-ng speech track (every call runs the pitch search; most splice) and through a harmonic
// tone (every call splices). The outcome mix of each run is recorded next to its timing.
import { TimeStretcher } from '../../packages/wasm-dsp/src/TimeStretcher.js';
import { ScalarTimeStretcher } from '../../packages/wasm-dsp/src/reference/ScalarTimeStretcher.js';
import { speech, tone } from '../../packages/testing/src/signals.js';
import { report, round, timeUs, type BenchRow } from '../lib/harness.js';

const FS = 48_000;
const opts = { batches: 31, batchSize: 200, warmupCalls: 2_000 };

// Voiced speech only: the loud part of one sentence (trimmed), looped.
const sentence = speech('The birch canoe slid on the smooth planks.', 'en-us', 160, { trim: true });
const harmonic = new Float32Array(FS);
for (let h = 1; h <= 8; h++) {
  const t = tone(FS, 160 * h, 0.3 / h);
  for (let i = 0; i < FS; i++) harmonic[i]! += t[i]!;
}

type Api = Pick<TimeStretcher, 'accelerate' | 'preemptiveExpand' | 'lastOutcome'>;
type Method = 'accelerate' | 'preemptiveExpand';

function frames(signal: Float32Array, n: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let at = 0; at + n <= signal.length; at += n) out.push(signal.slice(at, at + n));
  return out;
}

function measure(
  api: Api,
  method: Method,
  input: Float32Array[],
): { medianUs: number; p95Us: number; mix: Record<string, number> } {
  const out = new Float32Array(input[0]!.length + 960);
  let k = 0;
  const mix: Record<string, number> = {};
  const t = timeUs(() => {
    api[method](input[k]!, out);
    k = k + 1 === input.length ? 0 : k + 1;
  }, opts);
  for (let i = 0; i < input.length; i++) {
    api[method](input[i]!, out);
    mix[api.lastOutcome] = (mix[api.lastOutcome] ?? 0) + 1;
  }
  return { medianUs: t.medianUs, p95Us: t.p95Us, mix };
}

const rows: BenchRow[] = [];
for (const [signalName, signal] of [
  ['speech', sentence],
  ['tone160', harmonic],
] as const) {
  for (const n of [480, 960]) {
    const input = frames(signal, n);
    for (const method of ['accelerate', 'preemptiveExpand'] as const) {
      const simd = measure(await TimeStretcher.create(), method, input);
      const scalar = measure(new ScalarTimeStretcher(), method, input);
      const name = `tsm.${method}.${signalName}.${n}`;
      const ratio = scalar.medianUs / simd.medianUs;
      // 10 ms of audio per 480 samples: a call must stay a small share of the frame's budget.
      const goalUs = n === 480 ? 20 : 30;
      rows.push({
        name: `${name}.simd`,
        median: simd.medianUs,
        p95: simd.p95Us,
        unit: 'us/call',
        goal: `<= ${goalUs} us, >= 3x scalar`,
        met: simd.medianUs <= goalUs && ratio >= 3,
        speedupVsScalar: round(ratio, 2),
        outcomes: simd.mix,
      });
      rows.push({
        name: `${name}.scalar`,
        median: scalar.medianUs,
        p95: scalar.p95Us,
        unit: 'us/call',
        outcomes: scalar.mix,
      });
    }
  }
}

// The zero-copy path (inputView/run/outputView) against the copying one, 10 ms speech frames.
{
  const input = frames(sentence, 480);
  const ts = await TimeStretcher.create();
  let k = 0;
  const run = timeUs(() => {
    ts.inputView.set(input[k]!);
    ts.run('accelerate', 480);
    k = k + 1 === input.length ? 0 : k + 1;
  }, opts);
  rows.push({
    name: 'tsm.run.accelerate.speech.480.simd',
    median: run.medianUs,
    p95: run.p95Us,
    unit: 'us/call',
  });
  const pass = timeUs(() => {
    ts.passThrough(input[k]!);
    k = k + 1 === input.length ? 0 : k + 1;
  }, opts);
  rows.push({
    name: 'tsm.passThrough.480.simd',
    median: pass.medianUs,
    p95: pass.p95Us,
    unit: 'us/call',
  });
}

report('dsp-tsm', rows, { sampleRateHz: FS, speechSamples: sentence.length });
