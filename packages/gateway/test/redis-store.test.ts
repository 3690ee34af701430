import type { EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterError } from '../src/cluster/ClusterError.js';
import { RedisStateStore, type SessionLostReason } from '../src/cluster/RedisStateStore.js';
import { decodeEntry, encodeEntry } from '../src/cluster/ReplayWriter.js';
import type { RoomMember, SessionRecord } from '../src/state/StateStore.js';
import { RedisServer, until } from './redisHarness.js';

let server: RedisServer;
let prefixNo = 0;
const open: Array<{ store: RedisStateStore; redis: Redis }> = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterEach(async () => {
  for (const { store, redis } of open.splice(0)) {
    await store.close();
    redis.disconnect();
  }
});
afterAll(async () => {
  await server?.destroy();
});

/** Two (or more) nodes sharing one key prefix, each on its own connection. */
async function nodes(count: number, extra: { maxMembersPerRoom?: number } = {}) {
  const keyPrefix = `s${++prefixNo}:`;
  const out: RedisStateStore[] = [];
  for (let i = 0; i < count; i++) {
    const redis = server.connect(`node-${i}`);
    const store = new RedisStateStore({ redis, nodeId: `n${i}`, keyPrefix, ...extra });
    await store.start();
    open.push({ store, redis });
    out.push(store);
  }
  return { stores: out, keyPrefix, admin: server.connect('admin') };
}

const record = (sessionId: string, userId = sessionId): SessionRecord => ({
  sessionId,
  userId,
  name: userId,
  allowedRooms: ['*'],
  expiresAt: 2_000_000_000,
});

const member = (sessionId: string, userId: string, ssrc: number): RoomMember => ({
  sessionId,
  userId,
  name: userId,
  ssrc,
  muted: false,
  deafened: false,
  speaking: false,
  webrtc: false,
});

const ev = (n: number, bytes = 1): EncodedEvent => ({
  code: 5,
  fieldCount: 2,
  body: new Uint8Array(bytes).fill(n & 0xff),
});

const LIMITS = { maxEvents: 50, maxBytes: 10_000 };

