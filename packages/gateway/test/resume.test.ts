// Resume across a cut socket: a real gateway process, real sockets, a continuous event stream.
import { Op, type DispatchMessage } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  httpGet,
  RawClient,
  sendersOf,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';

const token = (userId: string): Promise<string> => mintToken(TEST_SECRET, { userId });

type Speaking = Extract<DispatchMessage, { t: 'SPEAKING' }>;
/** `sender:speaking` of each SPEAKING in `ds`, the sender named from the lists in `ds`. */
const speakingOf = (ds: DispatchMessage[]): string[] => {
  const senders = sendersOf(ds);
  return ds
    .filter((d): d is Speaking => d.t === 'SPEAKING')
    .map((d) => `${senders.get(d)!.userId}:${d.d.speaking}`);
};
const isSpeaking = (m: { op: number; t?: string }): boolean =>
  m.op === Op.Dispatch && m.t === 'SPEAKING';

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Resumes `sessionId` on a fresh socket after `seq`; resolves once RESUMED arrived. */
async function resumed(
  url: string,
  sessionId: string,
  tok: string,
  seq: number,
  secret: string,
): Promise<RawClient> {
  const c = await RawClient.connect(url);
  await c.waitFor((m) => m.op === Op.Hello);
  c.resume(sessionId, tok, seq, secret);
  await c.waitFor((m) => m.op === Op.Resumed);
  return c;
}

