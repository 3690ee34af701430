// A three-page room: two speakers (alice: 1 kHz bursts at 0.4 peak, bob: 1.5 kHz bursts at 0.2
// peak, so 6 dB apart) and a listener (carol, silent microphone). Carol's playback mixes both:
// each speaker arrives as its own stream at the playback input, and both tones come out of the
// playback processor (recorded from `playback.node`) at their sent levels, 6 dB apart.
// Stages as in voice-call.spec.ts (NS, AGC and AEC off: tones and levels must pass unchanged).
import { expect, test } from '@playwright/test';
import { fitSines } from '@concord/testing';
import { decodeSamples } from './support/analysis.js';
import { note } from './support/note.js';
import { WAV_RATE_HZ, writeWav } from './support/wav.js';
import {
  burstWav,
  harness,
  joinVoice,
  launchVoicePage,
  receivedBursts,
  STAGES_TONES,
  type VoiceTake,
} from './support/voice.js';

const FREQ_A = 1_000;
const FREQ_B = 1_500;

test('a listener mixes two speakers at their relative levels', async () => {
  test.setTimeout(75_000);
  const pages = [
    await launchVoicePage(burstWav('room3-alice-1000', FREQ_A, 0.4)),
    await launchVoicePage(burstWav('room3-bob-1500', FREQ_B, 0.2)),
    await launchVoicePage(writeWav('room3-silence', new Float32Array(WAV_RATE_HZ))),
  ];
  try {
    const room = `room3-${Date.now()}`;
    const alice = await joinVoice(pages[0]!, 'alice', room, STAGES_TONES);
    const bob = await joinVoice(pages[1]!, 'bob', room, STAGES_TONES);
    const carol = await joinVoice(pages[2]!, 'carol', room, STAGES_TONES, {
      tapOutput: true,
      recordOutput: true,
    });
    await harness(carol.page, 'waitReceived', alice.userId, 100);
    await harness(carol.page, 'waitReceived', bob.userId, 100);
    await harness(carol.page, 'reset');
    await harness(carol.page, 'waitReceived', bob.userId, 250);
    const take = await harness<VoiceTake>(carol.page, 'take');

    // Two streams at the playback input, each with its own speaker's tone only.
    expect(Object.keys(take.received).sort()).toEqual([alice.userId, bob.userId].sort());
    for (const [id, tone, other] of [
      [alice.userId, FREQ_A, FREQ_B],
      [bob.userId, FREQ_B, FREQ_A],
    ] as const) {
      const bursts = receivedBursts(take.received[id]!, [tone, other]);
      expect(bursts.length, `${id}: bursts at carol's playback input`).toBeGreaterThanOrEqual(8);
      for (const b of bursts) expect(b.amplitudes[1]!).toBeLessThan(0.02);
    }

    // The mix at the playback output: 40 ms windows, both tones fitted jointly.
    const out = decodeSamples(take.output);
    const win = Math.round(0.04 * take.contextRateHz);
    const amps: Array<[number, number]> = [];
    for (let at = 0; at + win <= out.length; at += win) {
      const { tones } = fitSines(out.subarray(at, at + win), [FREQ_A, FREQ_B], take.contextRateHz);
      amps.push([tones[0]!.amplitude, tones[1]!.amplitude]);
    }
    // A window counts for a tone when it is inside that tone's burst (above half its level).
    const top = (k: 0 | 1, ref: number) =>
      amps
        .map((x) => x[k])
        .filter((x) => x > ref / 2)
        .sort((p, q) => p - q);
    const a = top(0, 0.4);
    const b = top(1, 0.2);
    // The 75th percentile: a 100 ms burst fills one or two 40 ms windows and overlaps one or two
    // more by over half, so a median can land on a burst's edge window (runs gave 4.3–8.6 dB
    // for the 6.02 dB set); the upper quartile is a window inside a burst.
    const upper = (x: number[]) => x[Math.floor(x.length * 0.75)]!;
    note('output.windows', { total: amps.length, alice: a.length, bob: b.length });
    note('output.aliceAmplitude', upper(a));
    note('output.bobAmplitude', upper(b));
    const relDb = 20 * Math.log10(upper(a) / upper(b));
    note('output.relativeLevelDb', relDb);
    // 5 s of 100 ms bursts every 500 ms: ~2 of 12 windows per tone (a window inside a burst).
    expect(a.length).toBeGreaterThanOrEqual(10);
    expect(b.length).toBeGreaterThanOrEqual(10);
    expect(upper(a)).toBeGreaterThan(0.3);
    expect(upper(a)).toBeLessThan(0.5);
    expect(Math.abs(relDb - 6.02)).toBeLessThan(1.5);
  } finally {
    for (const p of pages) await p.browser.close();
  }
});
