import { FrameCodec, type DispatchMessage, type EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoomCursor } from '../src/cluster/cursor.js';
import { RedisRoomBus, type RoomRecipient } from '../src/cluster/RedisRoomBus.js';
import { RedisStateStore } from '../src/cluster/RedisStateStore.js';
import { RedisServer, until } from './redisHarness.js';

const codec = new FrameCodec();

/** A recipient that records the ssrc (our event id) of every SPEAKING it gets. */
class Recorder implements RoomRecipient {
  readonly got: number[] = [];
  constructor(readonly id: string) {}
  dispatch(event: EncodedEvent, t: string): void {
    const [m] = codec.decode(codec.frame([codec.encodeDispatch(1, event)])) as DispatchMessage[];
    if (t !== 'SPEAKING' || m?.t !== 'SPEAKING') throw new Error(`unexpected ${t}`);
    this.got.push(m.d.ssrc);
  }
}

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

async function buses(
  count: number,
  options: { recentEvents?: number; roomLogMaxEvents?: number; roomTtlMs?: number } = {},
) {
  const keyPrefix = `b${++prefixNo}:`;
  return Array.from({ length: count }, (_, i) => {
    const redis = server.connect(`bus-${i}`);
    const bus = new RedisRoomBus({ redis, codec, keyPrefix, ...options });
    closers.push(async () => {
      await bus.close();
      redis.disconnect();
    });
    return { bus, redis, keyPrefix };
  });
}

