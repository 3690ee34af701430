import { describe, expect, it } from 'vitest';
import { tone, whiteNoise } from '@concord/testing';
import { DspError } from './DspError.js';
import { ScalarResampler } from './reference/ScalarResampler.js';
import { Resampler } from './Resampler.js';
import { designResampler } from './resamplerDesign.js';

/** Least-squares fit of a sinusoid at `freqHz` (amplitude, phase and offset free). */
function toneSnrDb(x: Float32Array, freqHz: number, rateHz: number): number {
  const w = (2 * Math.PI * freqHz) / rateHz;
  // Normal equations for [cos, sin, 1].
  let cc = 0,
    ss = 0,
    cs = 0,
    c1 = 0,
    s1 = 0,
    xc = 0,
    xs = 0,
    x1 = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const c = Math.cos(w * i),
      s = Math.sin(w * i),
      v = x[i]!;
    cc += c * c;
    ss += s * s;
    cs += c * s;
    c1 += c;
    s1 += s;
    xc += v * c;
    xs += v * s;
    x1 += v;
  }
  const m = [
    [cc, cs, c1],
    [cs, ss, s1],
    [c1, s1, n],
  ];
  const rhs = [xc, xs, x1];
  // Gaussian elimination (3×3).
  for (let k = 0; k < 3; k++) {
    for (let r = k + 1; r < 3; r++) {
      const q = m[r]![k]! / m[k]![k]!;
      for (let c = k; c < 3; c++) m[r]![c]! -= q * m[k]![c]!;
      rhs[r]! -= q * rhs[k]!;
    }
  }
  const sol = [0, 0, 0];
  for (let k = 2; k >= 0; k--) {
    let v = rhs[k]!;
    for (let c = k + 1; c < 3; c++) v -= m[k]![c]! * sol[c]!;
    sol[k] = v / m[k]![k]!;
  }
  let sig = 0,
    err = 0;
  for (let i = 0; i < n; i++) {
    const fit = sol[0]! * Math.cos(w * i) + sol[1]! * Math.sin(w * i) + sol[2]!;
    sig += fit * fit;
    err += (x[i]! - fit) ** 2;
  }
  return 10 * Math.log10(sig / err);
}

function powerDb(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return 10 * Math.log10(s / x.length + 1e-30);
}

/** Streams `x` through `r` in blocks of `block` samples; returns every output. */
function stream(r: Resampler, x: Float32Array, block: number): Float32Array {
  const out: number[] = [];
  for (let at = 0; at < x.length; at += block) {
    const n = Math.min(block, x.length - at);
    r.input.set(x.subarray(at, at + n));
    const got = r.process(n);
    for (let i = 0; i < got; i++) out.push(r.output[i]!);
  }
  return Float32Array.from(out);
}

