import { describe, expect, it } from 'vitest';
import { bestLag, fitSine, tone, whiteNoise } from '@concord/testing';
import { DspError } from './DspError.js';
import { ScalarSpatializer } from './reference/ScalarSpatializer.js';
import { Spatializer } from './Spatializer.js';
import {
  binauralParams,
  DEFAULT_HEAD_RADIUS_M,
  earAngles,
  headShadowAlpha,
  shadowLowPass,
  SPEED_OF_SOUND_M_PER_S,
} from './spatialModel.js';

const N = 128;
const FS = 48_000;

/** Runs `signal` (a multiple of N samples) through voice 0 and returns both ears. */
function render(
  s: Spatializer,
  signal: Float32Array,
  others: Float32Array[] = [],
): { left: Float32Array; right: Float32Array; mono: Float32Array } {
  const left = new Float32Array(signal.length);
  const right = new Float32Array(signal.length);
  const mono = new Float32Array(signal.length);
  for (let i = 0; i < signal.length; i += N) {
    s.input(0).set(signal.subarray(i, i + N));
    others.forEach((o, k) => s.input(k + 1).set(o.subarray(i, i + N)));
    s.process(1 + others.length);
    left.set(s.left, i);
    right.set(s.right, i);
    mono.set(s.mono, i);
  }
  return { left, right, mono };
}

/** |H(e^jω)| of the digital shadow filter LP + α·(1 − LP) times the linear-interpolation delay. */
function expectedGain(alpha: number, delaySamples: number, freqHz: number): number {
  const { b, a1 } = shadowLowPass(DEFAULT_HEAD_RADIUS_M, FS);
  const w = (2 * Math.PI * freqHz) / FS;
  const [cr, ci] = [Math.cos(w), -Math.sin(w)]; // z^-1
  // LP = b(1 + z^-1) / (1 + a1 z^-1)
  const nr = b * (1 + cr);
  const ni = b * ci;
  const dr = 1 + a1 * cr;
  const di = a1 * ci;
  const den = dr * dr + di * di;
  const lr = (nr * dr + ni * di) / den;
  const li = (ni * dr - nr * di) / den;
  const hr = lr + alpha * (1 - lr);
  const hi = li - alpha * li;
  const f = delaySamples - Math.floor(delaySamples);
  const ir = 1 - f + f * cr;
  const ii = f * ci;
  return Math.hypot(hr, hi) * Math.hypot(ir, ii);
}

const db = (x: number): number => 20 * Math.log10(x);

describe('spatial model (Brown & Duda spherical head)', () => {
  it('puts a source at +90° on the left ear axis and one at 0° halfway between the ears', () => {
    expect(earAngles(Math.PI / 2).left).toBeCloseTo(0, 9);
    expect(earAngles(Math.PI / 2).right).toBeCloseTo(Math.PI, 9);
    expect(earAngles(0).left).toBeCloseTo(Math.PI / 2, 9);
    expect(earAngles(0).right).toBeCloseTo(Math.PI / 2, 9);
    // Straight up is on neither side.
    expect(earAngles(Math.PI / 2, Math.PI / 2).left).toBeCloseTo(Math.PI / 2, 9);
  });

  it('boosts highs 6 dB at the facing ear and cuts them 20 dB at 150°', () => {
    expect(headShadowAlpha(0)).toBeCloseTo(2, 9);
    expect(headShadowAlpha((150 * Math.PI) / 180)).toBeCloseTo(0.1, 9);
  });

  it("gives Woodworth's ITD, (a/c)(π/2 + 1) ≈ 0.66 ms, between the ears for a source at 90°", () => {
    const p = binauralParams(-Math.PI / 2, 0, DEFAULT_HEAD_RADIUS_M, FS);
    const itdS = (p.left.delaySamples - p.right.delaySamples) / FS;
    const woodworth = (DEFAULT_HEAD_RADIUS_M / SPEED_OF_SOUND_M_PER_S) * (Math.PI / 2 + 1);
    expect(itdS).toBeCloseTo(woodworth, 9);
    expect(itdS * 1000).toBeGreaterThan(0.6);
    expect(itdS * 1000).toBeLessThan(0.7);
  });
});

