// The voice-room example page as a newcomer uses it: user ids separate from display names,
// one speaking period per sentence, round trip shown at once, the chart reset on a new call,
// each member's media path shown and chosen before joining, and a clear message when another
// session with the same user id takes this tab's place.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { startGateway } from '../packages/gateway/test/harness.js';
import { note } from './support/note.js';
import { quantize16, speechBursts, writeWav } from './support/wav.js';
import { scaleTo } from '@concord/testing';

async function joinAs(
  page: Page,
  name: string,
  room: string,
  media: 'auto' | 'webrtc' | 'websocket' = 'auto',
): Promise<string> {
  if (page.url() === 'about:blank') await page.goto('/');
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByLabel('Voice path').selectOption(media);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('#status')).toHaveText('ready');
  await expect(page.locator('#room-view')).toBeVisible();
  return page.evaluate(
    () => (globalThis as unknown as { concordExample: { userId: string } }).concordExample.userId,
  );
}

const chartPoints = (page: Page) =>
  page.evaluate(
    () =>
      (globalThis as unknown as { concordExample: { chartPoints: number } }).concordExample
        .chartPoints,
  );

const member = (page: Page, userId: string) =>
  page.locator(`#participants li[data-user-id="${userId}"]`);

test('"Sam", "sam" and a second tab of Sam are three participants, never a takeover', async ({
  browser,
}) => {
  const room = `names-${Date.now()}`;
  const ctx = await browser.newContext();
  const sam1 = await ctx.newPage();
  await sam1.goto('/');
  await sam1.screenshot({ path: 'test-results/voice-room-join.png', fullPage: true });
  const sam2 = await ctx.newPage(); // a second tab of the same person (same storage)
  const other = await (await browser.newContext()).newPage();
  const ids = [
    await joinAs(sam1, 'Sam', room),
    await joinAs(sam2, 'Sam', room),
    await joinAs(other, 'sam', room),
  ];
  expect(new Set(ids).size).toBe(3);
  for (const page of [sam1, sam2, other]) {
    await expect(page.locator('#participants li')).toHaveCount(3);
    await expect(page.locator('#status')).toHaveText('ready');
  }
  await expect(member(other, ids[0]!)).toContainText('Sam');
  await expect(member(other, ids[1]!)).toContainText('Sam');
  await expect(member(sam1, ids[2]!)).toContainText('sam');

  // A duplicated tab starts with a copy of its opener's sessionStorage: it picks a new id.
  const dup = await ctx.newPage();
  await dup.addInitScript((id) => sessionStorage.setItem('concord:userId', id), ids[0]!);
  await dup.goto('/');
  await expect(dup.locator('#user-id')).not.toHaveText(ids[0]!);
  await expect(dup.locator('#user-id')).toHaveText(/^u-[0-9a-f]{8}$/);
  await ctx.close();
  await other.context().close();
});

test('another session with the same user id: the replaced tab says so and disconnects', async ({
  browser,
}) => {
  const room = `replaced-${Date.now()}`;
  const page = await (await browser.newContext()).newPage();
  const id = await joinAs(page, 'Ann', room);
  // The same user id on another device: a raw SDK client with a dev token for that id.
  const intruder = await (await browser.newContext()).newPage();
  await intruder.goto('/');
  await intruder.evaluate(
    async ([userId, name]) => {
      const { VoiceClient } = await import('/sdk/concord.browser.js' as string);
      const c = new VoiceClient({
        url: `ws://${location.host}/gateway`,
        token: `dev:${userId}:Ann`,
      });
      await c.connect();
      await c.join(name);
    },
    [id, room],
  );
  await expect(page.locator('#error')).toContainText('same user id');
  await expect(page.locator('#join-form')).toBeVisible();
  await expect(page.locator('#status')).toHaveText('closed');
  await page.context().close();
  await intruder.context().close();
});

