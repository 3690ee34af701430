// Playback in real Chromium: decoded 48 kHz PCM pushed through `client.audio.playback` for two
// remote voices, measured at the playback processor's output (an AnalyserNode on
// `playback.node`, before the destination).
import { expect, test } from '@playwright/test';
import { decodeSamples, fitSines, snrDb } from './support/analysis.js';
import type {} from './support/harness.js';
import { launchWithWav } from './support/wav.js';
import { note } from './support/note.js';

const RATE_HZ = 48_000;

const db = (x: number) => 20 * Math.log10(x);

test('playback mixes two injected PCM streams at the set gains (±0.5 dB)', async () => {
  const { browser, page } = await launchWithWav(undefined);
  try {
    const facts = await page.evaluate(() =>
      window.audioHarness.startPlayback({ sampleRateHz: 48_000 }),
    );
    expect(facts).toEqual({ contextRateHz: RATE_HZ, contextState: 'running' });
    const streams = [
      { key: 'alice', freqHz: 440, amp: 0.2, volume: 0.5 },
      { key: 'bob', freqHz: 1000, amp: 0.2, volume: 1.5 },
    ];
    await page.evaluate((s) => window.audioHarness.feedTones(s), streams);
    // Take two analyser windows (0.68 s each, back to back) once the first window holds only
    // fed audio: ~2 s of feeding in all.
    await page.waitForTimeout(900);
    const first = await page.evaluate(() => window.audioHarness.snapshot());
    await page.waitForTimeout(700);
    const second = await page.evaluate(() => window.audioHarness.snapshot());
    await page.evaluate(() => window.audioHarness.stopFeeding());

    for (const [i, snap] of [first, second].entries()) {
      const x = decodeSamples(snap.samples);
      const fit = fitSines(x, [440, 1000], RATE_HZ);
      const [a, b] = fit.tones;
      const gainsDb = [db(a!.amplitude / 0.2), db(b!.amplitude / 0.2)];
      note(`mix.window${i}.gainsDb (set ${db(0.5).toFixed(2)}, ${db(1.5).toFixed(2)})`, gainsDb);
      note(`mix.window${i}.ratioDb (set ${db(3).toFixed(2)})`, db(b!.amplitude / a!.amplitude));
      note(`mix.window${i}.snrDb`, snrDb(x, fit.residual));
      expect(Math.abs(gainsDb[0]! - db(0.5))).toBeLessThan(0.5);
      expect(Math.abs(gainsDb[1]! - db(1.5))).toBeLessThan(0.5);
      expect(Math.abs(db(b!.amplitude / a!.amplitude) - db(3))).toBeLessThan(0.5);
      // Nothing but the two tones: no gaps, clicks or limiter pumping in the window.
      // (Measured ~149 dB: float32 rounding only.)
      expect(snrDb(x, fit.residual)).toBeGreaterThan(100);
    }
    // No voice ran dry while we measured (the feeder keeps 0.5 s buffered).
    expect(second.counters.streamUnderruns).toBe(first.counters.streamUnderruns);
    expect(second.counters.mixes).toBeGreaterThan(first.counters.mixes!);
  } finally {
    await browser.close();
  }
});

test('the limiter keeps two loud streams at +6 dB from clipping (peak ≤ 1.0)', async () => {
  const { browser, page } = await launchWithWav(undefined);
  try {
    await page.evaluate(() => window.audioHarness.startPlayback({ sampleRateHz: 48_000 }));
    // 0.9 peak each, both at volume 2: 3.6 peak before the limiter.
    await page.evaluate(() =>
      window.audioHarness.feedTones([
        { key: 'alice', freqHz: 440, amp: 0.9, volume: 2 },
        { key: 'bob', freqHz: 1000, amp: 0.9, volume: 2 },
      ]),
    );
    // Overlapping 0.68 s windows every 0.3 s for 2 s: every output sample is seen at least once.
    let peak = 0;
    let loudFrames = 0;
    for (let i = 0; i < 7; i++) {
      await page.waitForTimeout(300);
      const x = decodeSamples((await page.evaluate(() => window.audioHarness.snapshot())).samples);
      for (const v of x) peak = Math.max(peak, Math.abs(v));
      for (let f = 0; f + 960 <= x.length; f += 960) {
        let m = 0;
        for (let j = f; j < f + 960; j++) m = Math.max(m, Math.abs(x[j]!));
        if (m > 0.5) loudFrames++;
      }
    }
    await page.evaluate(() => window.audioHarness.stopFeeding());
    note('limiter.peak', peak);
    note('limiter.peakDbfs', db(peak));
    // The limiter's ceiling is −0.2 dBFS (0.977); it must still be loud, not silenced.
    expect(peak).toBeLessThanOrEqual(1.0);
    expect(peak).toBeLessThanOrEqual(10 ** (-0.2 / 20) + 1e-4);
    expect(peak).toBeGreaterThan(0.8);
    expect(loudFrames).toBeGreaterThan(100);
  } finally {
    await browser.close();
  }
});
