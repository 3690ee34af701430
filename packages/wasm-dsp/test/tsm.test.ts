import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { ScalarTimeStretcher } from '../src/reference/ScalarTimeStretcher.js';
import { TimeStretcher } from '../src/TimeStretcher.js';
import { TSM_HISTORY_SAMPLES, type TimeStretchOutcome } from '../src/tsmOptions.js';
import { readKernelBytes } from '../src/wasmLoader.js';
import {
  dbfs,
  fftInPlace,
  FS,
  measureFrequencyHz,
  rng,
  speechTrack,
  tone,
  whiteNoise,
} from '@concord/testing';

type Stretcher = Pick<
  TimeStretcher,
  | 'accelerate'
  | 'preemptiveExpand'
  | 'passThrough'
  | 'lastOutcome'
  | 'lastChangeSamples'
  | 'lastPeriodSamples'
  | 'lastCorrelation'
>;
type Action = 'accelerate' | 'expand' | 'pass';

/** One call: where its input came from and where its output went. */
interface Call {
  action: Action;
  inStart: number;
  n: number;
  outStart: number;
  m: number;
  change: number;
  period: number;
  correlation: number;
  outcome: TimeStretchOutcome;
}

/**
 * Feeds `x` in frames of `n` through `ts`, choosing each frame's action with `pick`; returns
 * the concatenated output and a record of every call. `naive` replaces every splice by a hard
 * cut at the frame start (same samples removed or repeated, no cross-fade): the click baseline.
 */
function stream(
  ts: Stretcher,
  x: Float32Array,
  n: number,
  pick: (k: number) => Action,
  naive = false,
): { y: Float32Array; calls: Call[] } {
  const y = new Float32Array(Math.floor(x.length / n) * (n + 960));
  const buf = new Float32Array(n + 960);
  const calls: Call[] = [];
  let o = 0;
  for (let k = 0; (k + 1) * n <= x.length; k++) {
    const frame = x.subarray(k * n, (k + 1) * n);
    const action = pick(k);
    let m: number;
    if (action === 'pass') {
      m = ts.passThrough(frame);
      buf.set(frame);
    } else {
      m = action === 'accelerate' ? ts.accelerate(frame, buf) : ts.preemptiveExpand(frame, buf);
    }
    const change = ts.lastChangeSamples;
    if (naive && change < 0) {
      buf.set(frame.subarray(-change));
    } else if (naive && change > 0) {
      buf.set(y.subarray(o - change, o));
      buf.set(frame, change);
    }
    y.set(buf.subarray(0, m), o);
    calls.push({
      action,
      inStart: k * n,
      n,
      outStart: o,
      m,
      change,
      period: ts.lastPeriodSamples,
      correlation: ts.lastCorrelation,
      outcome: ts.lastOutcome,
    });
    o += m;
  }
  return { y: y.slice(0, o), calls };
}

/** Input index that output index `t` plays (the spliced-in side of a splice). */
function inputIndex(calls: readonly Call[], t: number): number {
  const c = calls.find((q) => t >= q.outStart && t < q.outStart + q.m)!;
  return c.inStart + (t - c.outStart) - c.change;
}

/**
 * Pitch period in samples of x[a, a + 960) by full-rate normalised autocorrelation over
 * 100–800-sample lags (60–480 Hz; the shortest local peak within 90 % of the best, parabolic fit):
 * independent of the kernel's decimated search.
 */
function pitchPeriod(x: Float32Array, a: number): { period: number; r: number } {
  const w = 960;
  const r = new Float64Array(802);
  for (let l = 99; l <= 801; l++) {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i < w; i++) {
      const u = x[a + i]!;
      const v = x[a + i - l]!;
      xy += u * v;
      xx += u * u;
      yy += v * v;
    }
    r[l] = xy / Math.sqrt(xx * yy + 1e-20);
  }
  let best = 100;
  for (let l = 100; l <= 800; l++) if (r[l]! > r[best]!) best = l;
  for (let l = 100; l < best; l++) {
    if (r[l]! >= 0.9 * r[best]! && r[l]! >= r[l - 1]! && r[l]! >= r[l + 1]!) {
      best = l;
      break;
    }
  }
  const den = r[best - 1]! - 2 * r[best]! + r[best + 1]!;
  const d = den < 0 ? (0.5 * (r[best - 1]! - r[best + 1]!)) / den : 0;
  return { period: best + d, r: r[best]! };
}

