// Helpers of the WebRTC specs: what a page hears (its playback output, recorded in its
// AudioContext) and which path carries its media.
import { expect, type Page } from '@playwright/test';
import { detectOnsets, fitSines, medianIntervalMs } from '@concord/testing';
import { decodeSamples } from './analysis.js';
import { harness, PERIOD_MS, type VoiceTake } from './voice.js';
import type { AudioBrowser } from './wav.js';

/** Tone of page A's bursts (Hz). */
export const FREQ_A = 1_000;
/** Tone of page B's bursts (Hz). */
export const FREQ_B = 1_500;
/** An entry of the voice harness's event log (`t`: Date.now() ms). */
export type Event = { type: string; path?: string; reason?: string; t: number };

/** Bursts in a page's playback output since its last reset: start (s) and tone amplitudes. */
export function outputBursts(take: VoiceTake, probeHz: number[]) {
  const x = decodeSamples(take.output);
  const rate = take.contextRateHz;
  const onsets = detectOnsets(x, {
    thresholdDbfs: -36,
    blockSamples: Math.round(rate / 1000),
    minGapSamples: Math.round(0.2 * rate),
  });
  const mid = Math.round(0.02 * rate);
  const len = Math.round(0.06 * rate);
  return onsets
    .filter((o) => o.startSample > 0 && o.startSample + mid + len <= x.length)
    .map((o) => ({
      t: o.startSample / rate,
      amplitudes: fitSines(
        x.subarray(o.startSample + mid, o.startSample + mid + len),
        probeHz,
        rate,
      ).tones.map((tone) => tone.amplitude),
    }));
}

/** Waits until `page` recorded `seconds` of playback output after a reset. */
export async function record(page: Page, seconds: number): Promise<VoiceTake> {
  await harness(page, 'reset');
  await expect
    .poll(() => harness<number>(page, 'outputSeconds'), { timeout: seconds * 1000 + 10_000 })
    .toBeGreaterThanOrEqual(seconds);
  return harness<VoiceTake>(page, 'take');
}

/** Asserts `page` hears `hearHz` bursts with the sender's period and not `ownHz`. */
export function expectHears(take: VoiceTake, hearHz: number, ownHz: number, what: string) {
  const bursts = outputBursts(take, [hearHz, ownHz]).filter((b) => b.amplitudes[0]! > 0.02);
  expect(bursts.length, `${what}: bursts heard`).toBeGreaterThanOrEqual(6);
  const period = medianIntervalMs(bursts.map((b) => b.t * 1000));
  expect(Math.abs(period - PERIOD_MS), `${what}: period ${period} ms`).toBeLessThanOrEqual(25);
  for (const b of bursts)
    expect(b.amplitudes[1]!, `${what}: own tone in the mix`).toBeLessThan(0.1 * b.amplitudes[0]!);
  return { bursts: bursts.length, periodMs: period };
}

/** The page's `transportChanged` events, oldest first. */
export const transportEvents = (page: Page) =>
  harness<Event[]>(page, 'eventLog').then((es) => es.filter((e) => e.type === 'transportChanged'));

/** Waits until the page's media went over WebRTC. */
export async function webrtcConnected(page: Page) {
  await expect
    .poll(async () => (await transportEvents(page)).some((e) => e.path === 'webrtc'), {
      timeout: 15_000,
    })
    .toBe(true);
}

/** Closes the pages' browsers. */
export async function close(...bs: AudioBrowser[]) {
  for (const b of bs) await b.browser.close().catch(() => undefined);
}