describe('resume', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--batch-window-ms', '2']);
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  it('replays every event missed during cuts exactly once, in order', async () => {
    const room = 'stream';
    const listenerToken = await token('listener');
    const listener = await RawClient.identified(gw.url, listenerToken);
    const witness = await RawClient.identified(gw.url, await token('witness'));
    clients.push(listener, witness);
    await listener.join(room);
    await witness.join(room);

    const PRODUCERS = 4;
    const EVENTS_EACH = 150;
    const producers: RawClient[] = [];
    for (let p = 0; p < PRODUCERS; p++) {
      const c = await RawClient.identified(gw.url, await token(`producer-${p}`));
      await c.join(room);
      producers.push(c);
      clients.push(c);
    }
    const total = PRODUCERS * EVENTS_EACH;

    // Producers toggle speaking in parallel, paced so the stream lasts about a second and the
    // cuts land in its middle.
    const produce = async (c: RawClient): Promise<void> => {
      for (let i = 0; i < EVENTS_EACH; i++) {
        c.send({ op: Op.Speaking, d: { room, speaking: i % 2 === 0 } });
        await new Promise((r) => setTimeout(r, 4));
      }
    };
    const streaming = Promise.all(producers.map(produce));

    // Everything the listener ever processed, across its sockets.
    const held: DispatchMessage[] = [];
    let current = listener;
    const sessionId = listener.sessionId;
    const secret = listener.resumeSecret;
    const replayed: number[] = [];
    for (const cutAfter of [total / 5, total / 2]) {
      await current.waitForCount(isSpeaking, cutAfter - speakingOf(held).length, 10_000);
      held.push(...current.dispatches());
      current.cut(); // no close frame: the server sees a dead TCP connection
      const lastSeq = held.at(-1)!.seq;
      // Let events pile up in the replay buffer while the listener is away.
      await witness.waitForCount(isSpeaking, Math.min(total, speakingOf(held).length + 20));
      current = await resumed(gw.url, sessionId, listenerToken, lastSeq, secret);
      const r = current.received.find((m) => m.op === Op.Resumed);
      if (r?.op === Op.Resumed) replayed.push(r.d.replayed);
      clients.push(current);
    }
    await streaming;
    await witness.waitForCount(isSpeaking, total, 15_000);
    await waitUntil(() => speakingOf([...held, ...current.dispatches()]).length >= total, 15_000);
    held.push(...current.dispatches());
    // Both cuts landed mid-stream: events were missed and replayed.
    expect(replayed).toHaveLength(2);
    for (const n of replayed) expect(n).toBeGreaterThan(0);

    // Seqs contiguous from 1: nothing lost, nothing duplicated, in order.
    expect(held.map((d) => d.seq)).toEqual(range(1, held.length));
    // The same events, in the same order, as a client that never disconnected.
    expect(speakingOf(held)).toHaveLength(total);
    expect(speakingOf(held)).toEqual(speakingOf(witness.dispatches()));
    const resumedMsgs = current.received.filter((m) => m.op === Op.Resumed);
    expect(resumedMsgs).toHaveLength(1);
    expect(current.closeCode).toBeUndefined();
    // Each producer's own toggles arrive in the order it sent them.
    for (let p = 0; p < PRODUCERS; p++) {
      const mine = speakingOf(held).filter((s) => s.startsWith(`producer-${p}:`));
      expect(mine).toEqual(range(0, EVENTS_EACH - 1).map((i) => `producer-${p}:${i % 2 === 0}`));
    }
  });

  it('replays a backlog larger than one batch in order, then carries on live', async () => {
    const room = 'backlog';
    const tok = await token('sleeper');
    const sleeper = await RawClient.identified(gw.url, tok);
    const talkers = [
      await RawClient.identified(gw.url, await token('talker-a')),
      await RawClient.identified(gw.url, await token('talker-b')),
    ];
    clients.push(sleeper, ...talkers);
    await sleeper.join(room);
    for (const t of talkers) await t.join(room);
    await sleeper.waitForCount((m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_JOINED', 2);
    const seen = sleeper.dispatches();
    sleeper.cut();
    const BACKLOG_EACH = 250; // 500 events: more than one 256-message batch
    for (let i = 0; i < BACKLOG_EACH; i++)
      for (const t of talkers) t.send({ op: Op.Speaking, d: { room, speaking: i % 2 === 0 } });
    // talker-b sees all of talker-a's events once they were fanned out (to the replay buffer too).
    await talkers[1]!.waitForCount(isSpeaking, BACKLOG_EACH);
    await talkers[0]!.waitForCount(isSpeaking, BACKLOG_EACH);
    const back = await resumed(
      gw.url,
      sleeper.sessionId,
      tok,
      seen.at(-1)!.seq,
      sleeper.resumeSecret,
    );
    clients.push(back);
    expect(back.received.find((m) => m.op === Op.Resumed)).toMatchObject({
      op: Op.Resumed,
      d: { replayed: 2 * BACKLOG_EACH },
    });
    talkers[0]!.send({ op: Op.Speaking, d: { room, speaking: true } });
    await back.waitForCount(isSpeaking, 2 * BACKLOG_EACH + 1);
    const all = [...seen, ...back.dispatches()];
    expect(all.map((d) => d.seq)).toEqual(range(1, all.length));
    for (const who of ['talker-a', 'talker-b'])
      expect(
        speakingOf(all)
          .filter((e) => e.startsWith(`${who}:`))
          .slice(0, BACKLOG_EACH),
      ).toEqual(range(0, BACKLOG_EACH - 1).map((i) => `${who}:${i % 2 === 0}`));
    expect(speakingOf(all).at(-1)).toBe('talker-a:true');
  });

  it('replaces a still-connected socket on resume, closing it with 4014', async () => {
    const tok = await token('twin');
    const first = await RawClient.identified(gw.url, tok);
    clients.push(first);
    await first.join('twins');
    const second = await resumed(gw.url, first.sessionId, tok, first.lastSeq, first.resumeSecret);
    clients.push(second);
    expect(await first.closed()).toBe(4014);
    expect(second.received.find((m) => m.op === Op.Resumed)).toMatchObject({
      op: Op.Resumed,
      d: { replayed: 0 },
    });
  });
});

describe('resume refused', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];
  const RESUME_WINDOW_MS = 1_500;

  beforeAll(async () => {
    gw = await startGateway([
      '--replay-max-events',
      '5',
      '--resume-window-ms',
      String(RESUME_WINDOW_MS),
    ]);
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  async function setup(user: string, room: string) {
    const tok = await token(user);
    const away = await RawClient.identified(gw.url, tok);
    const witness = await RawClient.identified(gw.url, await token(`${user}-witness`));
    clients.push(away, witness);
    await away.join(room);
    await witness.join(room);
    await away.waitFor((m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_JOINED');
    return {
      tok,
      away,
      witness,
      sessionId: away.sessionId,
      seq: away.lastSeq,
      secret: away.resumeSecret,
    };
  }

  /** Sends RESUME on a fresh socket; expects INVALID_SESSION, then identifies on it. */
  async function refusedThenIdentify(sessionId: string, tok: string, seq: number, secret: string) {
    const c = await RawClient.connect(gw.url);
    clients.push(c);
    await c.waitFor((m) => m.op === Op.Hello);
    c.resume(sessionId, tok, seq, secret);
    const invalid = await c.waitFor((m) => m.op === Op.InvalidSession);
    expect(invalid).toEqual({ op: Op.InvalidSession, d: { resumable: false } });
    expect(c.received.some((m) => m.op === Op.Resumed || m.op === Op.Dispatch)).toBe(false);
    // The same socket may identify instead.
    c.identify(tok);
    await c.waitFor((m) => m.op === Op.Ready);
    expect(c.sessionId).not.toBe(sessionId);
    await c.join('after');
    expect(c.dispatches()[0]?.seq).toBe(1);
    return c;
  }

  it('answers INVALID_SESSION when missed events were evicted, and re-identify works', async () => {
    const { tok, away, witness, sessionId, seq, secret } = await setup('evicted', 'r-evicted');
    away.cut();
    for (let i = 0; i < 10; i++)
      witness.send({ op: Op.Speaking, d: { room: 'r-evicted', speaking: i % 2 === 0 } });
    // Wait until the server has processed the cut and the replay buffer has overflowed: the
    // witness's own updates echo back once they were fanned out.
    for (let i = 0; i < 3; i++)
      witness.send({
        op: Op.UpdateVoiceState,
        d: { req: 10 + i, room: 'r-evicted', muted: i % 2 === 0, deafened: false },
      });
    await witness.waitForCount((m) => m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE', 3);
    await refusedThenIdentify(sessionId, tok, seq, secret);
    // The refused session is over: the witness sees it leave.
    await witness.waitFor(
      (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_LEFT' && m.d.userId === 'evicted',
    );
  });

  it('answers INVALID_SESSION for a seq the session never reached', async () => {
    const { tok, away, sessionId, seq, secret } = await setup('ahead', 'r-ahead');
    away.cut();
    await refusedThenIdentify(sessionId, tok, seq + 5, secret);
  });

  it('answers INVALID_SESSION for an unknown session or another user’s session', async () => {
    const { tok, away, sessionId, seq, secret } = await setup('owner', 'r-owner');
    await refusedThenIdentify('no-such-session', await token('stranger'), 0, secret);
    await refusedThenIdentify(sessionId, await token('intruder'), seq, secret);
    // The right user without the resume secret (someone who saw the session id in a log).
    await refusedThenIdentify(sessionId, tok, seq, 'x'.repeat(secret.length));
    // The owner's session was not touched by the intruder's attempt.
    expect(away.closeCode).toBeUndefined();
    away.send({
      op: Op.UpdateVoiceState,
      d: { req: 5, room: 'r-owner', muted: true, deafened: false },
    });
    await away.waitFor((m) => m.op === Op.Dispatch && m.t === 'REQUEST_ACK');
  });

  it('answers INVALID_SESSION after the resume window has run out', async () => {
    const { tok, away, witness, sessionId, seq, secret } = await setup('late', 'r-late');
    away.cut();
    // The session ends when its window runs out; its rooms are left.
    await witness.waitFor(
      (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_LEFT' && m.d.userId === 'late',
      RESUME_WINDOW_MS + 5_000,
    );
    const health = JSON.parse((await httpGet(gw, '/healthz')).body) as { sessions: number };
    expect(health.sessions).toBeGreaterThan(0);
    await refusedThenIdentify(sessionId, tok, seq, secret);
  });
});