/**
 * Edges (FFT bins of 1024 at 48 kHz) of 24 log-spaced bands from 94 Hz to 10 kHz (espeak-ng
 * renders at 22.05 kHz: nothing lives above ~11 kHz).
 */
const BAND_EDGES = Array.from({ length: 25 }, (_, i) => Math.round(2 * (213 / 2) ** (i / 24)));

/**
 * Band levels in dB of a 20 ms Hann window of `x` centred at `c`: 24 log-spaced bands
 * (a smoothed log spectrum, so that harmonics moving by a few Hz do not dominate), floored
 * 60 dB under the loudest band.
 */
function bandLevels(x: Float32Array, c: number): number[] {
  const w = 960;
  const size = 1024;
  const a = Math.round(c - w / 2);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let i = 0; i < w; i++) re[i] = x[a + i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / w));
  fftInPlace(re, im);
  const levels: number[] = [];
  for (let b = 0; b < 24; b++) {
    const lo = BAND_EDGES[b]!;
    const hi = Math.max(BAND_EDGES[b + 1]!, lo + 1);
    let e = 1e-12;
    for (let k = lo; k < hi; k++) e += re[k]! ** 2 + im[k]! ** 2;
    levels.push(10 * Math.log10(e / (hi - lo)));
  }
  const floor = Math.max(...levels) - 60;
  return levels.map((l) => Math.max(l, floor));
}

/** Log-spectral distance in dB (RMS of the band level differences). */
function lsdDb(a: readonly number[], b: readonly number[]): number {
  let e = 0;
  for (let k = 0; k < a.length; k++) e += (a[k]! - b[k]!) ** 2;
  return Math.sqrt(e / a.length);
}

function maxStep(x: Float32Array, from: number, to: number): number {
  let d = 0;
  for (let i = Math.max(1, from); i < Math.min(x.length, to); i++) {
    d = Math.max(d, Math.abs(x[i]! - x[i - 1]!));
  }
  return d;
}

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** A harmonic tone: `f0Hz` and 7 overtones at 1/h amplitude (0.3 peak for the fundamental). */
function harmonic(samples: number, f0Hz: number): Float32Array {
  const x = new Float32Array(samples);
  for (let h = 1; h <= 8; h++) {
    const t = tone(samples, f0Hz * h, 0.3 / h);
    for (let i = 0; i < samples; i++) x[i]! += t[i]!;
  }
  return x;
}

const ACTIONS: readonly Action[] = ['accelerate', 'expand'];
const always = (a: Action) => (): Action => a;
// The first frames fill the 40 ms history; splices start after it.
const afterWarmUp =
  (a: Action, n: number) =>
  (k: number): Action =>
    k * n < TSM_HISTORY_SAMPLES ? 'pass' : a;

const speechOf: Record<string, Float32Array> = {};
let speechX: Float32Array;
let tsmBytes: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  speechOf.male = speechTrack(FS * 4, 'en-us');
  speechOf.female = speechTrack(FS * 4, 'en-us+f3');
  speechX = speechTrack(FS * 6);
  tsmBytes = new Uint8Array(await readKernelBytes('tsm'));
});

