// The party-chat example (examples/party-chat) with two players in one Chromium profile (two
// pages of one browser context: positions travel on a BroadcastChannel), both with the same
// looping speech as their fake microphone. Bob listens: his playback worklet's two output
// channels are measured with AnalyserNodes (RMS over a window, dBFS). Alice talks with
// push-to-talk (Space held on her page) and is moved around Bob: left, right, near, far, out of
// range. AEC, NS and AGC off (the levels compared must be the renderer's alone), VAD on (the
// talk-while-muted hint needs it).
import { chromium, expect, test, type Page } from '@playwright/test';
import { note } from './support/note.js';
import { speechBursts, writeWav } from './support/wav.js';

const ROOM = `party-${Date.now()}`;
const LISTENER = { x: 16, y: 10 };

async function openPlayer(page: Page, name: string, x: number, y: number): Promise<string> {
  await page.goto(`/party-chat/?stages=vad&x=${x}&y=${y}`);
  await page.fill('#name', name);
  await page.fill('#room', ROOM);
  await page.click('#join');
  await page.waitForFunction(
    () =>
      (window as unknown as { partyChat: { client?: { audio: { state: { status: string } } } } })
        .partyChat.client?.audio.state.status === 'running',
    undefined,
    { timeout: 20_000 },
  );
  await expect(page.locator('#game')).toBeVisible();
  return page.evaluate(
    () =>
      (window as unknown as { partyChat: { client: { user: { id: string } } } }).partyChat.client
        .user.id,
  );
}

/**
 * Installs analysers on the page's playback node: left and right, broadband and above 2 kHz
 * (where the head shadow works: speech's energy is mostly below 1 kHz, where it hardly does).
 */
async function tapEars(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {
      partyChat: {
        client: {
          audio: { running(): { context: AudioContext }; playback: { node: AudioWorkletNode } };
        };
      };
      ears?: AnalyserNode[];
    };
    const { context } = w.partyChat.client.audio.running();
    const split = context.createChannelSplitter(2);
    w.partyChat.client.audio.playback.node.connect(split);
    const analyser = (): AnalyserNode => {
      const a = context.createAnalyser();
      a.fftSize = 2048;
      return a;
    };
    w.ears = [0, 1, 0, 1].map((ch, i) => {
      const a = analyser();
      if (i < 2) split.connect(a, ch);
      else {
        const hp = new BiquadFilterNode(context, { type: 'highpass', frequency: 2000 });
        const hp2 = new BiquadFilterNode(context, { type: 'highpass', frequency: 2000 });
        split.connect(hp, ch);
        hp.connect(hp2).connect(a);
      }
      return a;
    });
  });
}

interface Ears {
  /** Broadband RMS, dBFS (−200: digital silence). */
  left: number;
  right: number;
  /** RMS above 2 kHz, dBFS. */
  leftHigh: number;
  rightHigh: number;
  /** Lag of the right ear behind the left maximising their cross-correlation, samples. */
  lagSamples: number;
  sampleRateHz: number;
}

/** Bob's ears over `ms`. */
async function ears(page: Page, ms = 3000): Promise<Ears> {
  return page.evaluate(async (windowMs) => {
    const ears = (window as unknown as { ears: AnalyserNode[] }).ears;
    const MAX_LAG = 48;
    const sums = [0, 0, 0, 0];
    const xcorr = new Float64Array(2 * MAX_LAG + 1);
    let n = 0;
    const bufs = ears.map(() => new Float32Array(2048));
    const end = performance.now() + windowMs;
    while (performance.now() < end) {
      ears.forEach((a, i) => {
        a.getFloatTimeDomainData(bufs[i]!);
        for (const v of bufs[i]!) sums[i]! += v * v;
      });
      const [l, r] = bufs as [Float32Array, Float32Array];
      for (let lag = -MAX_LAG; lag <= MAX_LAG; lag++)
        for (let k = MAX_LAG; k < l.length - MAX_LAG; k++)
          xcorr[lag + MAX_LAG]! += l[k]! * r[k + lag]!;
      n += 2048;
      await new Promise((r) => setTimeout(r, 40));
    }
    let best = 0;
    for (let i = 0; i < xcorr.length; i++) if (xcorr[i]! > xcorr[best]!) best = i;
    const db = (s: number) => (s > 0 ? 10 * Math.log10(s / n) : -200);
    return {
      left: db(sums[0]!),
      right: db(sums[1]!),
      leftHigh: db(sums[2]!),
      rightHigh: db(sums[3]!),
      lagSamples: best - MAX_LAG,
      sampleRateHz: ears[0]!.context.sampleRate,
    };
  }, ms);
}

const moveTo = (page: Page, x: number, y: number) =>
  page.evaluate(
    ([px, py]) =>
      (window as unknown as { partyChat: { moveTo(x: number, y: number): void } }).partyChat.moveTo(
        px!,
        py!,
      ),
    [x, y],
  );

