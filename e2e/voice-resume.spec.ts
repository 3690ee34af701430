// Mid-call, bob's gateway socket is cut (closed from the page with code 4000, as a dropped
// network would end it; the harness keeps a reference to every socket the SDK opens). The
// client resumes the session (`reconnected(true)`: no event lost, no rejoin) and voice flows
// again both ways: bursts keep arriving at each side's playback input after the resume.
import { expect, test } from '@playwright/test';
import { note } from './support/note.js';
import {
  burstWav,
  harness,
  joinVoice,
  launchVoicePage,
  receivedBursts,
  STAGES_TONES,
  type VoiceTake,
} from './support/voice.js';

interface HarnessEvent {
  type: string;
  resumed?: boolean;
  t: number;
}

test('a cut socket resumes mid-call and audio continues both ways', async () => {
  test.setTimeout(60_000);
  const a = await launchVoicePage(burstWav('resume-alice-1000', 1_000));
  const b = await launchVoicePage(burstWav('resume-bob-1500', 1_500));
  try {
    const room = `resume-${Date.now()}`;
    const alice = await joinVoice(a, 'alice', room, STAGES_TONES);
    const bob = await joinVoice(b, 'bob', room, STAGES_TONES);
    await harness(b.page, 'waitReceived', alice.userId, 50);
    await harness(a.page, 'waitReceived', bob.userId, 50);

    const cutAt = Date.now();
    expect(await harness<number>(b.page, 'cutSocket', 4000)).toBe(1);
    await expect
      .poll(
        () =>
          b.page.evaluate(() =>
            (
              window as unknown as { voiceHarness: { events: HarnessEvent[] } }
            ).voiceHarness.events.filter((e) => e.type === 'reconnected'),
          ),
        { timeout: 15_000 },
      )
      .toHaveLength(1);
    const events = await b.page.evaluate(
      () => (window as unknown as { voiceHarness: { events: HarnessEvent[] } }).voiceHarness.events,
    );
    const reconnected = events.find((e) => e.type === 'reconnected')!;
    note('resume', { resumed: reconnected.resumed, afterMs: reconnected.t - cutAt });
    expect(reconnected.resumed).toBe(true);
    expect(
      await b.page.evaluate(
        () =>
          (window as unknown as { voiceHarness: { sockets: unknown[] } }).voiceHarness.sockets
            .length,
      ),
    ).toBe(2);

    // After the resume: 5 s (~10 bursts) at both ends, on the new socket.
    await Promise.all([harness(a.page, 'reset'), harness(b.page, 'reset')]);
    await Promise.all([
      harness(a.page, 'waitReceived', bob.userId, 250),
      harness(b.page, 'waitReceived', alice.userId, 250),
    ]);
    const ta = await harness<VoiceTake>(a.page, 'take');
    const tb = await harness<VoiceTake>(b.page, 'take');
    const atBob = receivedBursts(tb.received[alice.userId]!, [1_000]);
    const atAlice = receivedBursts(ta.received[bob.userId]!, [1_500]);
    // A burst = an onset carrying the sender's tone at its sent level (0.4 peak); onsets without
    // the tone (clicks, concealment artefacts) are counted apart.
    const full = (xs: typeof atBob) => xs.filter((x) => x.amplitudes[0]! > 0.3).length;
    note('burstsAfterResume', {
      atBob: full(atBob),
      atAlice: full(atAlice),
      otherOnsets: atBob.length + atAlice.length - full(atBob) - full(atAlice),
    });
    expect(full(atBob)).toBeGreaterThanOrEqual(8);
    expect(full(atAlice)).toBeGreaterThanOrEqual(8);
  } finally {
    await a.browser.close();
    await b.browser.close();
  }
});
