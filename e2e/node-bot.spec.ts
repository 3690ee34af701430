// The Node bot example (examples/node-bot/bot.mjs) in a room with a real Chromium page: the page
// hears the bot's 1 kHz bursts, sees it speaking, and the bot's recording of the page holds the
// page's 1.5 kHz bursts with their 500 ms period.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { detectOnsets, fitSines, medianIntervalMs, toneBursts } from '@concord/testing';
import { readWavFile, writeWavFile } from '@concord/sdk/node';
import { note } from './support/note.js';
import {
  burstWav,
  harness,
  joinVoice,
  launchVoicePage,
  PERIOD_MS,
  STAGES_TONES,
} from './support/voice.js';
import { close, expectHears, FREQ_A, FREQ_B, record, type Event } from './support/webrtc.js';

const RATE_HZ = 48_000;

/** Bursts in a 48 kHz recording: start (s) and the amplitudes of `probeHz` inside each. */
function bursts(x: Float32Array, probeHz: number[]) {
  const onsets = detectOnsets(x, { thresholdDbfs: -36, blockSamples: 48, minGapSamples: 9_600 });
  const mid = Math.round(0.02 * RATE_HZ);
  const len = Math.round(0.06 * RATE_HZ);
  return onsets
    .filter((o) => o.startSample > 0 && o.startSample + mid + len <= x.length)
    .map((o) => ({
      t: o.startSample / RATE_HZ,
      amplitudes: fitSines(
        x.subarray(o.startSample + mid, o.startSample + mid + len),
        probeHz,
      ).tones.map((t) => t.amplitude),
    }));
}

test('a page hears the Node bot and sees it speak; the bot records the page', async () => {
  test.setTimeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'concord-bot-e2e-'));
  // 20 s of 100 ms bursts at 1 kHz every 500 ms, at 48 kHz: the bot's voice.
  const { samples } = toneBursts({
    freqHz: FREQ_A,
    amp: 0.4,
    count: 40,
    burstMs: 100,
    gapMs: PERIOD_MS - 100,
    sampleRateHz: RATE_HZ,
  });
  const botWav = writeWavFile(join(dir, 'bot-voice.wav'), samples);
  const page = await launchVoicePage(burstWav('bot-page-1500', FREQ_B));
  const room = `bot-${Date.now()}`;
  const base = new URL(test.info().project.use.baseURL!);
  let botLog = '';
  let bot: ReturnType<typeof spawn> | undefined;
  try {
    const listener = await joinVoice(page, 'listener', room, STAGES_TONES, {
      media: { path: 'websocket' },
      tapOutput: true,
      recordOutput: true,
    });
    bot = spawn(
      process.execPath,
      [
        'examples/node-bot/bot.mjs',
        ...['--url', `ws://${base.host}/gateway`, '--room', room, '--user', 'the-bot'],
        ...['--name', 'Bot', '--wav', botWav, '--record', join(dir, 'rec'), '--duration', '12'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    bot.stdout!.on('data', (d: Buffer) => (botLog += d.toString()));
    bot.stderr!.on('data', (d: Buffer) => (botLog += d.toString()));
    const exited = new Promise<number | null>((r) => bot!.once('exit', r));
    await expect
      .poll(() => harness<string[]>(page.page, 'remoteUserIds'), { timeout: 10_000 })
      .toContain('the-bot');

    const take = await record(page.page, 5);
    note('nodeBot.pageHearsBot', expectHears(take, FREQ_A, FREQ_B, 'the page'));
    const events = await harness<Array<Event & { userId?: string; speaking?: boolean }>>(
      page.page,
      'eventLog',
    );
    const botSpeaking = events.filter(
      (e) => e.type === 'speakingChanged' && e.userId === 'the-bot',
    );
    expect(botSpeaking.some((e) => e.speaking)).toBe(true);
    note('nodeBot.botSpeakingEvents', botSpeaking.length);

    expect(await exited, botLog).toBe(0);
    const wav = join(dir, 'rec', `${listener.userId}.wav`);
    expect(existsSync(wav), botLog).toBe(true);
    const recorded = await readWavFile(wav);
    const found = bursts(recorded, [FREQ_B, FREQ_A]).filter((b) => b.amplitudes[0]! > 0.02);
    const period = medianIntervalMs(found.map((b) => b.t * 1000));
    note('nodeBot.botRecordsPage', {
      seconds: +(recorded.length / RATE_HZ).toFixed(2),
      bursts: found.length,
      periodMs: period,
    });
    expect(found.length).toBeGreaterThanOrEqual(10);
    expect(Math.abs(period - PERIOD_MS)).toBeLessThanOrEqual(25);
    // The page's own tone, not the bot's: the page does not send back what it hears.
    for (const b of found) expect(b.amplitudes[1]!).toBeLessThan(0.1 * b.amplitudes[0]!);
    expect(botLog).toContain('joined');
  } finally {
    bot?.kill();
    await close(page);
  }
});