test('two players: push-to-talk, louder when near, silent when far, left/right by position', async () => {
  test.setTimeout(120_000);
  const wav = writeWav(
    'party-chat-speech',
    speechBursts(4, 250).samples.map((v) => v * 0.5),
  );
  const use = test.info().project.use;
  const base = use.launchOptions ?? {};
  const browser = await chromium.launch({
    ...base,
    headless: true,
    args: [...(base.args ?? []), `--use-file-for-fake-audio-capture=${wav}`],
  });
  try {
    const context = await browser.newContext(use.baseURL ? { baseURL: use.baseURL } : {});
    const bob = await context.newPage();
    const alice = await context.newPage();
    const bobId = await openPlayer(bob, 'bob', LISTENER.x, LISTENER.y);
    const aliceId = await openPlayer(alice, 'alice', LISTENER.x - 2, LISTENER.y);
    await tapEars(bob);
    // Bob knows where Alice is (over the channel) and has her as a participant.
    await bob.waitForFunction((id) => {
      const pc = (
        window as unknown as {
          partyChat: { room: { participants: Map<string, { position?: unknown }> } };
        }
      ).partyChat;
      return pc.room.participants.get(id)?.position !== undefined;
    }, aliceId);
    expect(bobId).not.toBe(aliceId);

    // Push-to-talk released: Alice is muted, Bob hears nothing of her.
    await bob.waitForTimeout(1000);
    const released = await ears(bob, 2000);
    note('ptt.released.dbfs', released);
    expect(Math.max(released.left, released.right)).toBeLessThan(-70);
    // Speaking while muted shows the hint.
    await expect(alice.locator('#muted-warning')).toBeVisible({ timeout: 15_000 });

    // Space held on Alice's page: live.
    await alice.keyboard.down('Space');
    await expect(alice.locator('#ptt')).toHaveAttribute('data-live', 'true');
    await expect(alice.locator('#muted-warning')).toBeHidden();
    await bob.waitForFunction(
      (id) =>
        (
          window as unknown as {
            partyChat: { room: { participants: Map<string, { muted: boolean }> } };
          }
        ).partyChat.room.participants.get(id)?.muted === false,
      aliceId,
    );
    await bob.waitForTimeout(1000);

    // Alice 2 m west of Bob (Bob faces north): his left ear.
    const left = await ears(bob);
    note('alice.west.dbfs', left);
    expect(left.left).toBeGreaterThan(-50);
    // Model at 90°: ILD 0.4 dB at 200 Hz … 10 dB at 2 kHz … 16 dB at 6 kHz; ITD 0.66 ms.
    expect(left.left - left.right).toBeGreaterThan(2);
    expect(left.leftHigh - left.rightHigh).toBeGreaterThan(8);
    const itd = (e: Ears) => (e.lagSamples / e.sampleRateHz) * 1000;
    expect(itd(left)).toBeGreaterThan(0.5);
    expect(itd(left)).toBeLessThan(0.8);

    // Both pages mid-call (Alice live, on Bob's left) for a look.
    await bob.screenshot({ path: test.info().outputPath('party-chat-bob.png') });
    await alice.screenshot({ path: test.info().outputPath('party-chat-alice.png') });

    // 2 m east: his right ear.
    await moveTo(alice, LISTENER.x + 2, LISTENER.y);
    await bob.waitForTimeout(500);
    const right = await ears(bob);
    note('alice.east.dbfs', right);
    expect(right.right - right.left).toBeGreaterThan(2);
    expect(right.rightHigh - right.leftHigh).toBeGreaterThan(8);
    expect(itd(right)).toBeLessThan(-0.5);
    expect(itd(right)).toBeGreaterThan(-0.8);

    // Near (2 m ahead) vs far (9 m ahead): ahead is centred; far is much quieter.
    await moveTo(alice, LISTENER.x, LISTENER.y + 2);
    await bob.waitForTimeout(500);
    const near = await ears(bob, 4000);
    await moveTo(alice, LISTENER.x, LISTENER.y + 9);
    await bob.waitForTimeout(500);
    const far = await ears(bob, 4000);
    note('alice.near2m.dbfs', near);
    note('alice.far9m.dbfs', far);
    expect(Math.abs(near.left - near.right)).toBeLessThan(1);
    expect(Math.abs(near.lagSamples)).toBeLessThanOrEqual(1);
    expect(near.left - far.left).toBeGreaterThan(8);
    expect(far.left).toBeGreaterThan(-75);

    // Beyond the 12 m radius: silent.
    await moveTo(alice, 31, 19);
    await bob.waitForTimeout(500);
    const gone = await ears(bob, 2000);
    note('alice.outOfRange.dbfs', gone);
    expect(Math.max(gone.left, gone.right)).toBeLessThan(-90);

    // Back near, then Space released: muted again.
    await moveTo(alice, LISTENER.x - 2, LISTENER.y);
    await alice.keyboard.up('Space');
    await expect(alice.locator('#ptt')).toHaveAttribute('data-live', 'false');
    await bob.waitForTimeout(1000);
    const after = await ears(bob, 2000);
    note('ptt.releasedAgain.dbfs', after);
    expect(Math.max(after.left, after.right)).toBeLessThan(-70);
  } finally {
    await browser.close();
  }
});
