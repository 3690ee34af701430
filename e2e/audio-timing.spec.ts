// Processing time per 128-sample render quantum of the audio worklets, in real Chromium, with
// every capture stage on (echo canceller, RNNoise 'fast', AGC, VAD) and two remote voices in
// playback. Publishes bench/results/audio-worklet-timing.json (goal: p99 ≤ 0.5 ms per
// quantum). Speed is measured, not asserted — the machine is shared and noisy; this spec
// fails only when no timing data arrives.
import { cpus, loadavg } from 'node:os';
import { expect, test } from '@playwright/test';
import { tone } from '@concord/testing';
import { percentile, report, round, type BenchRow } from '../bench/lib/harness.js';
import type { Stages } from './support/harness.js';
import { launchWithWav, WAV_RATE_HZ, writeWav } from './support/wav.js';
import { histogramStats, type HistogramStats } from './support/timing.js';

const ALL_ON: Stages = { aec: true, ns: true, agc: true, vad: true };
const MEASURE_S = 6;
const WORKER_S = 9;
const WARMUP_S = 1;
const GOAL_MS = 0.5;

test('records per-quantum processing time with every stage on and publishes it', async () => {
  test.setTimeout(90_000);
  // Speech-like input is not needed for timing: every stage runs on every frame regardless.
  const wav = writeWav('timing-tone', tone(WAV_RATE_HZ, 440, 0.1, WAV_RATE_HZ));
  const { browser, page } = await launchWithWav(wav);
  try {
    // 1) In the real AudioWorklet. 44.1 kHz, the fake microphone's rate: both resamplers run
    //    too (the worst case).
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), ALL_ON);
    await page.evaluate(() => window.audioHarness.startPlayback({ sampleRateHz: 44_100 }));
    await page.evaluate(() =>
      window.audioHarness.feedTones([
        { key: 'alice', freqHz: 440, amp: 0.3, volume: 1 },
        { key: 'bob', freqHz: 1000, amp: 0.3, volume: 1 },
      ]),
    );
    // Warm-up (JIT, first allocations) is left out: histograms are diffed.
    await page.evaluate((n) => window.audioHarness.waitFrames(n), WARMUP_S * 50);
    const before = await page.evaluate(() => window.audioHarness.timing());
    await page.evaluate((n) => window.audioHarness.waitFrames(n), MEASURE_S * 50);
    const after = await page.evaluate(() => window.audioHarness.timing());
    await page.evaluate(() => window.audioHarness.stopFeeding());
    const diff = (a: number[], b: number[]) => a.map((n, i) => n - (b[i] ?? 0));
    const capture = histogramStats(diff(after.capture, before.capture));
    const playback = histogramStats(diff(after.playback, before.playback));
    // Capture ran for the whole window; stop it so the Worker measurement has the cores.
    await page.evaluate(() => window.audioHarness.stopAll());

    // 2) The same processors timed with a 5 µs clock in a Worker (see pages/timing-worker.js).
    const worker = await page.evaluate((o) => window.audioHarness.timeInWorker(o), {
      rateHz: 44_100,
      seconds: WORKER_S + WARMUP_S,
      stages: ALL_ON,
    });
    const skip = Math.round((WARMUP_S * 44_100) / 128);
    const workerCapture = sampleStats(worker.captureUs.slice(skip));
    const workerPlayback = sampleStats(worker.playbackUs.slice(skip));

    const row = (name: string, s: Stats, extra: Record<string, unknown>): BenchRow => ({
      name,
      median: s.p50Ms,
      p95: s.p95Ms,
      p99: s.p99Ms,
      maxMs: s.maxMs,
      meanMs: round(s.meanMs, 4),
      quanta: s.count,
      unit: 'ms/quantum',
      goal: `p99 <= ${GOAL_MS} ms`,
      // A 1 ms clock cannot show p99 <= 0.5 ms: such a row never counts as met.
      met: s.clockResolutionMs < GOAL_MS && s.p99Ms <= GOAL_MS,
      clockResolutionMs: s.clockResolutionMs,
      ...extra,
    });
    const where = 'AudioWorklet (real audio thread; Date.now() clock: 1 ms ticks)';
    const proxy = 'Worker (same processor code, performance.now() 5 µs; not a real-time thread)';
    report(
      'audio-worklet-timing',
      [
        row('worklet.capture.allStages', capture, { where }),
        row('worklet.playback.2streams', playback, { where }),
        row('worker.capture.allStages', workerCapture, {
          where: proxy,
          stageUsPerFrame: Object.fromEntries(
            Object.entries(worker.stageUsPerFrame).map(([k, v]) => [k, round(v, 1)]),
          ),
        }),
        row('worker.playback.2streams', workerPlayback, { where: proxy }),
      ],
      {
        contextRateHz: after.contextRateHz,
        quantumBudgetMs: round((128 / after.contextRateHz) * 1000, 3),
        capture: 'aec + ns (RNNoise fast) + agc + vad; 44.1→48 kHz in, 48→44.1 kHz out',
        playback: 'two 48 kHz voices, mix + limiter, 48→44.1 kHz',
        measuredSeconds: { worklet: MEASURE_S, worker: WORKER_S, warmupLeftOut: WARMUP_S },
        percentiles:
          'worklet rows: upper edge of the 10 µs histogram bin; meanMs there is unbiased under the 1 ms tick clock',
        source: 'e2e/audio-timing.spec.ts (Debian Chromium, headless)',
        loadAvg1m: round(loadavg()[0]!, 2),
        cpus: cpus().length,
      },
    );
    // Timing data arrived for (about) every quantum of the measured window, from both places.
    const expected = (MEASURE_S * after.contextRateHz) / 128;
    expect(capture.count).toBeGreaterThan(0.8 * expected);
    expect(playback.count).toBeGreaterThan(0.8 * expected);
    expect(workerCapture.count).toBeGreaterThan(0.9 * ((WORKER_S * 44_100) / 128));
    expect(workerCapture.p50Ms).toBeGreaterThan(0);
  } finally {
    await browser.close();
  }
});

type Stats = ReturnType<typeof sampleStats>;

/** Percentiles (nearest rank), mean and max of per-quantum times given in µs, in ms. */
function sampleStats(us: number[]): HistogramStats {
  const x = [...us].sort((a, b) => a - b);
  const ms = (v: number) => round(v / 1000, 4);
  return {
    count: x.length,
    p50Ms: ms(percentile(x, 0.5)),
    p95Ms: ms(percentile(x, 0.95)),
    p99Ms: ms(percentile(x, 0.99)),
    maxMs: ms(x.at(-1) ?? Number.NaN),
    meanMs: x.reduce((s, v) => s + v, 0) / x.length / 1000,
    clockResolutionMs: 0.005,
  };
}
