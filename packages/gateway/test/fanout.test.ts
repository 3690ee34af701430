// Per-room fan-out with many clients on a real gateway process.
import { Op, type DispatchMessage } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { RawClient, sendersOf, startGateway, TEST_SECRET, type GatewayProcess } from './harness.js';

const ROOMS = ['red', 'green', 'blue'];
const PER_ROOM = 10;

describe('room fan-out', () => {
  let gw: GatewayProcess;
  const members = new Map<string, Array<{ user: string; client: RawClient }>>();

  beforeAll(async () => {
    gw = await startGateway();
    // Interleave joins across rooms so fan-out to one room runs while others change.
    for (let i = 0; i < PER_ROOM; i++)
      await Promise.all(
        ROOMS.map(async (room) => {
          const user = `${room}-${i}`;
          const client = await RawClient.identified(
            gw.url,
            await mintToken(TEST_SECRET, { userId: user, rooms: [room] }),
          );
          await client.join(room);
          const list = members.get(room) ?? [];
          list.push({ user, client });
          members.set(room, list);
        }),
      );
  });

  afterAll(async () => {
    for (const list of members.values()) for (const { client } of list) client.cut();
    expect(await gw.stop()).toBe(0);
  });

  it('delivers to each of 30 clients in 3 rooms exactly its own room’s events', async () => {
    // Everyone changes voice state once and toggles speaking twice, all at the same time.
    for (const list of members.values())
      for (const [i, { client }] of list.entries()) {
        const room = ROOMS.find((r) => list[0]!.user.startsWith(r))!;
        client.send([
          {
            op: Op.UpdateVoiceState,
            d: { req: 2, room, muted: i % 2 === 0, deafened: i % 3 === 0 },
          },
          { op: Op.Speaking, d: { room, speaking: true } },
          { op: Op.Speaking, d: { room, speaking: false } },
        ]);
      }
    // A final marker per room: once it arrived, everything sent before it has too.
    for (const room of ROOMS) {
      const list = members.get(room)!;
      for (const { client } of list)
        await client.waitForCount(
          (m) => m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE',
          PER_ROOM,
        );
      list[0]!.client.send({
        op: Op.UpdateVoiceState,
        d: { req: 3, room, muted: true, deafened: true },
      });
      for (const { client } of list)
        await client.waitForCount(
          (m) => m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE',
          PER_ROOM + 1,
        );
    }

    for (const room of ROOMS) {
      const list = members.get(room)!;
      const users = list.map((m) => m.user);
      for (const [i, { user, client }] of list.entries()) {
        const ds = client.dispatches();
        expect(ds.map((d) => d.seq)).toEqual(ds.map((_, k) => k + 1));
        expect(client.closeCode).toBeUndefined();
        const byType = (t: DispatchMessage['t']) => ds.filter((d) => d.t === t);
        // Every event is about this room: those naming a member by ssrc too, via the
        // participant lists this client received.
        const senders = sendersOf(ds);
        for (const d of ds) if ('room' in d.d) expect(d.d.room).toBe(room);
        for (const sender of senders.values()) expect(sender.room).toBe(room);
        const sender = (d: DispatchMessage): string | undefined => senders.get(d)?.userId;

        const joined = byType('ROOM_JOINED');
        expect(joined).toHaveLength(1);
        if (joined[0]?.t === 'ROOM_JOINED')
          expect(joined[0].d.participants.map((p) => p.userId)).toEqual(users.slice(0, i + 1));
        expect(
          byType('PARTICIPANT_JOINED').map(
            (d) => d.t === 'PARTICIPANT_JOINED' && d.d.participant.userId,
          ),
        ).toEqual(users.slice(i + 1));

        const voice = byType('VOICE_STATE_UPDATE').map((d) =>
          d.t === 'VOICE_STATE_UPDATE' ? `${sender(d)}:${d.d.muted}:${d.d.deafened}` : '',
        );
        expect(voice.slice(0, PER_ROOM).sort()).toEqual(
          users.map((u, j) => `${u}:${j % 2 === 0}:${j % 3 === 0}`).sort(),
        );
        expect(voice.slice(PER_ROOM)).toEqual([`${users[0]}:true:true`]);

        // Speaking goes to everyone else, never back to the speaker, each pair in order.
        const speaking = byType('SPEAKING').map((d) =>
          d.t === 'SPEAKING' ? `${sender(d)}:${d.d.speaking}` : '',
        );
        const others = users.filter((u) => u !== user);
        expect(speaking).toHaveLength(2 * others.length);
        for (const u of others)
          expect(speaking.filter((s) => s.startsWith(`${u}:`))).toEqual([
            `${u}:true`,
            `${u}:false`,
          ]);

        const acks = byType('REQUEST_ACK').map((d) => d.t === 'REQUEST_ACK' && d.d.req);
        expect(acks).toEqual(i === 0 ? [2, 3] : [2]);
        expect(ds).toHaveLength(
          1 + (PER_ROOM - 1 - i) + PER_ROOM + (i === 0 ? 2 : 1) + 2 * others.length + 1,
        );
        expect(byType('PARTICIPANT_LEFT')).toEqual([]);
        expect(byType('REQUEST_ERROR')).toEqual([]);
      }
    }
  });
});