describe('TimeStretcher on harmonic tones', () => {
  for (const [f0Hz, period] of [
    [200, 240],
    [150, 320],
  ] as const) {
    for (const n of [480, 960]) {
      it(`${f0Hz} Hz, ${n}-sample frames: accelerate removes and expand inserts exactly ${period} samples per call`, async () => {
        const x = harmonic(FS, f0Hz);
        for (const action of ACTIONS) {
          const { calls } = stream(await TimeStretcher.create(), x, n, afterWarmUp(action, n));
          const spliced = calls.filter((c) => c.action !== 'pass');
          expect(spliced.length).toBeGreaterThan(40);
          for (const c of spliced) {
            expect(c.outcome).toBe('voiced');
            expect(c.change).toBe(action === 'accelerate' ? -period : period);
            expect(c.m).toBe(n + c.change);
            expect(c.correlation).toBeGreaterThan(0.99);
          }
        }
      });
    }
  }

  it('a period of 350.4 samples (137 Hz) is spliced as 350 or 351, and F0 stays within 0.1 %', async () => {
    const x = harmonic(FS * 3, 137);
    for (const action of ACTIONS) {
      const { y, calls } = stream(await TimeStretcher.create(), x, 480, afterWarmUp(action, 480));
      const periods = new Set(calls.filter((c) => c.change !== 0).map((c) => c.period));
      expect([...periods].every((p) => p === 350 || p === 351)).toBe(true);
      const f0 = measureFrequencyHz(y.subarray(FS / 10, y.length - FS / 10), 137);
      expect(Math.abs(f0 / 137 - 1)).toBeLessThan(0.001);
    }
  });

  it('a 10 ms frame cannot lose a 9.9 ms period (noRoom, output = input); a 20 ms input can', async () => {
    const x = harmonic(FS, 101);
    const short = stream(await TimeStretcher.create(), x, 480, afterWarmUp('accelerate', 480));
    const tried = short.calls.filter((c) => c.action === 'accelerate');
    expect(tried.every((c) => c.outcome === 'noRoom' && c.m === 480)).toBe(true);
    expect(short.y).toEqual(x.subarray(0, short.y.length));
    const long = stream(await TimeStretcher.create(), x, 960, afterWarmUp('accelerate', 960));
    const spliced = long.calls.filter((c) => c.action === 'accelerate');
    expect(spliced.every((c) => c.outcome === 'voiced')).toBe(true);
    // 48000 / 101 = 475.2 samples.
    expect(spliced.every((c) => c.change === -475 || c.change === -476)).toBe(true);
  });
});