test('round trip shown at once, "–" never plotted, chart reset on a new call, path shown', async ({
  browser,
}) => {
  const room = `stats-${Date.now()}`;
  const page = await (await browser.newContext()).newPage();
  await page.goto('/');
  const t0 = Date.now();
  const userId = await joinAs(page, 'Rita', room, 'websocket');
  // The config's heartbeat interval is 5 s: a first heartbeat at a random point of it would
  // often miss this 2 s bound.
  await expect(page.locator('#rtt')).toHaveText(/^\d+\.\d ms$/, { timeout: 2_000 });
  note('voiceRoom.rttShownAfterJoinClickMs', Date.now() - t0);
  await expect(member(page, userId)).toHaveAttribute('data-media-path', 'websocket');
  await expect(member(page, userId).locator('.path')).toHaveText('WebSocket');
  await expect(page.locator('#local-path')).toHaveText('WebSocket');
  // The output-device picker lists the speakers and applies a choice without an error.
  const outputs = page.getByLabel('Output device');
  await expect(outputs.locator('option')).not.toHaveCount(0);
  await outputs.selectOption({ index: 0 });
  await expect(page.locator('#error')).toBeHidden();
  await expect.poll(() => chartPoints(page)).toBeGreaterThanOrEqual(3);
  await page.getByRole('button', { name: 'Leave' }).click();
  await expect(page.locator('#join-form')).toBeVisible();
  // A new call starts with an empty chart and no old numbers.
  await expect(page.locator('#stat-bitrate')).toHaveText('–');
  await joinAs(page, 'Rita', room, 'websocket');
  expect(await chartPoints(page)).toBeLessThanOrEqual(2);
  await page.screenshot({ path: 'test-results/voice-room-joined.png', fullPage: true });
  await page.context().close();
});

test('one spoken sentence is one speaking period on the listener’s page', async () => {
  test.setTimeout(60_000);
  // Two sentences with 1.5 s pauses, looped by the fake microphone; each sentence has a 450 ms
  // pause in its middle (a breath between clauses): longer than the capture VAD's own 300 ms
  // hangover, so without the SDK's speaking hangover each sentence would be two periods.
  const layout = speechBursts(2, 1500, 2);
  const pause = Math.round(0.45 * 44_100);
  const samples = new Float32Array(layout.samples.length + pause * layout.bursts.length);
  let from = 0;
  let to = 0;
  for (const [start, end] of layout.bursts) {
    const mid = Math.round((start + end) / 2);
    samples.set(layout.samples.subarray(from, mid), to);
    to += mid - from + pause;
    from = mid;
  }
  samples.set(layout.samples.subarray(from), to);
  const wav = writeWav('voice-room-sentences', quantize16(scaleTo(samples, -22)));
  const loopMs = (samples.length / 44_100) * 1000;
  const use = test.info().project.use;
  const base = use.launchOptions ?? {};
  const speakerBrowser: Browser = await chromium.launch({
    ...base,
    args: [...(base.args ?? []), `--use-file-for-fake-audio-capture=${wav}`],
  });
  const listenerBrowser: Browser = await chromium.launch(base);
  try {
    const room = `speaking-${Date.now()}`;
    const speaker = await speakerBrowser.newPage({ baseURL: use.baseURL! });
    const listener = await listenerBrowser.newPage({ baseURL: use.baseURL! });
    const speakerId = await joinAs(speaker, 'Speaker', room, 'websocket');
    await joinAs(listener, 'Listener', room, 'websocket');
    await expect(member(listener, speakerId)).toBeVisible();
    // Record the speaker's speaking periods as the listener's room reports them.
    await listener.evaluate((id) => {
      const w = globalThis as unknown as {
        concordExample: {
          room: { on(e: string, f: (p: { userId: string }, s: boolean) => void): void };
        };
        periods: Array<[boolean, number]>;
      };
      w.periods = [];
      w.concordExample.room.on('speakingChanged', (p, s) => {
        if (p.userId === id) w.periods.push([s, performance.now()]);
      });
    }, speakerId);
    const windowMs = Math.ceil(2 * loopMs);
    await listener.waitForTimeout(windowMs);
    const events = await listener.evaluate(
      () => (globalThis as unknown as { periods: Array<[boolean, number]> }).periods,
    );
    const starts = events.filter(([s]) => s).length;
    const sentences = (2 * windowMs) / loopMs; // two sentences per loop
    const durations: number[] = [];
    for (let i = 1; i < events.length; i++)
      if (events[i - 1]![0] && !events[i]![0]) durations.push(events[i]![1] - events[i - 1]![1]);
    note('voiceRoom.speaking', {
      windowMs,
      sentences,
      starts,
      durationsMs: durations.map(Math.round),
    });
    expect(starts).toBeGreaterThanOrEqual(Math.floor(sentences) - 1);
    expect(starts).toBeLessThanOrEqual(Math.ceil(sentences) + 1);
    // Every period is a sentence long (the shortest sentence here lasts well over a second).
    for (const d of durations) expect(d).toBeGreaterThan(800);
  } finally {
    await speakerBrowser.close();
    await listenerBrowser.close();
  }
});

