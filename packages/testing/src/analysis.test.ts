import { describe, expect, it } from 'vitest';
import { detectOnsets, fitSine, latencyMs, measureFrequencyHz, snrDb } from './analysis.js';
import { chirp, FS, tone, toneBursts, whiteNoise } from './signals.js';

describe('QA kit analysis', () => {
  it('finds every tone burst within a millisecond of where it starts', () => {
    const { samples, burstStarts } = toneBursts({ count: 4, burstMs: 80, gapMs: 300 });
    const onsets = detectOnsets(samples, { thresholdDbfs: -40 });
    expect(onsets).toHaveLength(4);
    onsets.forEach((o, i) =>
      expect(Math.abs(o.startSample - burstStarts[i]!)).toBeLessThanOrEqual(48),
    );
  });

  it('measures a known delay by cross-correlation, in ms', () => {
    const { samples } = toneBursts({ count: 3, freqHz: 700 });
    const delayed = new Float32Array(samples.length);
    delayed.set(samples.subarray(0, samples.length - 1_632), 1_632); // 34 ms at 48 kHz
    expect(latencyMs(samples, delayed)).toBeCloseTo(34, 5);
  });

  it('fits a sine: amplitude, frequency to the millihertz, and the SNR of added noise', () => {
    const x = tone(FS, 1000.25, 0.4);
    expect(fitSine(x, 1000.25).amplitude).toBeCloseTo(0.4, 6);
    expect(measureFrequencyHz(x, 1000)).toBeCloseTo(1000.25, 3);
    const n = whiteNoise(FS, 5).map((v) => v * 0.004);
    const noisy = x.map((v, i) => v + n[i]!);
    // Sine power 0.08 over noise power 1.6e-5: 37 dB.
    expect(snrDb(noisy, fitSine(noisy, 1000.25).residual)).toBeCloseTo(37, 0);
  });

  it('chirp sweeps from f0 to f1', () => {
    const c = chirp(FS, 200, 2000);
    const early = c.subarray(0, 4_800);
    const late = c.subarray(FS - 4_800);
    const crossings = (x: Float32Array): number =>
      x.reduce((n, v, i) => n + (i > 0 && x[i - 1]! < 0 && v >= 0 ? 1 : 0), 0);
    expect(crossings(early)).toBeLessThan(40); // ≈ 29 cycles in the first 100 ms
    expect(crossings(late)).toBeGreaterThan(185); // ≈ 191 cycles in the last 100 ms (mean 1,910 Hz)
  });
});