// espeak-ng's en-us voice speaks at ~105 Hz (periods ~460 samples: too long for a 10 ms frame
// to lose), en-us+f3 at ~230 Hz.
describe.each([
  ['male', 'en-us'],
  ['female', 'en-us+f3'],
])('TimeStretcher on %s speech (espeak-ng %s)', (who) => {
  const lowVoice = who === 'male';
  const speech = (): Float32Array => speechOf[who]!;
  for (const n of [480, 960]) {
    for (const action of ACTIONS) {
      const limited = lowVoice && action === 'accelerate' && n === 480;
      it(`${action}, ${n}-sample frames: output length = input + reported change; the change is the local pitch period`, async () => {
        const { y, calls } = stream(await TimeStretcher.create(), speech(), n, always(action));
        let total = 0;
        for (const c of calls) {
          expect(c.m).toBe(c.n + c.change);
          expect(Math.abs(c.change)).toBe(
            c.outcome === 'voiced' || c.outcome === 'quiet' ? c.period : 0,
          );
          total += c.m;
        }
        expect(y.length).toBe(total);
        // Voiced splices against an independent full-rate pitch estimate of the input around
        // the splice (its first period for accelerate; the period before it for expand).
        const voiced = calls.filter((c) => c.outcome === 'voiced' && c.inStart >= 2 * 960);
        expect(voiced.length).toBeGreaterThan(limited ? 10 : 50);
        const errors = voiced.map((c) => {
          const at = action === 'accelerate' ? c.inStart + c.period : c.inStart;
          return Math.abs(c.period / pitchPeriod(speech(), at).period - 1);
        });
        expect(quantile(errors, 0.85)).toBeLessThan(0.02);
        // Stretching every frame moved the delay by a lot: ≥ 0.5 s over 4 s of speech (the
        // low voice in 10 ms frames: ≥ 0.1 s, its periods mostly do not fit).
        const movedMs = (Math.abs(y.length - speech().length) / FS) * 1000;
        expect(movedMs).toBeGreaterThan(limited ? 100 : 500);
      });

      it(`${action}, ${n}-sample frames: pitch kept — F0 of voiced windows within 1 %`, async () => {
        const { y, calls } = stream(await TimeStretcher.create(), speech(), n, always(action));
        const errors: number[] = [];
        for (let t = 2 * 960; t + 960 < y.length; t += 960) {
          const ti = inputIndex(calls, t);
          if (ti < 2 * 960 || ti + 960 > speech().length) continue;
          const out = pitchPeriod(y, t);
          const ref = pitchPeriod(speech(), ti);
          if (out.r > 0.8 && ref.r > 0.8) errors.push(Math.abs(ref.period / out.period - 1));
        }
        expect(errors.length).toBeGreaterThan(40);
        expect(quantile(errors, 0.5)).toBeLessThan(0.005);
        expect(quantile(errors, 0.85)).toBeLessThan(0.01);
      });

      it(`${action}, ${n}-sample frames: no clicks — no splice steps more than the signal does there`, async () => {
        // Every other frame stretched, so that each 20 ms analysis window holds one splice
        // (every frame would compress 10 ms frames of this ~100 Hz voice by 85 %).
        const everyOther = (k: number): Action => (k % 2 === 0 ? action : 'pass');
        const check = (
          naive: boolean,
        ): {
          over: number;
          spliced: number;
          overActive: number;
          active: number;
          lsd: number[];
          oneperiod: number[];
        } => {
          const ts = new ScalarTimeStretcher();
          const { y, calls } = stream(ts, speech(), n, everyOther, naive);
          let over = 0;
          let spliced = 0;
          let overActive = 0;
          let active = 0;
          const lsd: number[] = [];
          const oneperiod: number[] = [];
          for (const c of calls) {
            if (c.change === 0) continue;
            spliced++;
            const p = Math.abs(c.change);
            // The splice's sources: this input's first two periods (accelerate), or the period
            // played before it and this input's first (expand), plus the junction.
            const from = action === 'accelerate' ? c.outStart : c.outStart - p;
            const src = new Float32Array(c.outStart - from + c.n + 1);
            src.set(y.subarray(from - 1, c.outStart));
            src.set(speech().subarray(c.inStart, c.inStart + c.n), c.outStart - from + 1);
            const sources = Math.min(c.n, action === 'accelerate' ? 2 * p + 1 : p);
            const allowed = maxStep(src, 0, c.outStart - from + 1 + sources);
            const step = maxStep(y, c.outStart, c.outStart + Math.min(c.m, p + 1));
            // A cross-fade's own slope may add a fraction of a percent; a click is a step
            // several times the signal's (the hard cuts below reach 9×). Steps under −100 dBFS
            // (numerical dust in silence) are no clicks either.
            const click = step > Math.max(1.01 * allowed, 1e-5);
            if (click) over++;
            if (dbfs(speech(), c.inStart, c.inStart + c.n) > -40) {
              active++;
              if (click) overActive++;
              // The output window over the splice against the input it plays, best of the
              // alignments within ± one period (the map is exact only up to a period).
              const t = c.outStart + (naive ? 0 : Math.min(c.m, p) / 2);
              const ti = c.inStart + (t - c.outStart) - c.change;
              const inside = ti - 480 - p >= 0 && ti + 480 + p <= speech().length;
              if (t - 480 >= 0 && t + 480 <= y.length && inside) {
                const out = bandLevels(y, t);
                let best = Infinity;
                for (let d = -p; d <= p; d += p >> 3) {
                  best = Math.min(best, lsdDb(out, bandLevels(speech(), ti + d)));
                }
                lsd.push(best);
                const at = bandLevels(speech(), ti);
                oneperiod.push(lsdDb(at, bandLevels(speech(), ti + p)));
              }
            }
          }
          return { over, spliced, overActive, active, lsd, oneperiod };
        };
        const tsm = check(false);
        expect(tsm.spliced).toBeGreaterThan(40);
        expect(tsm.over).toBe(0);
        // Log-spectral distance of the 20 ms windows over active splices: below what the
        // input itself changes over one period (its windows one period apart).
        expect(tsm.lsd.length).toBeGreaterThan(limited ? 10 : 40);
        expect(quantile(tsm.lsd, 0.5)).toBeLessThan(quantile(tsm.oneperiod, 0.5));
        expect(quantile(tsm.lsd, 0.9)).toBeLessThan(5);
        // The same splices as hard cuts: both checks see the clicks.
        const naive = check(true);
        expect(naive.overActive).toBeGreaterThan(0);
        expect(quantile(naive.lsd, 0.5)).toBeGreaterThan(1.3 * quantile(tsm.lsd, 0.5));
      });
    }
  }

  it('every output continues the previous one: passed frames are the input, stretched ones end on its last sample', async () => {
    const random = rng(7);
    const pick = (): Action => {
      const u = random();
      return u < 0.3 ? 'accelerate' : u < 0.6 ? 'expand' : 'pass';
    };
    const { y, calls } = stream(await TimeStretcher.create(), speech(), 480, pick);
    for (const c of calls) {
      const last = speech()[c.inStart + c.n - 1]!;
      expect(y[c.outStart + c.m - 1]).toBe(last);
      if (c.change === 0)
        expect(y.subarray(c.outStart, c.outStart + c.m)).toEqual(
          speech().subarray(c.inStart, c.inStart + c.n),
        );
    }
    expect(maxStep(y, 1, y.length)).toBeLessThanOrEqual(maxStep(speech(), 1, speech().length));
  });
});