const speaking = (room: string, ssrc: number, excludeSessionId?: string) => ({
  room,
  t: 'SPEAKING' as const,
  d: { ssrc, speaking: true },
  ...(excludeSessionId ? { excludeSessionId } : {}),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisRoomBus', () => {
  it('delivers every event exactly once and in one order to members on two nodes', async () => {
    const [a, b] = await buses(2);
    const start = await a!.bus.head('room');
    const rs = [new Recorder('a1'), new Recorder('a2'), new Recorder('b1'), new Recorder('b2')];
    await a!.bus.addRecipient('room', rs[0]!, start);
    await a!.bus.addRecipient('room', rs[1]!, start);
    await b!.bus.addRecipient('room', rs[2]!, start);
    await b!.bus.addRecipient('room', rs[3]!, start);
    const cursors: Array<Promise<RoomCursor>> = [];
    for (let i = 0; i < 300; i++) {
      // Both nodes publish at once; every 10th event excludes its cause (b1 or a1).
      cursors.push(
        a!.bus.publishAsync(speaking('room', 10_000 + i, i % 10 === 0 ? 'b1' : undefined)),
      );
      cursors.push(
        b!.bus.publishAsync(speaking('room', 20_000 + i, i % 10 === 0 ? 'a1' : undefined)),
      );
    }
    const positions = await Promise.all(cursors);
    expect(positions.map((c) => c.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 600 }, (_, i) => i + 1),
    );
    await until(() => rs[3]!.got.length === 600 && rs[0]!.got.length === 570, 5_000, 'deliveries');
    await sleep(50); // nothing more may come
    // The stream order is the order of the seqs Redis assigned.
    const bySeq = positions
      .map((c, i) => ({ seq: c.seq, id: i % 2 === 0 ? 10_000 + i / 2 : 20_000 + (i - 1) / 2 }))
      .sort((x, y) => x.seq - y.seq)
      .map((x) => x.id);
    expect(rs[1]!.got).toEqual(bySeq);
    expect(rs[3]!.got).toEqual(bySeq);
    expect(rs[0]!.got).toEqual(bySeq.filter((id) => !(id >= 20_000 && (id - 20_000) % 10 === 0)));
    expect(rs[2]!.got).toEqual(bySeq.filter((id) => !(id < 20_000 && (id - 10_000) % 10 === 0)));
    // Each node processed each event once, whatever its number of recipients.
    expect(a!.bus.stats.processed).toBe(600);
    expect(b!.bus.stats.processed).toBe(600);
  });

  it('lets a node without members publish to the members on other nodes', async () => {
    const [a, c] = await buses(2);
    const r = new Recorder('a1');
    await a!.bus.addRecipient('quiet', r, await a!.bus.head('quiet'));
    c!.bus.publish(speaking('quiet', 7));
    c!.bus.publish(speaking('quiet', 8));
    await until(() => r.got.length === 2, 2_000, 'two events');
    expect(r.got).toEqual([7, 8]);
    expect(c!.bus.roomCount).toBe(0);
  });

  it('gives a joiner exactly the events after its join snapshot, however the race goes', async () => {
    const [a, b] = await buses(2, { recentEvents: 8 });
    const store = new RedisStateStore({ redis: b!.redis, nodeId: 'nb', keyPrefix: b!.keyPrefix });
    closers.push(() => store.close());
    // Node B already follows the room for an earlier member, so it processes events before
    // the joiners are registered.
    const early = new Recorder('early');
    await b!.bus.addRecipient('race', early, await b!.bus.head('race'));
    const published: Array<{ id: number; cursor: RoomCursor }> = [];
    let stop = false;
    const publisher = (async () => {
      for (let id = 1; !stop && id < 5_000; id++) {
        published.push({ id, cursor: await a!.bus.publishAsync(speaking('race', id)) });
      }
    })();
    const joiners: Array<{ r: Recorder; at: RoomCursor }> = [];
    for (let k = 0; k < 12; k++) {
      await sleep(5);
      const { cursor } = await store.addMember('race', {
        sessionId: `j${k}`,
        userId: `u${k}`,
        name: `u${k}`,
        ssrc: 1 + k,
        muted: false,
        deafened: false,
        speaking: false,
        webrtc: false,
      });
      const r = new Recorder(`j${k}`);
      // Some joiners register late, far behind the node (catch-up from memory or the log).
      if (k % 3 === 1) await sleep(20);
      await b!.bus.addRecipient('race', r, cursor);
      joiners.push({ r, at: cursor });
    }
    await sleep(10);
    stop = true;
    await publisher;
    const total = published.length;
    await until(() => joiners.every((j) => j.r.got.length === total - j.at.seq), 5_000, 'joiners');
    for (const j of joiners) {
      expect(j.r.got).toEqual(published.filter((p) => p.cursor.seq > j.at.seq).map((p) => p.id));
    }
    expect(early.got).toEqual(published.map((p) => p.id));
    expect(b!.bus.stats.logReads).toBeGreaterThan(0);
  });

  it('fills from the log what was published while its subscriber reconnected', async () => {
    const [a, b] = await buses(2);
    const ra = new Recorder('a');
    const rb = new Recorder('b');
    const start = await a!.bus.head('blip');
    await a!.bus.addRecipient('blip', ra, start);
    await b!.bus.addRecipient('blip', rb, start);
    const ids: number[] = [];
    for (let i = 1; i <= 300; i++) {
      ids.push(i);
      a!.bus.publish(speaking('blip', i));
      if (i % 100 === 50) await admin.client('KILL', 'TYPE', 'pubsub');
      if (i % 10 === 0) await sleep(2);
    }
    await until(() => ra.got.length >= 300 && rb.got.length >= 300, 5_000, 'first 300');
    // The last events go out while the subscribers are away, and nothing follows them: only
    // the fill after the resubscription can bring them.
    await admin.client('KILL', 'TYPE', 'pubsub');
    for (let i = 301; i <= 305; i++) {
      ids.push(i);
      await a!.bus.publishAsync(speaking('blip', i));
    }
    await until(() => ra.got.length >= 305 && rb.got.length >= 305, 5_000, 'all events');
    await sleep(50);
    expect(ra.got).toEqual(ids);
    expect(rb.got).toEqual(ids);
    expect(a!.bus.stats.logReads + b!.bus.stats.logReads).toBeGreaterThan(0);
  });

  it('reports a gap when the log no longer holds what a late recipient missed', async () => {
    const [a] = await buses(1, { roomLogMaxEvents: 10, recentEvents: 4 });
    const start = await a!.bus.head('long');
    for (let i = 1; i <= 1_000; i++) await a!.bus.publishAsync(speaking('long', i));
    const gaps: Array<[RoomCursor, RoomCursor, string | undefined]> = [];
    a!.bus.on('gap', (_room, from, to, who) => gaps.push([from, to, who]));
    const r = new Recorder('late');
    await a!.bus.addRecipient('long', r, start);
    // MAXLEN ~ trims whole stream nodes: the log keeps at least 10 and at most a few hundred.
    expect(r.got.length).toBeGreaterThanOrEqual(10);
    expect(r.got.length).toBeLessThan(1_000);
    const first = r.got[0]!;
    expect(r.got).toEqual(Array.from({ length: 1_001 - first }, (_, i) => first + i));
    expect(gaps).toEqual([
      [start, { epoch: start.epoch || gaps[0]![1].epoch, seq: first - 1 }, 'late'],
    ]);
  });

  it('carries on across a new epoch when the room counter expired', async () => {
    const [a] = await buses(1, { roomTtlMs: 150 });
    const r = new Recorder('r');
    await a!.bus.addRecipient('ttl', r, await a!.bus.head('ttl'));
    const first = await a!.bus.publishAsync(speaking('ttl', 1));
    await a!.bus.publishAsync(speaking('ttl', 2));
    await until(() => r.got.length === 2, 2_000, 'first epoch');
    await sleep(300); // the counter and log expire
    const next = await a!.bus.publishAsync(speaking('ttl', 3));
    expect(next.seq).toBe(1);
    expect(next.epoch).toBeGreaterThan(first.epoch);
    await until(() => r.got.length === 3, 2_000, 'new epoch');
    expect(r.got).toEqual([1, 2, 3]);
  });

  it('subscribes a room while it has recipients on the node, and only then', async () => {
    const [a, b] = await buses(2);
    const channel = `${a!.keyPrefix}r:{sub}:ev`;
    const subscribers = async () =>
      Number(((await admin.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1]);
    expect(await subscribers()).toBe(0);
    await a!.bus.addRecipient('sub', new Recorder('x'), await a!.bus.head('sub'));
    await a!.bus.addRecipient('sub', new Recorder('y'), await a!.bus.head('sub'));
    await b!.bus.addRecipient('sub', new Recorder('z'), await b!.bus.head('sub'));
    expect(await subscribers()).toBe(2);
    a!.bus.removeRecipient('sub', 'x');
    expect(a!.bus.roomCount).toBe(1);
    a!.bus.removeRecipient('sub', 'y');
    b!.bus.removeRecipient('sub', 'z');
    expect(a!.bus.roomCount + b!.bus.roomCount).toBe(0);
    await until(async () => (await subscribers()) === 0, 2_000, 'unsubscribed');
  });

  it('gives the subscribe handlers every event of the rooms it follows, once, in order', async () => {
    const [a, b] = await buses(2);
    const seen: Array<[string, number]> = [];
    a!.bus.subscribe((e) => seen.push([e.room, e.cursor.seq]));
    await a!.bus.watch('w1');
    await a!.bus.watch('w2');
    for (let i = 0; i < 20; i++) b!.bus.publish(speaking(i % 2 ? 'w1' : 'w2', i));
    b!.bus.publish(speaking('unwatched', 1));
    await until(() => seen.length === 20, 2_000, 'handler events');
    await sleep(30);
    expect(seen.filter(([r]) => r === 'w1').map(([, s]) => s)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(seen.filter(([r]) => r === 'w2').map(([, s]) => s)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    a!.bus.unwatch('w1');
    expect(a!.bus.roomCount).toBe(1);
  });
});
