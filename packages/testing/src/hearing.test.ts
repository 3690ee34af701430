import { describe, expect, it } from 'vitest';
import { judgeLatency, judgeSilence, judgeTone, type Recording } from './hearing.js';
import { mix, tone, toneBursts, whiteNoise } from './signals.js';

const RATE = 48_000;
const rec = (samples: Float32Array, startMs = 0): Recording => ({
  samples,
  sampleRateHz: RATE,
  startMs,
});
// RMS level of a sine of amplitude `amp`, dBFS.
const sineDbfs = (amp: number) => 20 * Math.log10(amp / Math.SQRT2);

describe('judgeTone', () => {
  it('hears a 1 kHz tone at its level and frequency', () => {
    const j = judgeTone(rec(tone(RATE, 1_000, 0.1)), 1_000, { minLevelDbfs: -30 });
    expect(j.heard).toBe(true);
    expect(j.levelDbfs).toBeCloseTo(sineDbfs(0.1), 1);
    expect(j.frequencyHz).toBeCloseTo(1_000, 1);
    expect(j.toneSeconds).toBeCloseTo(1, 6);
    expect(j.reason).toBe('');
  });

  it('hears tone bursts in noise 20 dB below them', () => {
    const { samples } = toneBursts({ freqHz: 1_500, amp: 0.3, count: 4, burstMs: 100, gapMs: 400 });
    const noise = whiteNoise(samples.length, 7).map((v) => v * 0.3 * 0.1);
    const j = judgeTone(rec(mix(samples, noise)), 1_500);
    expect(j.heard).toBe(true);
    expect(j.levelDbfs).toBeCloseTo(sineDbfs(0.3), 0);
  });

  it('refuses another frequency, a level out of range, and silence, saying why', () => {
    const off = judgeTone(rec(tone(RATE, 1_040, 0.1)), 1_000, { minToneShare: 0.2 });
    expect(off.heard).toBe(false);
    expect(off.reason).toMatch(/1040\.\d Hz, not 1000 ± 5 Hz|no 1000 Hz tone/);
    const quiet = judgeTone(rec(tone(RATE, 1_000, 0.001)), 1_000, { minLevelDbfs: -50 });
    expect(quiet.heard).toBe(false);
    expect(quiet.reason).toMatch(/-63\.0 dBFS, outside \[-50, 0\] dBFS/);
    const loud = judgeTone(rec(tone(RATE, 1_000, 0.9)), 1_000, { maxLevelDbfs: -20 });
    expect(loud.reason).toMatch(/outside/);
    const none = judgeTone(rec(new Float32Array(RATE)), 1_000);
    expect(none.heard).toBe(false);
    expect(none.reason).toMatch(/no 1000 Hz tone in 1\.0 s/);
  });

  it('a 1 kHz tone is not heard as 1.5 kHz', () => {
    expect(judgeTone(rec(tone(RATE, 1_000, 0.3)), 1_500).heard).toBe(false);
  });
});

describe('judgeSilence', () => {
  it('digital silence and −70 dBFS noise are silent; one loud block is not', () => {
    expect(judgeSilence(rec(new Float32Array(RATE))).silent).toBe(true);
    const hiss = whiteNoise(RATE, 3).map((v) => v * 10 ** (-70 / 20) * Math.sqrt(3));
    const h = judgeSilence(rec(hiss));
    expect(h.silent).toBe(true);
    expect(h.peakDbfs).toBeLessThan(-62);
    const click = new Float32Array(RATE);
    click.set(tone(960, 1_000, 0.05), 24_000);
    const c = judgeSilence(rec(click));
    expect(c.silent).toBe(false);
    expect(c.peakDbfs).toBeCloseTo(sineDbfs(0.05), 0);
  });
});

describe('judgeLatency', () => {
  it('pairs each sent burst with the heard one and measures the delay on the shared clock', () => {
    const { samples } = toneBursts({ freqHz: 1_000, amp: 0.3, count: 6, burstMs: 100, gapMs: 400 });
    // The listener hears everything 120 ms after it was sent.
    const heard = new Float32Array(samples.length);
    const shift = Math.round(0.12 * RATE);
    heard.set(samples.subarray(0, samples.length - shift), shift);
    const j = judgeLatency(rec(samples, 5_000), rec(heard, 5_000));
    expect(j.sentBursts).toBe(6);
    expect(j.heardBursts).toBe(6);
    expect(j.latenciesMs).toHaveLength(6);
    for (const l of j.latenciesMs) expect(l).toBeCloseTo(120, 0);
    // The same recording started 250 ms later on the wall clock: 370 ms.
    const later = judgeLatency(rec(samples, 5_000), rec(heard, 5_250));
    expect(later.p50Ms).toBeCloseTo(370, 0);
    expect(
      judgeLatency(rec(samples, 5_000), rec(heard, 5_250), { maxPairingMs: 300 }).p50Ms,
    ).toBeNaN();
  });
});
