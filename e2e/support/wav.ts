// Fake-microphone WAVs for the audio e2e specs, and a Chromium launcher per WAV.
//
// Chromium's fake microphone (`--use-file-for-fake-audio-capture`) always captures 44.1 kHz
// stereo and loops the file, so every WAV here is written at 44.1 kHz: into a 44.1 kHz
// AudioContext it arrives bit-exact, and the only thing between the file and the SDK's frames
// is the capture worklet (its 44.1 → 48 kHz resampler included).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, test, type Browser, type Page } from '@playwright/test';
import { encodeWav, SENTENCES, speech } from '@concord/testing';

/** Sample rate of every fake-microphone WAV, in Hz. */
export const WAV_RATE_HZ = 44_100;
/** Samples of one 20 ms frame at {@link WAV_RATE_HZ} (960 at 48 kHz). */
export const WAV_FRAME_SAMPLES = 882;

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Where the generated WAVs go (absolute: Chromium resolves the flag's path itself). */
export const WAV_DIR = join(root, 'test-results', 'e2e-wav');

/**
 * Writes `samples` (mono, 44.1 kHz, [-1, 1]) as a 16-bit WAV named `<name>.wav` under
 * {@link WAV_DIR} and returns its absolute path. The mono file reaches both fake channels.
 */
export function writeWav(name: string, samples: Float32Array): string {
  mkdirSync(WAV_DIR, { recursive: true });
  const path = join(WAV_DIR, `${name}.wav`);
  writeFileSync(path, encodeWav([samples], WAV_RATE_HZ, 'pcm16'));
  return path;
}

/** What the 16-bit file really holds: `x` rounded as {@link encodeWav} rounds it. */
export function quantize16(x: Float32Array): Float32Array {
  return x.map((v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767) / 32767);
}

/**
 * One sentence from espeak-ng at 44.1 kHz (the fake microphone's rate), mono float, trimmed of
 * espeak's leading and trailing silence so burst layouts are what they say.
 */
export function speech44k(text: string, voice = 'en-us', wordsPerMinute = 160): Float32Array {
  return speech(text, voice, wordsPerMinute, { sampleRateHz: WAV_RATE_HZ, trim: true });
}

/** A 44.1 kHz layout of speech bursts: the signal and where each burst starts and ends. */
export interface SpeechLayout {
  /** Mono samples at 44.1 kHz, a whole number of 20 ms frames long. */
  samples: Float32Array;
  /** [start, end) of each burst, in samples at 44.1 kHz. */
  bursts: Array<[number, number]>;
}

/**
 * Sentences from {@link SENTENCES} (`count` of them, from `first`), each followed by `gapMs`
 * of digital silence (the loop's wrap is a gap too), length padded to whole 20 ms frames.
 */
export function speechBursts(count: number, gapMs: number, first = 0): SpeechLayout {
  const gap = Math.round((gapMs * WAV_RATE_HZ) / 1000);
  const parts = Array.from({ length: count }, (_, k) => speech44k(SENTENCES[(first + k) % 8]!));
  let total = parts.reduce((s, p) => s + p.length + gap, 0);
  total = Math.ceil(total / WAV_FRAME_SAMPLES) * WAV_FRAME_SAMPLES;
  const samples = new Float32Array(total);
  const bursts: Array<[number, number]> = [];
  let at = gap / 2;
  for (const p of parts) {
    const start = Math.round(at);
    samples.set(p, start);
    bursts.push([start, start + p.length]);
    at += p.length + gap;
  }
  return { samples, bursts };
}

/** A Chromium with a fake microphone playing one WAV, and a page on the audio harness. */
export interface AudioBrowser {
  browser: Browser;
  page: Page;
}

/**
 * Launches Debian Chromium with the config's flags plus `--use-file-for-fake-audio-capture`
 * for `wavPath` (none: Chromium's own fake beep) and `extraArgs`, opens `/e2e/audio.html` and loads the page-side harness
 * (`window.audioHarness`, see `pages/audio-harness.js`). Call inside a test.
 */
export async function launchWithWav(
  wavPath: string | undefined,
  extraArgs: string[] = [],
  baseURL?: string,
): Promise<AudioBrowser> {
  const use = test.info().project.use;
  const base = use.launchOptions ?? {};
  const browser = await chromium.launch({
    ...base,
    headless: true,
    args: [
      ...(base.args ?? []),
      ...(wavPath ? [`--use-file-for-fake-audio-capture=${wavPath}`] : []),
      ...extraArgs,
    ],
  });
  const origin = baseURL ?? use.baseURL;
  const page = await browser.newPage(origin ? { baseURL: origin } : {});
  await page.goto('/e2e/audio.html');
  await page.waitForFunction(() => (window as { harnessReady?: boolean }).harnessReady === true);
  await page.addScriptTag({ url: '/e2e/audio-harness.js', type: 'module' });
  await page.waitForFunction(() => 'audioHarness' in window);
  return { browser, page };
}
