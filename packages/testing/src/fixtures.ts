// Playwright fixtures and `expect` matchers for loopback tests of voice apps built on Concord:
// `@concord/testing/playwright`. Needs @playwright/test at run time (the main entry does not).
import { chromium, expect as baseExpect, test as baseTest, type Page } from '@playwright/test';
import {
  judgeLatency,
  judgeSilence,
  judgeTone,
  type LatencyJudgement,
  type Recording,
  type ToneOptions,
} from './hearing.js';
import { chromiumLaunchOptions, joinRoomInPage, type JoinRoomOptions } from './playwright.js';

/** What a page records: its playback output (what the user hears) or its microphone. */
export type RecorderSource = 'output' | 'microphone';

/** Global the page-side recorders live on. */
const RECORDERS = '__concordQaRecorders';

/**
 * Starts recording `source` in `page` (again from zero if it already runs). The page must have a
 * Concord client on `window.concordClient` ({@link joinRoomInPage} leaves one there); for
 * `output` its audio engine is started if needed, for `microphone` its capture must be live.
 * Samples are kept with wall-clock timestamps (`performance.timeOrigin`-based, shared by every
 * page of the machine), read back with {@link takeRecording}. Runs a ScriptProcessorNode of 512
 * frames on the page's AudioContext (timestamps good to about ±10 ms).
 */
export async function startRecording(page: Page, source: RecorderSource): Promise<void> {
  await page.evaluate(
    async ([key, src]) => {
      type Chunk = { startMs: number; samples: Float32Array };
      type Rec = { chunks: Chunk[]; rateHz: number };
      const w = window as unknown as Record<string, unknown> & {
        concordClient?: {
          audio: {
            state: { status: string };
            start(): Promise<void>;
            running(): { context: AudioContext; playback: { node: AudioNode } };
          };
          localAudio: { state: { status: string; stream?: MediaStream } };
        };
      };
      const client = w.concordClient;
      if (!client) throw new Error('no window.concordClient: join with joinRoomInPage() first');
      const all = (w[key] ??= {}) as Record<string, Rec>;
      const existing = all[src];
      if (existing) {
        existing.chunks = [];
        return;
      }
      if (client.audio.state.status !== 'running') await client.audio.start();
      const { context, playback } = client.audio.running();
      let input: AudioNode;
      if (src === 'output') input = playback.node;
      else {
        const stream = client.localAudio.state.stream;
        if (!stream) throw new Error('the microphone is not live: start localAudio first');
        input = new MediaStreamAudioSourceNode(context, { mediaStream: stream });
      }
      const rec: Rec = { chunks: [], rateHz: context.sampleRate };
      const frames = 512;
      const node = context.createScriptProcessor(frames, 1, 1);
      node.onaudioprocess = (e) => {
        // The input block ends where this callback's output block starts (playbackTime):
        // map that context time to the page's wall clock.
        const ts = context.getOutputTimestamp();
        const endCtx = e.playbackTime;
        const wallMs =
          performance.timeOrigin +
          (ts.performanceTime ?? performance.now()) +
          (endCtx - (ts.contextTime ?? context.currentTime)) * 1000 -
          (frames / context.sampleRate) * 1000;
        rec.chunks.push({ startMs: wallMs, samples: e.inputBuffer.getChannelData(0).slice() });
      };
      const mute = new GainNode(context, { gain: 0 });
      input.connect(node);
      node.connect(mute);
      mute.connect(context.destination);
      all[src] = rec;
    },
    [RECORDERS, source] as const,
  );
}

/** Reads what `page` recorded from `source` since {@link startRecording} (or its last restart). */
export async function takeRecording(page: Page, source: RecorderSource): Promise<Recording> {
  const r = await page.evaluate(
    ([key, src]) => {
      const all = (window as unknown as Record<string, unknown>)[key] as
        | Record<
            string,
            { chunks: Array<{ startMs: number; samples: Float32Array }>; rateHz: number }
          >
        | undefined;
      const rec = all?.[src];
      if (!rec) throw new Error(`no ${src} recording in this page: call startRecording() first`);
      const n = rec.chunks.reduce((s, c) => s + c.samples.length, 0);
      const out = new Float32Array(n);
      let at = 0;
      for (const c of rec.chunks) {
        out.set(c.samples, at);
        at += c.samples.length;
      }
      let bin = '';
      const bytes = new Uint8Array(out.buffer);
      for (let i = 0; i < bytes.length; i += 0x8000)
        bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { b64: btoa(bin), rateHz: rec.rateHz, startMs: rec.chunks[0]?.startMs ?? 0 };
    },
    [RECORDERS, source] as const,
  );
  const bytes = Buffer.from(r.b64, 'base64');
  const samples = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
  return { samples, sampleRateHz: r.rateHz, startMs: r.startMs };
}

/** Records `source` in `page` for `seconds` from now. */
async function recordFor(page: Page, source: RecorderSource, seconds: number): Promise<Recording> {
  await startRecording(page, source);
  await page.waitForTimeout(seconds * 1000);
  return takeRecording(page, source);
}

/** Options of the listening matchers. */
export interface ListenOptions {
  /** Length of one listening window, s (default 2). */
  windowSeconds?: number;
  /** Keep listening in new windows until this long has passed, ms (default 10,000). */
  timeoutMs?: number;
}

/**
 * Polls windows of `windowSeconds` until `judge` passes or `timeoutMs` is over; returns the
 * last verdict.
 */