describe('Resampler', () => {
  it('keeps a 1 kHz tone at >= 80 dB SNR through 44.1 -> 48 -> 44.1 kHz', async () => {
    const up = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000 });
    const down = await Resampler.create({ inRateHz: 48_000, outRateHz: 44_100 });
    const x = tone(44_100 * 2, 1000, 0.5, 44_100);
    const y = down.processSignal(up.processSignal(x));
    expect(y.length).toBe(x.length);
    // Steady state only: skip the filters' start-up and tail.
    const snr = toneSnrDb(y.subarray(4410, y.length - 4410), 1000, 44_100);
    expect(snr).toBeGreaterThanOrEqual(80);
    // And the round trip is aligned with the input to within a fraction of a sample.
    let err = 0;
    for (let i = 4410; i < x.length - 4410; i++) err = Math.max(err, Math.abs(x[i]! - y[i]!));
    expect(err).toBeLessThan(0.02);
  });

  it('attenuates content above the passband by >= 60 dB (no aliasing, no images)', async () => {
    const down = await Resampler.create({ inRateHz: 48_000, outRateHz: 44_100 });
    const up = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000 });
    // 48 -> 44.1: tones between the output Nyquist and the input Nyquist must not fold back.
    for (const f of [22_500, 23_000, 23_900]) {
      const x = tone(48_000, f, 0.5, 48_000);
      const y = down.processSignal(x).subarray(2000, 40_000);
      expect(powerDb(y) - powerDb(x)).toBeLessThan(-60);
    }
    // 44.1 -> 48: a tone near the input Nyquist has its image mirrored above 22.05 kHz.
    for (const f of [19_000, 21_000]) {
      const x = tone(44_100, f, 0.5, 44_100);
      const y = up.processSignal(x).subarray(2000, 46_000);
      const image = 44_100 - f;
      // Project onto the image frequency: its power against the input's.
      let re = 0,
        im = 0;
      for (let i = 0; i < y.length; i++) {
        re += y[i]! * Math.cos((2 * Math.PI * image * i) / 48_000);
        im += y[i]! * Math.sin((2 * Math.PI * image * i) / 48_000);
      }
      const imageAmp = (2 * Math.hypot(re, im)) / y.length;
      expect(20 * Math.log10(imageAmp / 0.5)).toBeLessThan(-60);
    }
  });

  it('passes the band below the passband edge flat within 0.01 dB', async () => {
    const up = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000 });
    expect(up.design.passbandHz).toBeGreaterThan(18_000);
    for (const f of [100, 3000, 12_000, 18_000]) {
      const x = tone(44_100, f, 0.5, 44_100);
      const y = up.processSignal(x);
      const gainDb = powerDb(y.subarray(2000, 46_000)) - powerDb(x.subarray(2000, 42_000));
      expect(Math.abs(gainDb)).toBeLessThan(0.01);
    }
  });

  it('streams blocks of any size seamlessly and matches the scalar reference', async () => {
    const x = whiteNoise(44_100, 3).map((v) => v * 0.2);
    const ref = new ScalarResampler(44_100, 48_000, 44_100);
    const refOut = new Float32Array(48_100);
    const refCount = ref.process(x, refOut);
    for (const block of [1, 128, 441, 882, 4096]) {
      const r = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000 });
      const y = stream(r, x, block);
      expect(y.length).toBe(refCount);
      let err = 0;
      for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i]! - refOut[i]!));
      expect(err).toBeLessThan(2e-6);
    }
  });

  it('turns 20 ms at 44.1 kHz (882 samples) into exactly 960 samples at 48 kHz', async () => {
    const r = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000, maxInputSamples: 882 });
    for (let f = 0; f < 10; f++) expect(r.process(882)).toBe(960);
    const d = await Resampler.create({ inRateHz: 48_000, outRateHz: 44_100, maxInputSamples: 960 });
    for (let f = 0; f < 10; f++) expect(d.process(960)).toBe(882);
  });

  it('handles other device rates (16, 22.05, 32, 96 kHz) both ways', async () => {
    for (const rate of [16_000, 22_050, 32_000, 96_000]) {
      for (const [i, o] of [
        [rate, 48_000],
        [48_000, rate],
      ] as const) {
        const r = await Resampler.create({ inRateHz: i, outRateHz: o });
        const lower = Math.min(i, o);
        const f = Math.min(1000, lower / 8);
        const y = r.processSignal(tone(i, f, 0.5, i));
        expect(y.length).toBe(o);
        expect(toneSnrDb(y.subarray(o / 10, o - o / 10), f, o)).toBeGreaterThan(80);
      }
    }
  });

  it('rejects bad rates and sizes and throws after destroy', async () => {
    expect(() => designResampler(44_100.5, 48_000)).toThrow(/inRateHz/);
    expect(() => designResampler(44_101, 48_000)).toThrow(/phases/);
    await expect(
      Resampler.create({ inRateHz: 44_100, outRateHz: 48_000, maxInputSamples: 0 }),
    ).rejects.toThrow(/maxInputSamples/);
    const r = await Resampler.create({ inRateHz: 44_100, outRateHz: 48_000, maxInputSamples: 128 });
    expect(() => r.process(129)).toThrow(RangeError);
    r.destroy();
    r.destroy();
    expect(() => r.process(1)).toThrow(DspError);
  });
});
