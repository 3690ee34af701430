// Room requests against a real gateway process: failures that keep the connection, and one
// user joining from two sessions.
import { Op, type DispatchMessage, type ServerMessage } from '@concord/protocol';
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
const dispatchOf =
  (t: DispatchMessage['t'], extra: (d: DispatchMessage) => boolean = () => true) =>
  (m: ServerMessage): boolean =>
    m.op === Op.Dispatch && m.t === t && extra(m);

describe('rooms', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--max-rooms-per-session', '2', '--max-participants-per-room', '2']);
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  it('fans out a SPEAKING change once: repeating the same state sends nothing', async () => {
    const a = await RawClient.identified(gw.url, await token('speaker-a'));
    const b = await RawClient.identified(gw.url, await token('speaker-b'));
    clients.push(a, b);
    await a.join('talk', 1);
    await b.join('talk', 1);
    for (const speaking of [true, true, true, false, false, true]) {
      a.send({ op: Op.Speaking, d: { room: 'talk', speaking } });
    }
    // A marker after the burst: once it arrives, every SPEAKING before it has arrived too.
    a.send({ op: Op.UpdateVoiceState, d: { req: 2, room: 'talk', muted: true, deafened: false } });
    await b.waitFor(dispatchOf('VOICE_STATE_UPDATE'));
    const ds = b.dispatches();
    const senders = sendersOf(ds);
    const seen = ds
      .filter(dispatchOf('SPEAKING'))
      .map((d) =>
        d.t === 'SPEAKING'
          ? `${senders.get(d)?.room}/${senders.get(d)?.userId}:${d.d.speaking}`
          : '',
      );
    expect(seen).toEqual(['talk/speaker-a:true', 'talk/speaker-a:false', 'talk/speaker-a:true']);
  });

  it('answers failed room requests with REQUEST_ERROR and keeps the connection', async () => {
    const c = await RawClient.identified(gw.url, await token('requester'));
    clients.push(c);
    const error = async (req: number) => {
      const m = await c.waitFor(
        dispatchOf('REQUEST_ERROR', (d) => 'req' in d.d && d.d.req === req),
      );
      return m.op === Op.Dispatch && m.t === 'REQUEST_ERROR' ? m.d.code : undefined;
    };
    await c.join('one', 1);
    c.send({ op: Op.JoinRoom, d: { req: 2, room: 'one' } });
    expect(await error(2)).toBe('ALREADY_IN_ROOM');
    await c.join('two', 3);
    c.send({ op: Op.JoinRoom, d: { req: 4, room: 'three' } });
    expect(await error(4)).toBe('TOO_MANY_ROOMS');
    c.send({ op: Op.LeaveRoom, d: { req: 5, room: 'nowhere' } });
    expect(await error(5)).toBe('NOT_IN_ROOM');
    c.send({
      op: Op.UpdateVoiceState,
      d: { req: 6, room: 'nowhere', muted: true, deafened: false },
    });
    expect(await error(6)).toBe('NOT_IN_ROOM');
    c.send({ op: Op.LeaveRoom, d: { req: 7, room: 'two' } });
    await c.waitFor(dispatchOf('ROOM_LEFT', (d) => 'req' in d.d && d.d.req === 7));
    await c.join('three', 8);
    expect(c.closeCode).toBeUndefined();
  });

  it('refuses a third participant with ROOM_FULL', async () => {
    const [a, b, c] = await Promise.all(
      ['full-a', 'full-b', 'full-c'].map(async (u) => RawClient.identified(gw.url, await token(u))),
    );
    clients.push(a!, b!, c!);
    await a!.join('small');
    await b!.join('small');
    c!.send({ op: Op.JoinRoom, d: { req: 9, room: 'small' } });
    const m = await c!.waitFor(dispatchOf('REQUEST_ERROR'));
    expect(m.op === Op.Dispatch && m.d).toEqual({
      req: 9,
      code: 'ROOM_FULL',
      message: 'room full: small',
    });
    expect(a!.count(dispatchOf('PARTICIPANT_JOINED'))).toBe(1);
  });

  it('lets a user’s newer session replace its older one in a room', async () => {
    const watcher = await RawClient.identified(gw.url, await token('watcher'));
    const first = await RawClient.identified(gw.url, await token('twin'));
    const second = await RawClient.identified(gw.url, await token('twin'));
    clients.push(watcher, first, second);
    await watcher.join('mirror');
    await first.join('mirror');
    await watcher.waitFor(dispatchOf('PARTICIPANT_JOINED'));
    await second.join('mirror');
    const left = await first.waitFor(dispatchOf('ROOM_LEFT'));
    expect(left.op === Op.Dispatch && left.d).toEqual({
      req: 0,
      room: 'mirror',
      reason: 'replaced',
    });
    await watcher.waitForCount(dispatchOf('PARTICIPANT_JOINED'), 2);
    expect(watcher.dispatches().map((d) => `${d.t}:${'userId' in d.d ? d.d.userId : ''}`)).toEqual([
      'ROOM_JOINED:',
      'PARTICIPANT_JOINED:',
      'PARTICIPANT_LEFT:twin',
      'PARTICIPANT_JOINED:',
    ]);
    const joined = second.dispatches()[0];
    if (joined?.t !== 'ROOM_JOINED') throw new Error('no ROOM_JOINED');
    expect(joined.d.participants.map((p) => p.userId).sort()).toEqual(['twin', 'watcher']);
    // The older session leaving later does not take the newer one's membership with it.
    const sessions = async () =>
      (JSON.parse((await httpGet(gw, '/healthz')).body) as { sessions: number }).sessions;
    const before = await sessions();
    first.close();
    await first.closed();
    await waitUntil(async () => (await sessions()) === before - 1);
    second.send({
      op: Op.UpdateVoiceState,
      d: { req: 2, room: 'mirror', muted: true, deafened: false },
    });
    const update = await watcher.waitFor<DispatchMessage>(dispatchOf('VOICE_STATE_UPDATE'));
    expect(watcher.count(dispatchOf('PARTICIPANT_LEFT'))).toBe(1);
    // It names the newer membership by its ssrc, the one the second PARTICIPANT_JOINED listed.
    const rejoined = watcher.dispatches().filter(dispatchOf('PARTICIPANT_JOINED')).at(-1);
    if (rejoined?.t !== 'PARTICIPANT_JOINED' || update.t !== 'VOICE_STATE_UPDATE')
      throw new Error('no PARTICIPANT_JOINED / VOICE_STATE_UPDATE');
    expect(update.d).toEqual({ ssrc: rejoined.d.participant.ssrc, muted: true, deafened: false });
    expect(sendersOf(watcher.dispatches()).get(update)).toEqual({ room: 'mirror', userId: 'twin' });
  });
});