describe('Spatializer', () => {
  it('agrees with the scalar reference to float rounding while 4 voices move, fade and stop', async () => {
    const s = await Spatializer.create({ maxVoices: 4 });
    s.limiterEnabled = false;
    const ref = new ScalarSpatializer(4);
    let worst = 0;
    for (let f = 0; f < 300; f++) {
      for (let v = 0; v < 4; v++) {
        const x = whiteNoise(N, f * 4 + v + 1).map((u) => u * 0.2);
        s.input(v).set(x);
        ref.input(v).set(x);
        if (f % (v + 2) === 0) {
          const az = Math.sin(f * 0.05 + v) * Math.PI;
          s.setDirection(v, az, v * 0.1);
          ref.setDirection(v, az, v * 0.1);
        }
        if (v === 3 && f === 150) {
          s.clearDirection(v);
          ref.clearDirection(v);
        }
        const g = v === 2 ? (f < 100 ? 1 : f < 200 ? 0 : 0.5) : 1 - v * 0.2;
        s.setGain(v, g);
        ref.setGain(v, g);
      }
      s.process(4);
      ref.process(4);
      for (let i = 0; i < N; i++) {
        worst = Math.max(worst, Math.abs(s.left[i]! - ref.left[i]!));
        worst = Math.max(worst, Math.abs(s.right[i]! - ref.right[i]!));
        worst = Math.max(worst, Math.abs(s.mono[i]! - ref.mono[i]!));
      }
    }
    expect(worst).toBeLessThan(1e-5);
    expect(s.left.some((v) => v !== 0)).toBe(true);
  });

  it('delays the far ear by the ITD: the right ear lags ~31.5 samples for a source at +90° (left)', async () => {
    const s = await Spatializer.create({ maxVoices: 2 });
    s.limiterEnabled = false;
    s.setDirection(0, Math.PI / 2);
    const noise = whiteNoise(48 * N, 3).map((v) => v * 0.2);
    const { left, right } = render(s, noise);
    const tail = (x: Float32Array): Float32Array => x.subarray(8 * N);
    // Positive: the second argument is behind the first.
    expect(bestLag(tail(left), tail(right), 48)).toBeGreaterThanOrEqual(31);
    expect(bestLag(tail(left), tail(right), 48)).toBeLessThanOrEqual(32);
    expect(bestLag(tail(noise), tail(left), 48)).toBe(0);
  });

  it('mirrors for a source at −90° (right): the left ear lags', async () => {
    const s = await Spatializer.create({ maxVoices: 1 });
    s.limiterEnabled = false;
    s.setDirection(0, -Math.PI / 2);
    const { left, right } = render(
      s,
      whiteNoise(48 * N, 4).map((v) => v * 0.2),
    );
    const lag = bestLag(right.subarray(8 * N), left.subarray(8 * N), 48);
    expect(lag).toBeGreaterThanOrEqual(31);
    expect(lag).toBeLessThanOrEqual(32);
  });

  it('makes the near ear louder at high frequencies by the model ILD (~17 dB at 6 kHz) and not at 200 Hz', async () => {
    for (const [side, az] of [
      ['left', Math.PI / 2],
      ['right', -Math.PI / 2],
    ] as const) {
      const p = binauralParams(az, 0, DEFAULT_HEAD_RADIUS_M, FS);
      const near = side === 'left' ? p.left : p.right;
      const far = side === 'left' ? p.right : p.left;
      for (const freqHz of [200, 1_000, 6_000]) {
        const s = await Spatializer.create({ maxVoices: 1 });
        s.limiterEnabled = false;
        s.setDirection(0, az);
        const out = render(s, tone(64 * N, freqHz, 0.25));
        const nearOut = side === 'left' ? out.left : out.right;
        const farOut = side === 'left' ? out.right : out.left;
        const ildDb =
          db(fitSine(nearOut.subarray(16 * N), freqHz).amplitude) -
          db(fitSine(farOut.subarray(16 * N), freqHz).amplitude);
        const expected = db(
          expectedGain(near.alpha, near.delaySamples, freqHz) /
            expectedGain(far.alpha, far.delaySamples, freqHz),
        );
        expect(ildDb).toBeCloseTo(expected, 1);
        if (freqHz === 200) expect(Math.abs(ildDb)).toBeLessThan(1.5);
        if (freqHz === 6_000) {
          expect(ildDb).toBeGreaterThan(12);
          expect(ildDb).toBeLessThan(22);
        }
      }
    }
  });

  it('is mono-compatible at 0°: both ears identical, the downmix equal to them and flat below 500 Hz', async () => {
    const s = await Spatializer.create({ maxVoices: 1 });
    s.limiterEnabled = false;
    s.setDirection(0, 0);
    const noise = whiteNoise(32 * N, 5).map((v) => v * 0.2);
    const { left, right, mono } = render(s, noise);
    expect(Array.from(right)).toEqual(Array.from(left));
    expect(Array.from(mono)).toEqual(Array.from(left));
    const low = render(s, tone(32 * N, 300, 0.25));
    expect(Math.abs(db(fitSine(low.mono.subarray(8 * N), 300).amplitude / 0.25))).toBeLessThan(0.5);
  });

  it('passes a voice without a direction unchanged to both ears, scaled by its gain', async () => {
    const s = await Spatializer.create({ maxVoices: 3 });
    s.limiterEnabled = false;
    s.setDirection(0, 1);
    s.clearDirection(0);
    s.setGain(0, 0.5);
    s.process(1); // the gain ramps across this frame
    const noise = whiteNoise(4 * N, 6).map((v) => v * 0.3);
    const { left, right } = render(s, noise);
    for (let i = 0; i < noise.length; i++) {
      expect(left[i]).toBe(Math.fround(0.5 * noise[i]!));
      expect(right[i]).toBe(left[i]);
    }
  });

  it('sums voices: a silent (gain 0) voice adds nothing, two placed voices add', async () => {
    const a = await Spatializer.create({ maxVoices: 2 });
    const b = await Spatializer.create({ maxVoices: 2 });
    for (const s of [a, b]) {
      s.limiterEnabled = false;
      s.setDirection(0, 0.7);
      s.setDirection(1, -1.2);
    }
    b.setGain(1, 0);
    b.process(2); // ramp to 0
    a.setGain(1, 0);
    a.process(2);
    const x = whiteNoise(8 * N, 7).map((v) => v * 0.2);
    const y = whiteNoise(8 * N, 8).map((v) => v * 0.2);
    const withSilent = render(a, x, [y]);
    const alone = render(b, x, [new Float32Array(x.length)]);
    expect(Array.from(withSilent.left)).toEqual(Array.from(alone.left));
    a.setGain(1, 1);
    const both = render(a, x, [y]);
    expect(both.left.some((v, i) => Math.abs(v - withSilent.left[i]!) > 0.01)).toBe(true);
  });

  it('moves a voice across the head without clicks (sample steps stay at the signal’s own)', async () => {
    const s = await Spatializer.create({ maxVoices: 1 });
    s.limiterEnabled = false;
    let maxStep = 0;
    let prev = 0;
    for (let f = 0; f < 200; f++) {
      s.setDirection(0, -Math.PI / 2 + (Math.PI * f) / 199);
      s.input(0).set(tone((f + 1) * N, 300, 0.5).subarray(f * N));
      s.process(1);
      for (const v of s.left) {
        maxStep = Math.max(maxStep, Math.abs(v - prev));
        prev = v;
      }
    }
    // A 300 Hz sine of peak 0.5 steps at most 2π·300/48000·0.5 ≈ 0.02 per sample; with the
    // near-ear high boost well below 0.05.
    expect(maxStep).toBeLessThan(0.05);
  });

  it('limits loud voices below the ceiling in both ears', async () => {
    const s = await Spatializer.create({ maxVoices: 4 });
    for (let v = 0; v < 4; v++) s.setDirection(v, 1.3);
    const x = tone(32 * N, 3_000, 0.9);
    const { left, right } = render(s, x, [x, x, x]);
    const peak = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(peak(left)).toBeLessThanOrEqual(Math.fround(10 ** (-0.2 / 20)));
    expect(peak(right)).toBeLessThanOrEqual(Math.fround(10 ** (-0.2 / 20)));
    expect(peak(left)).toBeGreaterThan(0.5);
    expect(s.takeLimiterReductionDb()).toBeGreaterThan(6);
  });

  it('rejects bad arguments with RangeError and any use after destroy with DspError', async () => {
    await expect(Spatializer.create({ maxVoices: 0 })).rejects.toThrow(RangeError);
    await expect(Spatializer.create({ maxVoices: 1, frameSamples: 100 })).rejects.toThrow(
      /frameSamples/,
    );
    const s = await Spatializer.create({ maxVoices: 2 });
    expect(() => s.setGain(2, 1)).toThrow(/index/);
    expect(() => s.setGain(0, 5)).toThrow(/gain/);
    expect(() => s.setDirection(0, Number.NaN)).toThrow(/azimuthRad/);
    s.destroy();
    s.destroy();
    expect(() => s.process(1)).toThrow(DspError);
    expect(() => s.setGain(0, 1)).toThrow(DspError);
  });
});
