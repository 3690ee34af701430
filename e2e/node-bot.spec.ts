// The Node bot example (examples/node-bot/bot.mjs) in a room with a real Chromium page: the page
// hears the bot's 1 kHz bursts, sees it speaking, and the bot's recording of the page holds the
// page's 1.5 kHz bursts with their 500 ms period.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@concord/testing/playwright';
import { detectOnsets, fitSines, medianIntervalMs, toneBursts } from '@concord/testing';
import { readWavFile, writeWavFile } from '@concord/sdk/node';
import { note } from './support/note.js';
import { burstWav, PERIOD_MS, STAGES_TONES } from './support/voice.js';
import { FREQ_A, FREQ_B } from './support/webrtc.js';

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

test('a page hears the Node bot and sees it speak; the bot records the page', async ({
  voicePages,
  baseURL,
}) => {
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
  const room = `bot-${Date.now()}`;
  const base = new URL(baseURL!);
  const page = await voicePages.open({
    wavPath: burstWav('bot-page-1500', FREQ_B),
    url: '/e2e/audio.html',
    join: {
      sdkUrl: '/sdk/concord.browser.js',
      gatewayUrl: `ws://${base.host}/gateway`,
      token: 'dev:listener',
      room,
      microphone: STAGES_TONES,
    },
  });
  // The bot's speaking periods as the page's room reports them.
  await page.evaluate(() => {
    const w = window as unknown as {
      concordRoom: { on(e: string, f: (p: { userId: string }, s: boolean) => void): void };
      botSpeaking: boolean[];
    };
    w.botSpeaking = [];
    w.concordRoom.on('speakingChanged', (p, s) => p.userId === 'the-bot' && w.botSpeaking.push(s));
  });
  let botLog = '';
  const bot = spawn(
    process.execPath,
    [
      'examples/node-bot/bot.mjs',
      ...['--url', `ws://${base.host}/gateway`, '--room', room, '--user', 'the-bot'],
      ...['--name', 'Bot', '--wav', botWav, '--record', join(dir, 'rec'), '--duration', '12'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  bot.stdout.on('data', (d: Buffer) => (botLog += d.toString()));
  bot.stderr.on('data', (d: Buffer) => (botLog += d.toString()));
  const exited = new Promise<number | null>((r) => bot.once('exit', r));
  try {
    await expect(page).toHearTone(FREQ_A, { minLevelDbfs: -20, maxLevelDbfs: -6 });
    // Its own voice does not come back.
    await expect(page).not.toHearTone(FREQ_B, { timeoutMs: 0 });
    const speaking = await page.evaluate(
      () => (window as unknown as { botSpeaking: boolean[] }).botSpeaking,
    );
    note('nodeBot.botSpeakingEvents', speaking.length);
    expect(speaking).toContain(true);

    expect(await exited, botLog).toBe(0);
    const wav = join(dir, 'rec', 'listener.wav');
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
    bot.kill();
  }
});
