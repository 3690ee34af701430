// Shared pieces of the voice e2e specs: tone-burst WAVs, Chromium pages on the voice harness
// (pages/voice-harness.js), and the Node-side analysis of what the pages recorded.
import { expect, type Page } from '@playwright/test';
import {
  detectOnsets,
  fitSines,
  medianIntervalMs,
  pairBurstLatencies,
  percentiles,
  toneBursts,
} from '@concord/testing';
import type { Stages } from './harness.js';
import { decodeSamples } from './analysis.js';
import { launchWithWav, speech44k, WAV_RATE_HZ, writeWav, type AudioBrowser } from './wav.js';

/** Burst layout of every voice spec: 100 ms bursts every 500 ms. */
export const BURST_MS = 100;
export const PERIOD_MS = 500;
/** Samples per 20 ms frame at 48 kHz (what the receiver pushes). */
export const FRAME_SAMPLES = 960;
/** Samples per entry of a recorded stream's `times` (the harness stamps every 10 ms block). */
const TIME_BLOCK_SAMPLES = 480;
export const RATE_HZ = 48_000;

/**
 * A looping 44.1 kHz WAV of `burstMs` tone bursts (default 100 ms) every 500 ms at `freqHz` (`amp` peak): the loop is a whole number of
 * periods, so the burst period holds across the wrap too.
 */
export function burstWav(
  name: string,
  freqHz: number,
  amp = 0.4,
  count = 8,
  burstMs = BURST_MS,
): string {
  const { samples } = toneBursts({
    freqHz,
    amp,
    count,
    burstMs,
    gapMs: PERIOD_MS - burstMs,
    sampleRateHz: WAV_RATE_HZ,
  });
  // toneBursts leads with a gap and ends with one: cut the last so the loop keeps the period.
  const period = Math.round((PERIOD_MS * WAV_RATE_HZ) / 1000);
  return writeWav(name, samples.slice(0, count * period));
}

/** What `voiceHarness.take()` returns. */
export interface VoiceTake {
  captureOnsets: Array<{ t: number; frame: number; amp: number }>;
  outputOnsets: Array<{ t: number; frame: number; amp: number }>;
  /** Pushed frames per user: one push time per 10 ms block of `samples`. */
  received: Record<string, { times: number[]; samples: string }>;
  output: string;
  contextRateHz: number;
  /** Playback ring depth per voice, frames, sampled every 100 ms. */
  backlog: Record<string, number[]>;
  crossOriginIsolated: boolean;
  /** With `recordCapture`: the captured frames as the sender gets them. */
  captured: { times: number[]; samples: string };
}

/** A page on the voice harness, joined to a room. */
export interface VoicePage extends AudioBrowser {
  userId: string;
}

/**
 * Launches Chromium with `wav` as its microphone (and `extraArgs`) and loads the voice harness
 * from `baseURL` (default: the config's gateway).
 */
export async function launchVoicePage(
  wav: string,
  extraArgs: string[] = [],
  baseURL?: string,
): Promise<AudioBrowser> {
  const ab = await launchWithWav(wav, extraArgs, baseURL);
  await ab.page.addScriptTag({ url: '/e2e/voice-harness.js', type: 'module' });
  await ab.page.waitForFunction(() => 'voiceHarness' in window);
  return ab;
}

/** Joins `room` as `user` with `stages`; resolves with the page and its user id. */
export async function joinVoice(
  ab: AudioBrowser,
  user: string,
  room: string,
  stages: Stages,
  options: {
    media?: object;
    tapOutput?: boolean;
    recordOutput?: boolean;
    recordCapture?: boolean;
  } = {},
): Promise<VoicePage> {
  const { userId } = await ab.page.evaluate(
    (o) =>
      (
        window as unknown as {
          voiceHarness: { start(o: object): Promise<{ userId: string }> };
        }
      ).voiceHarness.start(o),
    { token: `dev:${user}:${user}`, room, stages, ...options },
  );
  return { ...ab, userId };
}

/** Evaluates `voiceHarness[method](...args)` in `page`. */
export function harness<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    ([m, a]) =>
      (window as unknown as { voiceHarness: Record<string, (...x: unknown[]) => unknown> })
        .voiceHarness[m as string]!(...(a as unknown[])) as T,
    [method, args] as const,
  );
}