describe('TimeStretcher decisions', () => {
  it('loud noise is refused (output = input); quiet noise is stretched', async () => {
    for (const action of ACTIONS) {
      const loud = whiteNoise(FS, 3).map((v) => v * 0.3);
      const a = stream(await TimeStretcher.create(), loud, 960, afterWarmUp(action, 960));
      const tried = a.calls.filter((c) => c.action !== 'pass');
      // Refused as not periodic, or (accelerate) because the best lag found does not fit.
      const refused = ['lowCorrelation', 'noRoom'];
      expect(tried.every((c) => refused.includes(c.outcome) && c.correlation < 0.5)).toBe(true);
      expect(a.y).toEqual(loud);
      const quiet = whiteNoise(FS, 4).map((v) => v * 0.003); // ≈ −55 dBFS
      const b = stream(await TimeStretcher.create(), quiet, 960, afterWarmUp(action, 960));
      const stretched = b.calls.filter((c) => c.action !== 'pass');
      expect(stretched.every((c) => c.outcome === 'quiet' && c.change !== 0)).toBe(true);
    }
  });

  it('quietDbfs −120 and a 0.5 threshold change what is stretched', async () => {
    const quiet = whiteNoise(FS, 4).map((v) => v * 0.003);
    const a = stream(
      await TimeStretcher.create({ quietDbfs: -120 }),
      quiet,
      960,
      afterWarmUp('accelerate', 960),
    );
    const tried = a.calls.filter((c) => c.action !== 'pass');
    expect(tried.every((c) => c.outcome === 'lowCorrelation' || c.outcome === 'noRoom')).toBe(true);
    const strict = stream(
      await TimeStretcher.create({ correlationThreshold: 1 }),
      speechX,
      960,
      always('expand'),
    );
    const loose = stream(
      await TimeStretcher.create({ correlationThreshold: 0.5 }),
      speechX,
      960,
      always('expand'),
    );
    const count = (s: { calls: Call[] }): number =>
      s.calls.filter((c) => c.outcome === 'voiced').length;
    expect(count(strict)).toBe(0);
    expect(count(loose)).toBeGreaterThan(
      count(stream(new ScalarTimeStretcher(), speechX, 960, always('expand'))),
    );
  });

  it('reset forgets the history: the first voiced frame after it cannot be expanded', async () => {
    const x = harmonic(FS / 2, 200);
    const ts = await TimeStretcher.create();
    const out = new Float32Array(480 + 960);
    for (let k = 0; k < 8; k++) ts.passThrough(x.subarray(k * 480, (k + 1) * 480));
    ts.preemptiveExpand(x.subarray(8 * 480, 9 * 480), out);
    expect(ts.lastOutcome).toBe('voiced');
    ts.reset();
    expect(ts.preemptiveExpand(x.subarray(9 * 480, 10 * 480), out)).toBe(480);
    expect(ts.lastOutcome).toBe('lowCorrelation');
  });
});