test('with a token server and no dev tokens, the page joins with a token from it', async ({
  browser,
}) => {
  const secret = 'e2e-token-server-secret-'.padEnd(48, 'x');
  const gw = await startGateway(
    ['--static', '/sdk/=packages/sdk/dist', '--static', '/=examples/voice-room'],
    { CONCORD_SECRET: secret },
  );
  const origin = `http://127.0.0.1:${gw.port}`;
  const tokens = spawn(process.execPath, ['examples/token-server/server.mjs'], {
    env: { ...process.env, CONCORD_SECRET: secret, PORT: '0', ALLOWED_ORIGINS: origin },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const tokenUrl = await new Promise<string>((resolve, reject) => {
      tokens.once('exit', (code) => reject(new Error(`token server exited with ${code}`)));
      createInterface({ input: tokens.stdout! }).on('line', (line) => {
        const m = /token server: (http:\/\/[^/]+)\/token/.exec(line);
        if (m) resolve(m[1]!);
      });
    });
    const page = await (await browser.newContext({ baseURL: origin })).newPage();
    // Without dev auth the gateway has no /dev/token: the page must use the token server.
    expect((await page.request.get('/dev/token?name=x')).status()).toBe(404);
    await page.goto(`/?tokenServer=${encodeURIComponent(tokenUrl)}`);
    const userId = await joinAs(page, 'Tess', 'lobby');
    await expect(member(page, userId)).toContainText('Tess');
    await page.context().close();
  } finally {
    tokens.kill();
    await gw.stop();
  }
});

test('autoplay blocked: the page shows "click to enable audio", and a click starts the audio', async ({
  browser,
}) => {
  // Headless Chromium does not enforce the autoplay policy (an AudioContext created without a
  // gesture runs even with --autoplay-policy=document-user-activation-required), so the page
  // gets the policy emulated: contexts start suspended and resume() waits for a trusted
  // pointer gesture, as in a desktop browser. The join is submitted by script (no gesture).
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    const Real = AudioContext;
    let gesture = false;
    addEventListener('pointerdown', (e) => e.isTrusted && (gesture = true), true);
    const resume = Real.prototype.resume;
    Real.prototype.resume = function (this: AudioContext) {
      return gesture ? resume.call(this) : new Promise<void>(() => undefined);
    };
    globalThis.AudioContext = class extends Real {
      constructor(options?: AudioContextOptions) {
        super(options);
        if (!gesture) void this.suspend();
      }
    };
  });
  const page = await ctx.newPage();
  await page.goto('/');
  await page.evaluate((room) => {
    (document.getElementById('name') as HTMLInputElement).value = 'Ada';
    (document.getElementById('room') as HTMLInputElement).value = room;
    (document.getElementById('join-form') as HTMLFormElement).requestSubmit();
  }, `autoplay-${Date.now()}`);
  await expect(page.locator('#status')).toHaveText('ready');
  const button = page.getByRole('button', { name: /Click to enable audio/ });
  await expect(button).toBeVisible();
  await page.screenshot({ path: 'test-results/voice-room-autoplay.png', fullPage: true });
  await button.click();
  await expect(button).toBeHidden();
  // The microphone that waited for the audio starts too.
  await expect(page.getByRole('button', { name: 'Stop microphone' })).toBeVisible();
  const state = () =>
    page.evaluate(
      () =>
        (
          globalThis as unknown as {
            concordExample: { client: { audio: { running(): { context: AudioContext } } } };
          }
        ).concordExample.client.audio.running().context.state,
    );
  expect(await state()).toBe('running');
  await ctx.close();
});

test('each member’s media path is shown, and the path chosen before joining is used', async ({
  browser,
}) => {
  test.setTimeout(60_000);
  const room = `paths-${Date.now()}`;
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  const aliceId = await joinAs(alice, 'Alice', room, 'webrtc');
  const bobId = await joinAs(bob, 'Bob', room, 'websocket');
  // Alice's voice moves to WebRTC once ICE connects (the e2e gateway runs the SFU).
  await expect(member(alice, aliceId)).toHaveAttribute('data-media-path', 'webrtc', {
    timeout: 15_000,
  });
  await expect(alice.locator('#local-path')).toHaveText('WebRTC');
  await expect(member(bob, aliceId).locator('.path')).toHaveText('WebRTC');
  await expect(member(alice, bobId).locator('.path')).toHaveText('WebSocket');
  await expect(bob.locator('#local-path')).toHaveText('WebSocket');
  await alice.screenshot({ path: 'test-results/voice-room-paths.png', fullPage: true });
  await alice.context().close();
  await bob.context().close();
});