describe('RedisStateStore', () => {
  it('stores replay entries as code, field count and body, and reads them back', () => {
    const e = { code: 513, fieldCount: 7, body: new Uint8Array([1, 2, 3]) };
    const bytes = encodeEntry(e);
    expect([...bytes]).toEqual([0x02, 0x01, 7, 1, 2, 3]);
    expect(decodeEntry(bytes)).toEqual({ code: 513, fieldCount: 7, body: Buffer.from([1, 2, 3]) });
    expect(() => decodeEntry(Buffer.from([1, 2]))).toThrow(RangeError);
  });

  it('mirrors the replay buffer to Redis exactly: appends, evictions by count and bytes, acks', async () => {
    const { stores, keyPrefix, admin } = await nodes(1);
    const [a] = stores as [RedisStateStore];
    await a.putSession(record('s1'));
    const buffer = a.replayBuffer('s1', { maxEvents: 8, maxBytes: 60 });
    for (let seq = 1; seq <= 20; seq++) buffer.append(seq, ev(seq, seq % 3 === 0 ? 20 : 2));
    await a.writer.flush();
    const list = async () =>
      (await admin.lrangeBuffer(`${keyPrefix}s:{s1}:q`, 0, -1)).map((b) => decodeEntry(b).body[0]);
    const local = () => {
      const r = buffer.since(20 - buffer.size);
      return r.ok ? r.messages.map((m) => m.body[0]) : [];
    };
    expect(buffer.size).toBeLessThan(8); // the byte bound evicted more than the count bound
    expect(await list()).toEqual(local());
    expect(await admin.hget(`${keyPrefix}s:{s1}`, 'last')).toBe('20');
    buffer.acknowledge(18);
    await a.writer.flush();
    expect(await list()).toEqual([19, 20]);
    buffer.acknowledge(20);
    await a.writer.flush();
    expect(await admin.exists(`${keyPrefix}s:{s1}:q`)).toBe(0);
    // One room event fanned out to three sessions of this node is one script call.
    for (const s of ['s2', 's3', 's4']) await a.putSession(record(s));
    const buffers = ['s2', 's3', 's4'].map((s) => a.replayBuffer(s, LIMITS));
    const calls = a.writer.stats.calls;
    const shared = ev(99);
    for (const b of buffers) b.append(1, shared);
    await a.writer.flush();
    expect(a.writer.stats.calls - calls).toBe(1);
    for (const s of ['s2', 's3', 's4']) expect(await admin.llen(`${keyPrefix}s:{${s}}:q`)).toBe(1);
  });

  it('lets another node resume a session: ownership, seq, replay and rooms move together', async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [RedisStateStore, RedisStateStore];
    const lost: Array<[string, SessionLostReason]> = [];
    a.on('sessionLost', (sid, reason) => lost.push([sid, reason]));
    await a.putSession(record('s1', 'alice'));
    const joined = await a.addMember('lobby', member('s1', 'alice', 111));
    await a.addMember('other', member('s1', 'alice', 222));
    const buffer = a.replayBuffer('s1', LIMITS);
    for (let seq = 1; seq <= 7; seq++) buffer.append(seq, ev(seq));
    buffer.acknowledge(3);
    await a.writer.flush();

    const claimed = await b.claimSession('s1', LIMITS);
    expect(claimed).toBeDefined();
    expect(claimed!.previousNode).toBe('n0');
    expect(claimed!.record).toEqual(record('s1', 'alice'));
    expect(claimed!.lastSeq).toBe(7);
    const r = claimed!.replay.since(3);
    expect(r.ok && r.messages.map((m) => m.body[0])).toEqual([4, 5, 6, 7]);
    expect(claimed!.replay.since(2)).toEqual({ ok: false, reason: 'evicted' });
    expect(claimed!.replay.since(8)).toEqual({ ok: false, reason: 'ahead' });
    expect(claimed!.rooms.map((x) => [x.room, x.member.ssrc]).sort()).toEqual([
      ['lobby', 111],
      ['other', 222],
    ]);
    expect(claimed!.rooms.find((x) => x.room === 'lobby')!.cursor).toEqual(joined.cursor);
    // The new owner continues the stream at seq 8.
    claimed!.replay.append(8, ev(8));
    await b.writer.flush();
    expect((await b.claimSession('s1', LIMITS))!.lastSeq).toBe(8);

    // The old owner is fenced: its writes are refused and it learns the session moved.
    buffer.append(8, ev(80));
    await a.writer.flush();
    await until(() => lost.length > 0, 2_000, 'sessionLost');
    expect(lost).toEqual([['s1', 'moved']]);
    await expect(a.updateMember('lobby', 's1', { muted: true })).rejects.toMatchObject({
      code: 'CONCORD_ERR_CLUSTER_FENCED',
    });
    await expect(a.addMember('third', member('s1', 'alice', 5))).rejects.toBeInstanceOf(
      ClusterError,
    );
    expect(await a.removeMember('lobby', 's1')).toBeUndefined();
    await a.deleteSession('s1');
    expect((await b.members('lobby')).map((m) => m.sessionId)).toEqual(['s1']);
    expect((await b.getSession('s1'))?.userId).toBe('alice');
    expect(await b.claimSession('nope', LIMITS)).toBeUndefined();
  });

  it('keeps ssrcs unique per room under concurrent joins from two nodes proposing the same ssrcs', async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [RedisStateStore, RedisStateStore];
    const joins = [];
    for (let i = 0; i < 150; i++) {
      // Every join asks for one of only 5 ssrcs: 145 of each node's 150 must get another.
      joins.push(a.addMember('room', member(`a${i}`, `ua${i}`, 1 + (i % 5))));
      joins.push(b.addMember('room', member(`b${i}`, `ub${i}`, 1 + (i % 5))));
    }
    const results = await Promise.all(joins);
    const stored = await a.members('room');
    expect(stored).toHaveLength(300);
    const ssrcs = stored.map((m) => m.ssrc);
    expect(new Set(ssrcs).size).toBe(300);
    for (const s of ssrcs) expect(s >= 1 && s < 2 ** 32).toBe(true);
    // Each join learned the ssrc it got.
    for (const r of results) {
      expect(stored.find((m) => m.sessionId === r.member.sessionId)?.ssrc).toBe(r.member.ssrc);
    }
    expect(results.filter((r) => r.member.ssrc <= 5)).toHaveLength(5);
  });

  it('leaves exactly one membership when one user joins from two nodes at once', async () => {
    const { stores, keyPrefix, admin } = await nodes(2);
    const [a, b] = stores as [RedisStateStore, RedisStateStore];
    for (let i = 0; i < 40; i++) {
      const room = `race-${i}`;
      const [ra, rb] = await Promise.all([
        a.addMember(room, member(`sa${i}`, 'u', 10)),
        b.addMember(room, member(`sb${i}`, 'u', 20)),
      ]);
      const members = await a.members(room);
      expect(members).toHaveLength(1);
      const winner = members[0]!.sessionId;
      const [first, second] = winner === `sa${i}` ? [rb, ra] : [ra, rb];
      expect(first.replaced).toBeUndefined();
      expect(second.replaced?.sessionId).toBe(first.member.sessionId);
      // The loser's ssrc is free again: only the winner's and the join counter remain.
      expect((await admin.hkeys(`${keyPrefix}r:{${room}}:x`)).sort()).toEqual(
        [String(members[0]!.ssrc), 'j'].sort(),
      );
    }
  });

  it('enforces the room limit atomically across nodes', async () => {
    const { stores } = await nodes(2, { maxMembersPerRoom: 10 });
    const [a, b] = stores as [RedisStateStore, RedisStateStore];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).addMember('small', member(`s${i}`, `u${i}`, 100 + i)),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    const refused = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(refused).toHaveLength(20);
    for (const r of refused)
      expect(r.reason).toMatchObject({ code: 'CONCORD_ERR_CLUSTER_ROOM_FULL' });
    expect(await a.members('small')).toHaveLength(10);
    // A member rejoining (a replacement of the same user) is not refused by a full room.
    await expect(
      a.addMember('small', member('x', (await a.members('small'))[0]!.userId, 5)),
    ).resolves.toMatchObject({ replaced: expect.anything() });
  });

  it('stores a name or user id with a lone surrogate (as U+FFFD) and can still change it', async () => {
    const { stores } = await nodes(1);
    const [a] = stores as [RedisStateStore];
    const odd = { ...member('s1', 'u\ud800x', 5), name: 'n\udc00 🎧' };
    const { member: stored } = await a.addMember('r', odd);
    expect(stored).toMatchObject({ userId: 'u\ufffdx', name: 'n\ufffd 🎧' });
    expect(await a.updateMember('r', 's1', { muted: true })).toMatchObject({ muted: true });
    // The same (odd) user joining again replaces the first membership.
    expect((await a.addMember('r', { ...odd, sessionId: 's2' })).replaced?.sessionId).toBe('s1');
    expect((await a.removeMember('r', 's2'))?.name).toBe('n\ufffd 🎧');
    expect(await a.members('r')).toEqual([]);
  });

  it('refuses a closed store with CONCORD_ERR_CLUSTER_CLOSED and closes once', async () => {
    const { stores } = await nodes(1);
    const [a] = stores as [RedisStateStore];
    await a.close();
    await a.close();
    expect(() => a.replayBuffer('s', LIMITS)).toThrow(ClusterError);
    await expect(a.members('r')).rejects.toMatchObject({ code: 'CONCORD_ERR_CLUSTER_CLOSED' });
  });

  it('rejects bad options with TypeError/RangeError naming them', () => {
    const redis = server.connect('opts');
    expect(() => new RedisStateStore({ redis, nodeId: 'a b' })).toThrow(TypeError);
    expect(() => new RedisStateStore({ redis, nodeId: 'a', keyPrefix: '{x}' })).toThrow(
      /keyPrefix/,
    );
    expect(() => new RedisStateStore({ redis, nodeId: 'a', orphanGraceMs: 0 })).toThrow(
      /orphanGraceMs/,
    );
  });
});