describe('TimeStretcher kernel', () => {
  it('matches the scalar reference bit for bit (outputs and reports, mixed actions and sizes)', async () => {
    for (const n of [480, 960, 437, 1920, 2880, 64]) {
      const x = n % 3 === 0 ? speechOf.male! : speechOf.female!;
      const random = rng(n);
      const actions: Action[] = Array.from({ length: Math.floor(x.length / n) }, () => {
        const u = random();
        return u < 0.4 ? 'accelerate' : u < 0.8 ? 'expand' : 'pass';
      });
      const a = stream(TimeStretcher.createSync(tsmBytes), x, n, (k) => actions[k]!);
      const b = stream(new ScalarTimeStretcher(), x, n, (k) => actions[k]!);
      expect(a.calls).toEqual(b.calls);
      expect(a.y).toEqual(b.y);
      // Every path is exercised (64-sample inputs can only splice quiet frames).
      const outcomes = new Set(a.calls.map((c) => c.outcome));
      const expected =
        n === 64 ? ['quiet', 'noRoom', 'passed'] : ['voiced', 'quiet', 'lowCorrelation', 'passed'];
      for (const o of expected) expect(outcomes).toContain(o);
    }
  });

  it('allocates nothing per call: kernel memory stays the same over 10,000 calls', async () => {
    const ts = await TimeStretcher.create();
    const bytes = ts.memoryBytes;
    const out = new Float32Array(2880 + 960);
    for (let i = 0; i < 10_000; i++) {
      const at = (i * 480) % (speechX.length - 2880);
      const n = [480, 960, 2880][i % 3]!;
      const frame = speechX.subarray(at, at + n);
      if (i % 3 === 0) ts.accelerate(frame, out);
      else if (i % 3 === 1) ts.preemptiveExpand(frame, out);
      else ts.passThrough(frame);
    }
    expect(ts.memoryBytes).toBe(bytes);
    expect(ts.outputView.length).toBe(2880 + 960);
  });

  it('run() on the kernel views equals accelerate()/preemptiveExpand()/passThrough()', async () => {
    const a = await TimeStretcher.create();
    const b = await TimeStretcher.create();
    const out = new Float32Array(960 + 960);
    for (let k = 0; k * 960 + 960 <= FS * 2; k++) {
      const frame = speechX.subarray(k * 960, (k + 1) * 960);
      const action = (['accelerate', 'preemptiveExpand', 'pass'] as const)[k % 3]!;
      const m =
        action === 'accelerate'
          ? a.accelerate(frame, out)
          : action === 'preemptiveExpand'
            ? a.preemptiveExpand(frame, out)
            : a.passThrough(frame);
      if (action === 'pass') out.set(frame);
      b.inputView.set(frame);
      expect(b.run(action, 960)).toBe(m);
      expect(b.outputView.subarray(0, m)).toEqual(out.subarray(0, m));
      expect(b.lastOutcome).toBe(a.lastOutcome);
    }
  });

  it('rejects bad arguments and options, and every call after destroy', async () => {
    const ts = await TimeStretcher.create();
    expect(() => ts.accelerate(new Float32Array(0), new Float32Array(10))).toThrow(RangeError);
    expect(() => ts.accelerate(new Float32Array(2881), new Float32Array(4000))).toThrow(RangeError);
    expect(() => ts.accelerate(new Float32Array(480), new Float32Array(479))).toThrow(RangeError);
    expect(() => ts.preemptiveExpand(new Float32Array(480), new Float32Array(480 + 959))).toThrow(
      /at least 1440 samples/,
    );
    expect(() => ts.run('accelerate', 0)).toThrow(RangeError);
    expect(() => ts.run('accelerate', 1.5)).toThrow(RangeError);
    expect(() => ts.run('stretch' as never, 480)).toThrow(RangeError);
    await expect(TimeStretcher.create({ correlationThreshold: 1.1 })).rejects.toThrow(RangeError);
    await expect(TimeStretcher.create({ quietDbfs: 3 })).rejects.toThrow(RangeError);
    ts.destroy();
    ts.destroy();
    expect(() => ts.passThrough(new Float32Array(480))).toThrow(DspError);
    expect(() => ts.lastOutcome).toThrow(DspError);
    expect(() => ts.reset()).toThrow(DspError);
  });

  it('creating and destroying 1,000 stretchers leaves memory flat', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const externalMb = (): number => {
      gc();
      gc();
      const m = process.memoryUsage();
      return (m.arrayBuffers + m.external) / 2 ** 20;
    };
    const frame = speechX.subarray(FS, FS + 480);
    const out = new Float32Array(480);
    for (let i = 0; i < 50; i++) (await TimeStretcher.create()).destroy();
    const before = externalMb();
    for (let i = 0; i < 1000; i++) {
      const ts = await TimeStretcher.create();
      ts.accelerate(frame, out);
      ts.destroy();
    }
    // Each instance owns ≥ 64 KiB of wasm memory: a leak of all 1,000 would be ≥ 62 MiB.
    expect(externalMb() - before).toBeLessThan(8);
  });
});
