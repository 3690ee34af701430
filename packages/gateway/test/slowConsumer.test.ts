// Clients that stop reading, against a real gateway process: they are cut with 4018
// SLOW_CONSUMER (or, when even the close frame cannot reach them, the socket is destroyed),
// everyone else keeps up, and the cut client resumes without losing or repeating an event.
import { Op, type DispatchMessage } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  httpGet,
  metricValue,
  RawClient,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';

const token = (userId: string, name?: string): Promise<string> =>
  mintToken(TEST_SECRET, name ? { userId, name } : { userId });
const OUTBOUND_BYTES = 100_000;
const AGE_MS = 1_000;

/** Pauses the client's TCP socket: the kernel buffers fill, then the gateway's. */
function stopReading(c: RawClient): void {
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
}
function startReading(c: RawClient): void {
  (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
}
const speakingKeys = (ds: DispatchMessage[]): string[] =>
  ds.flatMap((d) => (d.t === 'SPEAKING' ? [`${d.d.ssrc}:${d.d.speaking}`] : []));

describe('slow consumers (real gateway)', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway([
      '--max-participants-per-room',
      '50',
      '--max-outbound-bytes',
      String(OUTBOUND_BYTES),
      '--max-outbound-age-ms',
      String(AGE_MS),
      '--speaking-rate-limit-messages',
      '1000000',
      '--rate-limit-messages',
      '1000000',
      '--report-rate-limit-messages',
      '1000000',
      '--rate-limit-bytes',
      '100000000',
      '--replay-max-events',
      '200000',
      '--replay-max-bytes',
      String(16 * 1024 * 1024),
      '--resume-window-ms',
      '30000',
    ]);
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  async function room(name: string, slowUser: string, talkerCount: number, talkerName?: string) {
    const slow = await RawClient.identified(gw.url, await token(slowUser), freshLoopback());
    const reader = await RawClient.identified(
      gw.url,
      await token(`${slowUser}-reader`),
      freshLoopback(),
    );
    const talkers = await Promise.all(
      Array.from({ length: talkerCount }, async (_, i) =>
        RawClient.identified(
          gw.url,
          await token(`${slowUser}-talker-${i}`, talkerName),
          freshLoopback(),
        ),
      ),
    );
    clients.push(slow, reader, ...talkers);
    for (const c of [slow, reader, ...talkers]) await c.join(name);
    await slow.waitForCount(
      (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_JOINED',
      talkerCount + 1,
    );
    return { slow, reader, talkers };
  }

  /** Resumes `c`'s session from its last processed event; resolves with the new client. */
  async function resumeOf(c: RawClient, user: string): Promise<RawClient> {
    const back = await RawClient.connect(gw.url, freshLoopback());
    clients.push(back);
    await back.waitFor((m) => m.op === Op.Hello);
    back.resume(c.sessionId, await token(user), c.lastSeq, c.resumeSecret);
    await back.waitFor((m) => m.op === Op.Resumed, 10_000);
    return back;
  }

  it('cuts a client that heartbeats but never reads (4018); it resumes with every event exactly once, in order', async () => {
    const { slow, reader, talkers } = await room('deaf-room', 'deaf', 3);
    stopReading(slow);
    const ackedSeq = slow.lastSeq;
    let sent = 0;
    const deadline = Date.now() + 20_000;
    // The deaf client keeps beating with the seq it last processed, as a stuck page would.
    while (slow.closeCode === undefined && Date.now() < deadline) {
      for (const [i, t] of talkers.entries()) {
        t.send({ op: Op.Speaking, d: { room: 'deaf-room', speaking: (sent + i) % 2 === 0 } });
        sent++;
      }
      slow.send({ op: Op.Heartbeat, d: { nonce: sent, seq: ackedSeq } });
      const { body } = await httpGet(gw, '/metrics');
      if ((metricValue(body, 'concord_slow_consumers_total', 'bound="unread"') ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    startReading(slow);
    expect([4018, 1006]).toContain(await slow.closed(10_000));
    // It was cut soon after the age bound, not when some buffer filled.
    expect(sent).toBeLessThan(3 * 3 * (AGE_MS / 100) + 30);

    await reader.waitForCount((m) => m.op === Op.Dispatch && m.t === 'SPEAKING', sent);
    expect(reader.closeCode).toBeUndefined();
    const back = await resumeOf(slow, 'deaf');
    const all = () => [...slow.dispatches(), ...back.dispatches()];
    await waitUntil(() => speakingKeys(all()).length >= sent, 10_000);
    expect(all().map((d) => d.seq)).toEqual(all().map((_, i) => i + 1));
    expect(speakingKeys(all())).toEqual(speakingKeys(reader.dispatches()));
  });

  it(
    'cuts a client that stops reading altogether at the outbound byte bound (4018); it resumes with every event',
    {
      timeout: 60_000,
    },
    async () => {
      // Large events fill the kernel's socket buffers fast: each RECEIVER_REPORT naming the slow
      // client's stream 64 times becomes 64 RECEIVER_REPORT events of ~260 bytes for it alone.
      const name = `stuck-${'r'.repeat(120)}`;
      const { slow, talkers } = await room(name, 'stuck', 1);
      const ssrc = (
        slow.dispatches().find((d) => d.t === 'ROOM_JOINED') as DispatchMessage & {
          t: 'ROOM_JOINED';
        }
      ).d.participants.find((p) => p.userId === 'stuck')!.ssrc;
      stopReading(slow);
      const talker = talkers[0]!;
      let sent = 0;
      const deadline = Date.now() + 40_000;
      for (;;) {
        const { body } = await httpGet(gw, '/metrics');
        if ((metricValue(body, 'concord_slow_consumers_total', 'bound="bytes"') ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error(`never cut after ${sent} reports`);
        for (let k = 0; k < 20; k++) {
          // jitterMs carries a running count, so order and completeness can be checked.
          const reports = Array.from({ length: 64 }, () => ({
            ssrc,
            fractionLost: 0,
            jitterMs: sent++,
            lostTotal: 0,
          }));
          talker.send({ op: Op.ReceiverReport, d: { room: name, reports } });
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      startReading(slow);
      expect([4018, 1006]).toContain(await slow.closed(10_000));
      expect(talker.closeCode).toBeUndefined();
      const back = await resumeOf(slow, 'stuck');
      const reportsOf = () =>
        [...slow.dispatches(), ...back.dispatches()].flatMap((d) =>
          d.t === 'RECEIVER_REPORT' ? [d.d.jitterMs] : [],
        );
      await waitUntil(() => reportsOf().length >= sent, 30_000);
      const all = [...slow.dispatches(), ...back.dispatches()];
      expect(all.map((d) => d.seq)).toEqual(all.map((_, i) => i + 1));
      expect(reportsOf()).toEqual(Array.from({ length: sent }, (_, i) => i));
    },
  );
});
