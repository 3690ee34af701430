// Two Chromium instances in one room over the gateway WebSocket media path, each with its own
// fake microphone (100 ms tone bursts every 500 ms: A at 1 kHz, B at 1.5 kHz). Each page must
// hear the other's bursts at its playback input — the right frequency, the right period, and
// never its own — and the graph-to-graph latency is measured on the shared wall clock.
//
// Stages: AEC + VAD on, NS and AGC off. RNNoise is trained to remove stationary non-speech and
// takes a pure tone out almost entirely, and the AGC would move the levels the checks compare;
// the echo canceller and the VAD run on every frame as in a call (the full chain's latency is in
// latency.spec.ts, with speech-like bursts).
//
// Latency method: both ends timestamp with Date.now() (one system clock for both browsers).
// Sender: an AudioWorklet tap on a MediaStreamAudioSourceNode of the microphone track in the
// client's own AudioContext reports the render quantum that carried each onset (when it entered
// the capture graph). Receiver: `playback.pushFrame` is wrapped; the onset's 20 ms frame is
// stamped when the receiver pushed it into RemotePlayback (the playback worklet's input).
import { expect, test } from '@playwright/test';
import { note } from './support/note.js';
import {
  burstWav,
  expectPeriod,
  harness,
  joinVoice,
  launchVoicePage,
  receivedBursts,
  STAGES_TONES,
  summarise,
  type VoiceTake,
} from './support/voice.js';

const FREQ_A = 1_000;
const FREQ_B = 1_500;
const RECORD_FRAMES = 350; // 7 s: 14 bursts

test('two pages hear each other: right tone, right period, not their own; latency on one clock', async () => {
  test.setTimeout(60_000);
  const a = await launchVoicePage(burstWav('call-a-1000', FREQ_A));
  const b = await launchVoicePage(burstWav('call-b-1500', FREQ_B));
  try {
    const room = `call-${Date.now()}`;
    const pa = await joinVoice(a, 'alice', room, STAGES_TONES);
    const pb = await joinVoice(b, 'bob', room, STAGES_TONES);
    // Both directions flowing, and 2 s of warm-up (JIT, the second browser's start-up) left out.
    await harness(a.page, 'waitReceived', pb.userId, 100);
    await harness(b.page, 'waitReceived', pa.userId, 100);
    await Promise.all([harness(a.page, 'reset'), harness(b.page, 'reset')]);
    await Promise.all([
      harness(a.page, 'waitReceived', pb.userId, RECORD_FRAMES),
      harness(b.page, 'waitReceived', pa.userId, RECORD_FRAMES),
    ]);
    const ta = await harness<VoiceTake>(a.page, 'take');
    const tb = await harness<VoiceTake>(b.page, 'take');

    const jb = async (page: typeof a.page, from: string) => {
      const st = await harness<{
        bitrateBps: number;
        sender?: { framesSent: number };
        participants: Record<string, Record<string, unknown>>;
      }>(page, 'stats');
      const p = st.participants[from]!;
      return {
        bitrateBps: st.bitrateBps,
        sent: st.sender?.framesSent,
        received: p['received'],
        jitterBufferDelayMs: p['jitterBufferDelayMs'],
        targetDelayMs: p['targetDelayMs'],
        jitterMs: p['jitterMs'],
        late: p['late'],
        concealed: p['concealed'],
      };
    };
    note('bob.receiving', await jb(b.page, pa.userId));
    note('alice.receiving', await jb(a.page, pb.userId));
    // Each page received exactly one remote stream: the other's, never its own.
    expect(Object.keys(ta.received)).toEqual([pb.userId]);
    expect(Object.keys(tb.received)).toEqual([pa.userId]);

    for (const [who, take, from, own, other] of [
      ['alice', ta, pb.userId, FREQ_A, FREQ_B],
      ['bob', tb, pa.userId, FREQ_B, FREQ_A],
    ] as const) {
      const bursts = receivedBursts(take.received[from]!, [other, own]);
      expect(bursts.length, `${who}: bursts heard`).toBeGreaterThanOrEqual(12);
      const heard = bursts.map((x) => x.amplitudes[0]!);
      note(
        `${who}.heardAmplitudes`,
        heard.map((x) => Math.round(x * 1000) / 1000),
      );
      // Sent at 0.4 peak; Opus keeps a steady tone's level within a few %. One burst in ten may
      // be dented by a late frame on a loaded machine (concealment), not more.
      const full = heard.filter((x) => x > 0.3 && x < 0.5).length;
      expect(full, `${who}: bursts of the other's ${other} Hz tone at 0.4`).toBeGreaterThanOrEqual(
        Math.ceil(0.9 * bursts.length),
      );
      for (const burst of bursts)
        expect(burst.amplitudes[1]!, `${who}: none of its own ${own} Hz`).toBeLessThan(0.02);
      note(`${who}.periodMs`, expectPeriod(bursts));
    }

    // Graph to graph: A's capture onsets → B's playback input, and back.
    const ab = summarise(
      ta.captureOnsets.map((o) => o.t),
      receivedBursts(tb.received[pa.userId]!, [FREQ_A]).map((x) => x.pushedMs),
    );
    const ba = summarise(
      tb.captureOnsets.map((o) => o.t),
      receivedBursts(ta.received[pb.userId]!, [FREQ_B]).map((x) => x.pushedMs),
    );
    note('latency.aliceToBob', ab);
    note('latency.bobToAlice', ba);
    // Measured, not a goal here (see latency.spec.ts): every heard burst pairs with a sent one.
    expect(ab.bursts).toBeGreaterThanOrEqual(10);
    expect(ba.bursts).toBeGreaterThanOrEqual(10);
  } finally {
    await a.browser.close();
    await b.browser.close();
  }
});
