import { expect, test, type Page } from '@playwright/test';

/** Joins through the example's form; returns the tab's user id (separate from the name). */
async function joinAs(page: Page, name: string, room: string): Promise<string> {
  await page.goto('/');
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('#status')).toHaveText('ready');
  await expect(page.locator('#join-form')).toBeHidden();
  await expect(page.locator('#room-view')).toBeVisible();
  return page.evaluate(
    () => (globalThis as unknown as { concordExample: { userId: string } }).concordExample.userId,
  );
}

const participant = (page: Page, userId: string) =>
  page.locator(`#participants li[data-user-id="${userId}"]`);

test('two pages join one room, see each other, and see mute changes propagate', async ({
  browser,
}) => {
  const room = `e2e-${Date.now()}`;
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();

  const aliceId = await joinAs(alice, 'Alice', room);
  // The page is served with COOP/COEP: SharedArrayBuffer will be available for audio.
  expect(await alice.evaluate(() => crossOriginIsolated)).toBe(true);
  const bobId = await joinAs(bob, 'Bob', room);

  await expect(participant(alice, bobId)).toContainText('Bob');
  await expect(participant(bob, aliceId)).toContainText('Alice');
  // The Join click started the microphone, and the stats panel shows the sending bitrate.
  await expect(alice.getByRole('button', { name: 'Stop microphone' })).toBeVisible();
  await expect(alice.locator('#stat-bitrate')).toHaveText(/^\d+ kbps$/);
  await expect(alice.getByLabel('Volume of Bob')).toBeVisible();
  await expect(alice.locator('#participants li')).toHaveCount(2);

  await bob.getByRole('button', { name: 'Mute' }).click();
  await expect(participant(alice, bobId)).toHaveAttribute('data-muted', 'true');
  await expect(participant(alice, bobId)).toContainText('muted');

  await bob.getByRole('button', { name: 'Unmute' }).click();
  await expect(participant(alice, bobId)).toHaveAttribute('data-muted', 'false');

  await bob.getByRole('button', { name: 'Leave' }).click();
  await expect(participant(alice, bobId)).toHaveCount(0);
  await alice.context().close();
  await bob.context().close();
});

test('the SDK bundle works without the example UI (raw API in the page)', async ({ page }) => {
  await page.goto('/');
  const result = await page.evaluate(async () => {
    const { VoiceClient } = await import('/sdk/concord.browser.js' as string);
    const url = `ws://${location.host}/gateway`;
    const a = new VoiceClient({ url, token: 'dev:raw-a:RawA' });
    const b = new VoiceClient({ url, token: 'dev:raw-b:RawB' });
    await a.connect();
    await b.connect();
    const ra = await a.join('raw-room');
    const joined = new Promise<string>((r) =>
      ra.on('participantJoined', (p: { userId: string }) => r(p.userId)),
    );
    await b.join('raw-room');
    const who = await joined;
    const states: string[] = [];
    b.on('stateChange', (_p: string, n: string) => states.push(n));
    await b.disconnect();
    await a.disconnect();
    return { who, states, isolated: crossOriginIsolated };
  });
  expect(result).toEqual({ who: 'raw-b', states: ['closed'], isolated: true });
});
