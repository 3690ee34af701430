// The QA kit's Playwright fixtures and matchers (@concord/testing/playwright), used as a Concord
// user would in their own loopback tests: alice's fake microphone plays 1 kHz bursts, bob hears
// them at the right frequency and level and within a latency bound; muted, he hears nothing.
import { expect, startRecording, takeRecording, test } from '@concord/testing/playwright';
import { judgeLatency, judgeTone, toneBursts, writeWavFile } from '@concord/testing';
import { note } from './support/note.js';
import { join } from 'node:path';
import { WAV_DIR } from './support/wav.js';

const STAGES_OFF = { aec: false, ns: false, agc: false, vad: true };

test('a page hears a tone, hears another within a bound, and hears nothing when muted', async ({
  voicePages,
  baseURL,
}) => {
  test.setTimeout(90_000);
  // 100 ms bursts of 1 kHz every 500 ms at 44.1 kHz (Chromium's fake microphone rate).
  const { samples } = toneBursts({
    freqHz: 1_000,
    amp: 0.3,
    count: 8,
    burstMs: 100,
    gapMs: 400,
    sampleRateHz: 44_100,
  });
  const wavPath = writeWavFile(join(WAV_DIR, 'qa-alice-1000.wav'), samples, 44_100);
  const room = `qa-${Date.now()}`;
  const gatewayUrl = baseURL!.replace(/^http/, 'ws') + '/gateway';
  const common = { sdkUrl: '/sdk/concord.browser.js', gatewayUrl, room };
  const alice = await voicePages.open({
    wavPath,
    url: '/e2e/audio.html',
    join: { ...common, token: 'dev:qa-alice', microphone: STAGES_OFF },
  });
  const bob = await voicePages.open({
    url: '/e2e/audio.html',
    join: { ...common, token: 'dev:qa-bob' }, // no microphone: bob only listens
  });

  await expect(bob).toHearTone(1_000, { minLevelDbfs: -30, maxLevelDbfs: -6 });
  await expect(bob).not.toHearTone(1_500, { timeoutMs: 0 });
  await expect(bob).toHearWithin(alice, 400);
  // The matchers fail, saying what was heard, when the bound is impossible.
  await expect(expect(bob).toHearWithin(alice, 1, { timeoutMs: 0 })).rejects.toThrow(
    /within 1 ms: \d+ of \d+ sent bursts heard .* median \d+ ms/,
  );
  await expect(expect(bob).toHearTone(1_000, { maxLevelDbfs: -60, timeoutMs: 0 })).rejects.toThrow(
    /outside \[-50, -60\] dBFS/,
  );
  // The same measurements with the lower-level API, for the record.
  await Promise.all([startRecording(alice, 'microphone'), startRecording(bob, 'output')]);
  await bob.waitForTimeout(4_000);
  const [sent, heard] = await Promise.all([
    takeRecording(alice, 'microphone'),
    takeRecording(bob, 'output'),
  ]);
  const tone = judgeTone(heard, 1_000);
  const latency = judgeLatency(sent, heard);
  note('qa.bobHearsTone', {
    levelDbfs: +tone.levelDbfs.toFixed(1),
    hz: +tone.frequencyHz.toFixed(2),
  });
  note(
    'qa.mediaPaths',
    await bob.evaluate(() =>
      [
        ...(
          window as unknown as {
            concordRoom: { participants: Map<string, { userId: string; mediaPath: string }> };
          }
        ).concordRoom.participants.values(),
      ].map((p) => `${p.userId}:${p.mediaPath}`),
    ),
  );
  note('qa.aliceToBobLatencyMs', {
    p50: latency.p50Ms,
    p95: latency.p95Ms,
    n: latency.latenciesMs.length,
  });
  await expect(alice).toHearNothing(); // bob sends nothing

  await alice.evaluate(() =>
    (
      window as unknown as { concordRoom: { setMuted(m: boolean): Promise<void> } }
    ).concordRoom.setMuted(true),
  );
  await bob.waitForTimeout(500); // what was in flight plays out
  await expect(bob).toHearNothing({ seconds: 2 });
});