async function listen<T extends { pass: boolean }>(
  options: ListenOptions,
  judge: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let verdict = await judge();
  while (!verdict.pass && Date.now() < deadline) verdict = await judge();
  return verdict;
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/**
 * Playwright's `expect` with Concord's hearing matchers (each records the page's playback
 * output; see {@link startRecording} for what the page needs):
 * - `await expect(page).toHearTone(1000, { minLevelDbfs: -40 })`: a 1 kHz tone, its median level
 *   in the range, its frequency within `toleranceHz` (see `judgeTone`);
 * - `await expect(page).toHearNothing({ seconds: 2, thresholdDbfs: -60 })`: every 20 ms block
 *   below the threshold for the whole window (no retry: silence must hold);
 * - `await expect(listener).toHearWithin(speaker, 400)`: the speaker's microphone bursts reach
 *   the listener's output with a median latency ≤ 400 ms (at least `minBursts` paired).
 * Each failure message says what was heard instead.
 */
export const expect = baseExpect.extend({
  async toHearTone(page: Page, freqHz: number, options: ToneOptions & ListenOptions = {}) {
    const seconds = options.windowSeconds ?? 2;
    const verdict = await listen(options, async () => {
      const j = judgeTone(await recordFor(page, 'output', seconds), freqHz, options);
      return { pass: j.heard, j };
    });
    const { j } = verdict;
    return {
      pass: verdict.pass,
      name: 'toHearTone',
      message: () =>
        verdict.pass
          ? `expected the page not to hear ${freqHz} Hz, but it did at ${fmt(j.levelDbfs)} dBFS (${fmt(j.frequencyHz)} Hz)`
          : `expected the page to hear ${freqHz} Hz: ${j.reason}`,
    };
  },

  async toHearNothing(page: Page, options: { seconds?: number; thresholdDbfs?: number } = {}) {
    const rec = await recordFor(page, 'output', options.seconds ?? 2);
    const j = judgeSilence(rec, options.thresholdDbfs ?? -60);
    return {
      pass: j.silent,
      name: 'toHearNothing',
      message: () =>
        j.silent
          ? `expected the page to hear something, but its loudest 20 ms was ${fmt(j.peakDbfs)} dBFS`
          : `expected silence below ${options.thresholdDbfs ?? -60} dBFS for ${fmt(j.seconds)} s, but the loudest 20 ms was ${fmt(j.peakDbfs)} dBFS`,
    };
  },

  async toHearWithin(
    listener: Page,
    speaker: Page,
    maxLatencyMs: number,
    options: ListenOptions & { thresholdDbfs?: number; minBursts?: number } = {},
  ) {
    const seconds = options.windowSeconds ?? 4;
    const minBursts = options.minBursts ?? 3;
    const verdict = await listen<{ pass: boolean; j: LatencyJudgement }>(options, async () => {
      await Promise.all([
        startRecording(speaker, 'microphone'),
        startRecording(listener, 'output'),
      ]);
      await listener.waitForTimeout(seconds * 1000);
      const [sent, heard] = await Promise.all([
        takeRecording(speaker, 'microphone'),
        takeRecording(listener, 'output'),
      ]);
      const j = judgeLatency(sent, heard, {
        ...(options.thresholdDbfs !== undefined ? { thresholdDbfs: options.thresholdDbfs } : {}),
        maxPairingMs: Math.max(1_000, 2 * maxLatencyMs),
      });
      return { pass: j.latenciesMs.length >= minBursts && j.p50Ms <= maxLatencyMs, j };
    });
    const { j } = verdict;
    return {
      pass: verdict.pass,
      name: 'toHearWithin',
      message: () =>
        `expected the listener to hear the speaker within ${maxLatencyMs} ms: ${j.latenciesMs.length} of ${j.sentBursts} sent bursts heard (${j.heardBursts} in the output), median ${fmt(j.p50Ms, 0)} ms, p95 ${fmt(j.p95Ms, 0)} ms`,
    };
  },
});

/** Options of {@link VoicePages.open}. */
export interface VoicePageOptions {
  /** Absolute path of the WAV its fake microphone loops (44.1 kHz; omit: Chromium's beep). */
  wavPath?: string;
  /** Page to open first, on the gateway's origin so it can import the SDK (default `/`). */
  url?: string;
  /** What to join (see {@link joinRoomInPage}); `microphone` starts capture. */
  join: JoinRoomOptions;
  /** Extra Chromium flags. */
  extraArgs?: string[];
}

/** The `voicePages` fixture: opens pages, each in its own Chromium, closed after the test. */
export interface VoicePages {
  /** Launches Chromium (fake microphone), opens the page, joins, starts the output recorder. */
  open(options: VoicePageOptions): Promise<Page>;
}

/**
 * Playwright's `test` with a `voicePages` fixture: each `voicePages.open()` launches Debian
 * Chromium with its own fake microphone (one WAV per browser: Chromium takes it as a flag),
 * joins a room with the SDK and starts recording the playback output; every browser is closed
 * when the test ends. Use with {@link expect}.
 */
export const test = baseTest.extend<{ voicePages: VoicePages }>({
  voicePages: async ({ baseURL }, use) => {
    const browsers: Array<Awaited<ReturnType<typeof chromium.launch>>> = [];
    await use({
      async open(options) {
        const browser = await chromium.launch(
          chromiumLaunchOptions({
            ...(options.wavPath ? { wavPath: options.wavPath } : {}),
            ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
          }),
        );
        browsers.push(browser);
        const page = await browser.newPage(baseURL ? { baseURL } : {});
        await page.goto(options.url ?? '/');
        await joinRoomInPage(page, options.join);
        await startRecording(page, 'output');
        return page;
      },
    });
    for (const b of browsers) await b.close().catch(() => undefined);
  },
});
