import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeRegistry, type NodeInfo } from '../src/cluster/NodeRegistry.js';
import { homeNode } from '../src/cluster/placement.js';
import { RoomOwnership, type LeaseLostReason } from '../src/cluster/RoomOwnership.js';
import { RedisServer, until } from './redisHarness.js';
import { FAST, TestNode } from './redisTestNodes.js';

let server: RedisServer;
let admin: Redis;
let prefixNo = 0;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  server = await RedisServer.start();
  admin = server.connect('admin');
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => {
  await server?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cluster(ids: string[]): Promise<TestNode[]> {
  const keyPrefix = `c${++prefixNo}:`;
  const nodes = ids.map((id) => new TestNode(server, id, keyPrefix));
  for (const n of nodes) {
    closers.push(() => n.close());
    await n.start();
  }
  for (const n of nodes) await n.registry.refresh();
  return nodes;
}

describe('NodeRegistry', () => {
  it('lists live nodes, sees draining, and notices a killed node within TTL + poll', async () => {
    const [a, b, c] = await cluster(['na', 'nb', 'nc']);
    expect(a!.registry.nodes.map((n) => n.id)).toEqual(['na', 'nb', 'nc']);
    await b!.registry.setDraining(true);
    b!.registry.setLoad(42);
    await sleep(FAST.heartbeatMs * 2);
    const seen = (await a!.registry.refresh()).find((n) => n.id === 'nb')!;
    expect(seen).toMatchObject({ draining: true, load: 42, url: 'ws://127.0.0.1/nb' });

    // Every node places rooms the same way over the same live list.
    for (let i = 0; i < 50; i++)
      expect(homeNode(`room-${i}`, a!.registry.nodes)).toBe(
        homeNode(`room-${i}`, c!.registry.nodes),
      );

    const left: string[] = [];
    const dead: string[] = [];
    a!.registry.on('left', (id) => left.push(id));
    // Whichever node polls first reports it dead (and reaps it); the other may only see it leave.
    a!.registry.on('dead', (id) => dead.push(id));
    b!.registry.on('dead', (id) => dead.push(id));
    const killedAt = performance.now();
    c!.kill();
    await until(() => left.includes('nc'), 3_000, 'nc left');
    const noticedMs = performance.now() - killedAt;
    // Bound plus scheduling slack (2 shared cores).
    expect(noticedMs).toBeLessThan(FAST.ttlMs + FAST.pollMs + 500);
    // The key expired (no graceful delete): it took at least most of the TTL.
    expect(noticedMs).toBeGreaterThan(FAST.ttlMs - FAST.heartbeatMs - 20);
    expect(a!.registry.nodes.map((n) => n.id)).toEqual(['na', 'nb']);
    // Reaping unregisters it.
    await until(
      async () => (await admin.zrange(`${a!.store.keys.prefix}nodes`, 0, -1)).length === 2,
    );
    expect(dead).toContain('nc');
  });

  it('reports joins and rejects bad timings', async () => {
    const [a] = await cluster(['na']);
    const joined: NodeInfo[] = [];
    a!.registry.on('joined', (n) => joined.push(n));
    const late = new TestNode(server, 'nz', a!.store.keys.prefix);
    closers.push(() => late.close());
    await late.start();
    await until(() => joined.some((n) => n.id === 'nz'), 2_000, 'join seen');
    const redis = server.connect('opts');
    expect(
      () => new NodeRegistry({ redis, id: 'x', url: '', heartbeatMs: 100, ttlMs: 150 }),
    ).toThrow(RangeError);
    expect(() => new NodeRegistry({ redis, id: 'a:b', url: '' })).toThrow(TypeError);
  });
});

describe('dead nodes', () => {
  it('removes a killed node’s members within TTL + poll + grace + sweep, announcing each', async () => {
    const [a, b] = await cluster(['na', 'nb']);
    await a!.session('sa1', 'alice');
    await a!.session('sa2', 'bob');
    await b!.session('sb1', 'carol');
    await a!.join('hall', 'sa1', 'alice', 11);
    await a!.join('hall', 'sa2', 'bob', 12);
    await a!.join('side', 'sa2', 'bob', 13);
    const carol = await b!.join('hall', 'sb1', 'carol', 21);
    const killedAt = performance.now();
    a!.kill();
    await until(
      () => carol.got.filter((e) => e.t === 'PARTICIPANT_LEFT').length === 2,
      5_000,
      'leaves',
    );
    const goneMs = performance.now() - killedAt;
    const bound = FAST.ttlMs + FAST.pollMs + FAST.orphanGraceMs + FAST.sweepMs;
    expect(goneMs).toBeGreaterThan(FAST.orphanGraceMs);
    expect(goneMs).toBeLessThan(bound + 1_000); // plus scheduling slack (2 shared cores)
    expect(carol.got.map((e) => e.d.userId).sort()).toEqual(['alice', 'bob']);
    expect((await b!.store.members('hall')).map((m) => m.userId)).toEqual(['carol']);
    expect(await b!.store.members('side')).toEqual([]);
    expect(await b!.store.getSession('sa1')).toBeUndefined();
    expect(await b!.store.getSession('sb1')).toBeDefined();
  });

  it('keeps a dead node’s session that resumed elsewhere within the grace', async () => {
    const [a, b] = await cluster(['na', 'nb']);
    await a!.session('sa1', 'alice');
    await a!.session('sa2', 'bob');
    await a!.join('hall', 'sa1', 'alice', 11);
    await a!.join('hall', 'sa2', 'bob', 12);
    const watcher = await b!.join('hall', 'sb1', 'carol', 21);
    a!.kill();
    // Alice's client reconnects to node b and resumes before the grace ends.
    await until(
      async () => (await admin.zcard(`${b!.store.keys.prefix}orphans`)) === 2,
      2_000,
      'orphaned',
    );
    const claimed = await b!.store.claimSession('sa1', { maxEvents: 100, maxBytes: 100_000 });
    expect(claimed?.previousNode).toBe('');
    expect(claimed?.rooms.map((r) => r.room)).toEqual(['hall']);
    await until(() => watcher.got.some((e) => e.t === 'PARTICIPANT_LEFT'), 3_000, 'bob left');
    await sleep(FAST.orphanGraceMs + 3 * FAST.sweepMs);
    expect(watcher.got.filter((e) => e.t === 'PARTICIPANT_LEFT').map((e) => e.d.userId)).toEqual([
      'bob',
    ]);
    expect((await b!.store.members('hall')).map((m) => m.userId).sort()).toEqual([
      'alice',
      'carol',
    ]);
  });
});

describe('paused nodes', () => {
  it('reclaim their sessions when orphaned, or drop them once reaped', async () => {
    const [a, b] = await cluster(['na', 'nb']);
    await a!.session('sa1', 'alice');
    await a!.session('sa2', 'bob');
    await b!.session('sb1', 'carol');
    await a!.joinBuffered('hall', 'sa1', 'alice', 11);
    await a!.joinBuffered('hall', 'sa2', 'bob', 12);
    const carol = await b!.join('hall', 'sb1', 'carol', 21);
    const lost: Array<[string, string]> = [];
    a!.store.on('sessionLost', (sid, reason) => lost.push([sid, reason]));
    const owner = (sid: string) => admin.hget(`${a!.store.keys.prefix}s:{${sid}}`, 'node');
    const orphans = () => admin.zcard(`${a!.store.keys.prefix}orphans`);

    // Node a stops beating (a long pause): b orphans its sessions.
    await a!.registry.close();
    await until(async () => (await orphans()) === 2, 2_000, 'orphaned');
    expect(await owner('sa1')).toBe('');
    // a is back and dispatches: its refused writes make it reclaim what it still holds.
    b!.bus.publish({ room: 'hall', t: 'SPEAKING', d: { ssrc: 21, speaking: true } });
    await until(async () => (await orphans()) === 0, 2_000, 'reclaimed');
    expect(await owner('sa1')).toBe('na');
    await sleep(FAST.orphanGraceMs + 3 * FAST.sweepMs);
    expect(carol.got.filter((e) => e.t === 'PARTICIPANT_LEFT')).toEqual([]);
    expect(await b!.store.members('hall')).toHaveLength(3);

    // Orphaned again, and this time the grace runs out before a comes back: reaped.
    expect(await b!.store.reapNode('na')).toBe(2);
    await until(
      () => carol.got.filter((e) => e.t === 'PARTICIPANT_LEFT').length === 2,
      3_000,
      'reaped',
    );
    b!.bus.publish({
      room: 'hall',
      t: 'SPEAKING',
      d: { ssrc: 21, speaking: false, webrtc: false },
    });
    await until(() => lost.length === 2, 2_000, 'a learns');
    expect(lost.sort()).toEqual([
      ['sa1', 'reaped'],
      ['sa2', 'reaped'],
    ]);
    expect(await owner('sa1')).toBeNull();
    expect(a!.store.heldSessions).toBe(0);
  });
});

describe('RoomOwnership', () => {
  function owners(leaseMs = 300) {
    const keyPrefix = `o${++prefixNo}:`;
    return ['na', 'nb'].map((nodeId) => {
      const redis = server.connect(`own-${nodeId}`);
      const own = new RoomOwnership({ redis, nodeId, keyPrefix, leaseMs, renewMs: 50 });
      const lost: Array<[string, LeaseLostReason, number]> = [];
      own.on('lost', (room, reason) => lost.push([room, reason, performance.now()]));
      closers.push(async () => {
        await own.close();
        redis.disconnect();
      });
      return { own, redis, lost, keyPrefix };
    });
  }

  it('gives each room to exactly one of two nodes racing for it, with growing tokens', async () => {
    const [a, b] = owners();
    for (let i = 0; i < 30; i++) {
      const [ra, rb] = await Promise.all([a!.own.acquire(`r${i}`), b!.own.acquire(`r${i}`)]);
      expect(Number(ra.owned) + Number(rb.owned)).toBe(1);
    }
    await a!.own.release('r0');
    await b!.own.release('r0');
    const again = await b!.own.acquire('r0');
    expect(again.owned && again.lease.token).toBe(2);
  });

  it('converges to one owner after a partition heals; the stale owner’s writes are refused', async () => {
    const [a, b] = owners();
    const first = await a!.own.acquire('room');
    expect(first.owned).toBe(true);
    const tokenA = first.owned ? first.lease.token : 0;
    // Node a is paused (a long GC, a frozen VM): no renewals. Its lease runs out in Redis and
    // node b, seeing no owner, takes the room.
    a!.own.suspendForTest(true);
    expect((await b!.own.acquire('room')).owned).toBe(false);
    await sleep(350);
    const second = await b!.own.acquire('room');
    expect(second.owned).toBe(true);
    const tokenB = second.owned ? second.lease.token : 0;
    expect(tokenB).toBeGreaterThan(tokenA);
    // Both have a lease object now, but only b may act: a's local validity ended first.
    expect(a!.own.leaseOf('room')).toBeDefined();
    expect(a!.own.owns('room')).toBe(false);
    expect(b!.own.owns('room')).toBe(true);
    const key = `${a!.keyPrefix}sfu:room`;
    expect(await a!.own.writeFenced('room', tokenA, key, 'a')).toBe(false);
    expect(await b!.own.writeFenced('room', tokenB, key, 'b')).toBe(true);
    // The partition heals: a's next renewal round steps it down.
    a!.own.suspendForTest(false);
    await until(() => a!.lost.length > 0, 2_000, 'a steps down');
    expect(a!.lost[0]!.slice(0, 2)).toEqual(['room', 'expired']);
    expect(await admin.get(key)).toBe('b');
    expect(await b!.own.ownerOf('room')).toEqual({ owner: 'nb', token: tokenB });
  });

  it('steps down when another node holds the room (split brain after a Redis failover)', async () => {
    const [a, b] = owners(2_000);
    const got = await a!.own.acquire('room');
    expect(got.owned).toBe(true);
    // The lease key is lost (a failover to a replica that never saw it) and b takes the room
    // while a's lease is still valid locally: both believe they own it.
    await admin.del(`${a!.keyPrefix}r:{room}:own`);
    expect((await b!.own.acquire('room')).owned).toBe(true);
    expect(a!.own.owns('room') && b!.own.owns('room')).toBe(true);
    await until(() => a!.lost.length > 0, 2_000, 'a steps down');
    expect(a!.lost[0]!.slice(0, 2)).toEqual(['room', 'taken']);
    expect(a!.own.owns('room')).toBe(false);
    expect(b!.own.owns('room')).toBe(true);
  });

  it('lets a node cut off from Redis step down before anyone else can take the room', async () => {
    const [a, b] = owners();
    expect((await a!.own.acquire('room')).owned).toBe(true);
    const lease = a!.own.leaseOf('room')!;
    a!.redis.disconnect();
    let takenAt = 0;
    while (takenAt === 0) {
      if ((await b!.own.acquire('room')).owned) takenAt = performance.now();
      else await sleep(10);
    }
    // `owns()` turned false at `validUntil`, before Redis let b in; the `lost` event follows
    // at a's next renewal round (every renewMs).
    expect(lease.validUntil).toBeLessThanOrEqual(takenAt);
    await until(() => a!.lost.length > 0, 2_000, 'a steps down');
    expect(a!.lost[0]![1]).toBe('expired');
    expect(a!.lost[0]![2]).toBeLessThanOrEqual(lease.validUntil + 50 + 250);
  });
});