/** One burst found in a received stream: when its frame was pushed, and its tone levels. */
export interface ReceivedBurst {
  /** Wall-clock time the frame holding the onset was pushed, ms. */
  pushedMs: number;
  startSample: number;
  /** Amplitude of each probe frequency over the burst's middle 60 ms. */
  amplitudes: number[];
}

/**
 * Bursts in a received stream (pushed frames, 48 kHz): onsets at −30 dBFS in 1 ms blocks (quiet
 * gaps shorter than `minGapMs` merge), each
 * with the push time of its frame and the amplitude of each of `probeHz` (joint sine fit).
 */
export function receivedBursts(
  stream: { times: number[]; samples: string },
  probeHz: readonly number[],
  minGapMs = 200,
): ReceivedBurst[] {
  const x = decodeSamples(stream.samples);
  const onsets = detectOnsets(x, {
    thresholdDbfs: -30,
    blockSamples: 48,
    minGapSamples: (minGapMs * RATE_HZ) / 1000,
  });
  const mid = Math.round(0.02 * RATE_HZ);
  const len = Math.round(0.06 * RATE_HZ);
  return (
    onsets
      // An onset at sample 0 is the recording starting inside a burst (often its tail): not one.
      .filter((o) => o.startSample > 0 && o.startSample + mid + len <= x.length)
      .map((o) => ({
        pushedMs: stream.times[Math.floor(o.startSample / TIME_BLOCK_SAMPLES)]!,
        startSample: o.startSample,
        amplitudes: fitSines(
          x.subarray(o.startSample + mid, o.startSample + mid + len),
          probeHz,
        ).tones.map((t) => t.amplitude),
      }))
  );
}

/** Graph-to-graph latency summary: p50/p95 over paired bursts (first burst dropped). */
export interface LatencySummary {
  bursts: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export function summarise(sentMs: number[], receivedMs: number[]): LatencySummary {
  const pairs = pairBurstLatencies(sentMs, receivedMs, { maxLatencyMs: 400, dropFirst: 1 });
  return latencySummary(pairs.map((p) => p.latencyMs));
}

/** p50/p95/min/max of per-burst latencies, ms. */
export function latencySummary(latenciesMs: readonly number[]): LatencySummary {
  const [p50Ms, p95Ms] = percentiles(latenciesMs, [0.5, 0.95]);
  return {
    bursts: latenciesMs.length,
    p50Ms: p50Ms!,
    p95Ms: p95Ms!,
    minMs: Math.min(...latenciesMs),
    maxMs: Math.max(...latenciesMs),
  };
}

/** Asserts the bursts arrive with the sender's period (±1 frame). */
export function expectPeriod(bursts: ReceivedBurst[]): number {
  const period = medianIntervalMs(bursts.map((b) => (b.startSample * 1000) / RATE_HZ));
  expect(Math.abs(period - PERIOD_MS)).toBeLessThanOrEqual(20);
  return period;
}

export const STAGES_TONES: Stages = { aec: false, ns: false, agc: false, vad: true };
export const STAGES_ALL: Stages = { aec: true, ns: true, agc: true, vad: true };
export const STAGES_OFF: Stages = { aec: false, ns: false, agc: false, vad: false };

/**
 * A looping 44.1 kHz WAV of one spoken syllable ("pa", espeak-ng: a sharp plosive onset) every
 * 500 ms, peak 0.5, cut to 250 ms with a 10 ms fade. Speech, so RNNoise keeps it: the latency
 * bench runs the full chain (NS included), which takes pure tones out.
 */
export function syllableWav(name: string, count = 8): string {
  const raw = speech44k('pa');
  const len = Math.min(raw.length, Math.round(0.25 * WAV_RATE_HZ));
  const fade = Math.round(0.01 * WAV_RATE_HZ);
  let peak = 0;
  for (let i = 0; i < len; i++) peak = Math.max(peak, Math.abs(raw[i]!));
  const period = Math.round((PERIOD_MS * WAV_RATE_HZ) / 1000);
  const out = new Float32Array(count * period);
  for (let b = 0; b < count; b++) {
    const at = b * period + Math.round(0.1 * WAV_RATE_HZ);
    for (let i = 0; i < len; i++) {
      const g = Math.min(1, (len - 1 - i) / fade);
      out[at + i] = (0.5 / peak) * raw[i]! * g;
    }
  }
  return writeWav(name, out);
}
