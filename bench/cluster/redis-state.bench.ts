// What Redis costs the gateway's control path (issue 13, the cluster foundation): latency of a
// room event from publish to the last member's Session.dispatch — in memory (MemoryRoomBus, the
// embedded default) vs through Redis on one node and across two — CPU per dispatch (gateway
// process and redis-server), Redis commands per join and per event (counted with MONITOR:
// commands sent by the nodes vs commands run inside the Lua scripts), and the time a node
// takes to rebuild Redis after it restarted empty.
//
// Run: npm run bench cluster/redis (needs Debian's redis-server; the harness starts its own).
// Both "nodes" live in this one process (two buses, two stores, two connections each): the
// latencies include both nodes' work on one event loop, as on one busy gateway.
import { readFileSync } from 'node:fs';
import { FrameCodec, type EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import type { RoomRecipient } from '../../packages/gateway/src/cluster/RedisRoomBus.js';
import { RedisRoomBus } from '../../packages/gateway/src/cluster/RedisRoomBus.js';
import { RedisStateStore } from '../../packages/gateway/src/cluster/RedisStateStore.js';
import { encodedSize } from '../../packages/gateway/src/state/MemoryStateStore.js';
import { ReplayBuffer } from '../../packages/gateway/src/state/ReplayBuffer.js';
import { MemoryRoomBus, type RoomEvent } from '../../packages/gateway/src/state/RoomBus.js';
import { RedisServer } from '../../packages/gateway/test/redisHarness.js';
import { percentile, report, round, timeUs, type BenchRow } from '../lib/harness.js';

const codec = new FrameCodec();
const LIMITS = { maxEvents: 2_000, maxBytes: 512 * 1024 };
const ROOM_SIZE = 10;
const SEQUENTIAL_EVENTS = Number(process.env.CLUSTER_BENCH_EVENTS ?? 2_000);

/** A session as RoomService drives it: next seq, replay buffer, the DISPATCH bytes. */
class BenchSession implements RoomRecipient {
  private seq = 0;
  constructor(
    readonly id: string,
    readonly buffer: ReplayBuffer<EncodedEvent>,
    private readonly onEvent: () => void,
  ) {}
  dispatch(event: EncodedEvent): void {
    const seq = ++this.seq;
    this.buffer.append(seq, event);
    codec.encodeDispatch(seq, event);
    this.onEvent();
  }
}

const speaking = (room: string, ssrc: number): RoomEvent => ({
  room,
  t: 'SPEAKING',
  d: { ssrc, speaking: ssrc % 2 === 0 },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summarize(samplesMs: number[]): { median: number; p95: number; p99: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { median: percentile(s, 0.5), p95: percentile(s, 0.95), p99: percentile(s, 0.99) };
}

/** redis-server CPU time so far, ms (utime + stime from /proc; 10 ms resolution). */
function serverCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const rows: BenchRow[] = [];
const server = await RedisServer.start();
const pid = server.pid!;
let prefixNo = 0;

interface RedisNode {
  redis: Redis;
  store: RedisStateStore;
  bus: RedisRoomBus;
}

function redisNode(id: string, keyPrefix: string): RedisNode {
  const redis = server.connect(`bench-${id}`);
  const store = new RedisStateStore({ redis, nodeId: id, keyPrefix });
  const bus = new RedisRoomBus({ redis, codec, keyPrefix, store });
  return { redis, store, bus };
}

async function closeNodes(nodes: RedisNode[]): Promise<void> {
  for (const n of nodes) {
    await n.bus.close();
    await n.store.close();
    n.redis.disconnect();
  }
}

// ---- 1. Sequential latency: one event at a time, publish → 10th dispatch ----

async function memoryLatency(): Promise<number[]> {
  const bus = new MemoryRoomBus();
  let delivered = 0;
  const sessions = Array.from(
    { length: ROOM_SIZE },
    (_, i) => new BenchSession(`m${i}`, new ReplayBuffer(LIMITS, encodedSize), () => delivered++),
  );
  // RoomService.deliver: encode once, dispatch to each local session.
  bus.subscribe((event) => {
    const encoded = codec.encodeEvent(event.t, event.d);
    for (const s of sessions) if (s.id !== event.excludeSessionId) s.dispatch(encoded);
  });
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL_EVENTS * 5; i++) {
    delivered = 0;
    const t0 = performance.now();
    bus.publish(speaking('room', i));
    if (delivered !== ROOM_SIZE) throw new Error('memory bus lost an event');
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function redisLatency(crossNode: boolean): Promise<{ samples: number[]; cpu: CpuReading }> {
  const keyPrefix = `lat${++prefixNo}:`;
  const a = redisNode('a', keyPrefix);
  const b = redisNode('b', keyPrefix);
  let delivered = 0;
  let done: (() => void) | undefined;
  const onEvent = () => {
    if (++delivered === ROOM_SIZE) done?.();
  };
  for (let i = 0; i < ROOM_SIZE; i++) {
    const node = crossNode && i % 2 === 1 ? b : a;
    const sid = `s${i}`;
    await node.store.putSession({
      sessionId: sid,
      userId: sid,
      name: sid,
      allowedRooms: ['*'],
      expiresAt: 2e9,
    });
    const { cursor } = await node.store.addMember('room', {
      sessionId: sid,
      userId: sid,
      name: sid,
      ssrc: 1 + i,
      muted: false,
      deafened: false,
      speaking: false,
      webrtc: false,
    });
    const session = new BenchSession(sid, node.store.replayBuffer(sid, LIMITS), onEvent);
    await node.bus.addRecipient('room', session, cursor);
  }
  const run = async (n: number, samples: number[] | undefined) => {
    for (let i = 0; i < n; i++) {
      delivered = 0;
      const publisher = crossNode && i % 2 === 1 ? b : a;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        done = resolve;
        publisher.bus.publish(speaking('room', i));
      });
      samples?.push(performance.now() - t0);
    }
  };
  await run(200, undefined); // warm-up
  const samples: number[] = [];
  const cpu = startCpu();
  await run(SEQUENTIAL_EVENTS, samples);
  await a.store.writer.flush();
  await b.store.writer.flush();
  const reading = cpu(SEQUENTIAL_EVENTS * ROOM_SIZE);
  await closeNodes([a, b]);
  return { samples, cpu: reading };
}

interface CpuReading {
  /** This process's CPU per dispatch, µs (user + system; both nodes, the bench's own work). */
  gatewayUsPerDispatch: number;
  /** redis-server CPU per dispatch, µs (10 ms resolution over the run). */
  redisUsPerDispatch: number;
}

function startCpu(): (dispatches: number) => CpuReading {
  const c0 = process.cpuUsage();
  const r0 = serverCpuMs(pid);
  return (dispatches) => {
    const c = process.cpuUsage(c0);
    return {
      gatewayUsPerDispatch: round((c.user + c.system) / dispatches, 2),
      redisUsPerDispatch: round(((serverCpuMs(pid) - r0) * 1000) / dispatches, 2),
    };
  };
}

const mem = summarize(await memoryLatency());
const same = await redisLatency(false);
const cross = await redisLatency(true);
const sameS = summarize(same.samples);
const crossS = summarize(cross.samples);
rows.push({
  name: 'latency.memory',
  median: round(mem.median * 1000, 1),
  p95: round(mem.p95 * 1000, 1),
  unit: 'us/event',
  p99Us: round(mem.p99 * 1000, 1),
  note: `publish → 10th Session.dispatch, MemoryRoomBus (same-run baseline)`,
});
rows.push({
  name: 'latency.redis.sameNode',
  median: round(sameS.median * 1000, 1),
  p95: round(sameS.p95 * 1000, 1),
  unit: 'us/event',
  p99Us: round(sameS.p99 * 1000, 1),
  addedMedianUs: round((sameS.median - mem.median) * 1000, 1),
  ...same.cpu,
  note: '10 members on one node, event through Redis (script + SPUBLISH + replay writes)',
});
rows.push({
  name: 'latency.redis.crossNode',
  median: round(crossS.median * 1000, 1),
  p95: round(crossS.p95 * 1000, 1),
  unit: 'us/event',
  p99Us: round(crossS.p99 * 1000, 1),
  addedMedianUs: round((crossS.median - mem.median) * 1000, 1),
  ...cross.cpu,
  note: '5 + 5 members on two nodes, publishers alternate',
});

// ---- 2. Loaded: 50 rooms of 10 over two nodes, events at a fixed rate ----

async function loaded(mode: 'memory' | 'redis', ratePerSec: number, seconds: number) {
  const keyPrefix = `load${++prefixNo}:`;
  const nodes = mode === 'redis' ? [redisNode('a', keyPrefix), redisNode('b', keyPrefix)] : [];
  const memoryBus = new MemoryRoomBus();
  const memoryRooms = new Map<string, RoomRecipient[]>();
  // RoomService.deliver over the memory bus: encode once, dispatch to the room's sessions.
  memoryBus.subscribe((event) => {
    const encoded = codec.encodeEvent(event.t, event.d);
    for (const r of memoryRooms.get(event.room) ?? [])
      if (r.id !== event.excludeSessionId) r.dispatch(encoded, event.t);
  });
  const rooms = 50;
  const sentAt = new Map<number, number>();
  const samples: number[] = [];
  let deliveries = 0;
  for (let r = 0; r < rooms; r++) {
    for (let i = 0; i < ROOM_SIZE; i++) {
      const sid = `r${r}s${i}`;
      const node = nodes[i % 2];
      let buffer: ReplayBuffer<EncodedEvent> = new ReplayBuffer(LIMITS, encodedSize);
      let cursor = { epoch: 0, seq: 0 };
      if (node) {
        await node.store.putSession({
          sessionId: sid,
          userId: sid,
          name: sid,
          allowedRooms: ['*'],
          expiresAt: 2e9,
        });
        ({ cursor } = await node.store.addMember(`room${r}`, {
          sessionId: sid,
          userId: sid,
          name: sid,
          ssrc: 1 + i,
          muted: false,
          deafened: false,
          speaking: false,
          webrtc: false,
        }));
        buffer = node.store.replayBuffer(sid, LIMITS);
      }
      const session = new BenchSession(sid, buffer, () => {});
      // Latency per delivery: the event's ssrc is its id.
      const recipient: RoomRecipient = {
        id: sid,
        dispatch: (e, t) => {
          session.dispatch(e);
          const view = new DataView(e.body.buffer, e.body.byteOffset, e.body.byteLength);
          // SPEAKING body: msgpack uint32 (0xce + 4 bytes) ssrc, then a bool.
          const id = e.body[0] === 0xce ? view.getUint32(1) : e.body[0]!;
          const t0 = sentAt.get(id);
          if (t0 !== undefined && t === 'SPEAKING') samples.push(performance.now() - t0);
          deliveries++;
        },
      };
      if (node) await node.bus.addRecipient(`room${r}`, recipient, cursor);
      else {
        const list = memoryRooms.get(`room${r}`) ?? [];
        list.push(recipient);
        memoryRooms.set(`room${r}`, list);
      }
    }
  }
  const total = ratePerSec * seconds;
  const cpu = startCpu();
  const t0 = performance.now();
  let next = t0;
  for (let i = 0; i < total; i++) {
    const id = 100_000 + i; // msgpack uint32 (0xce) in the body
    sentAt.set(id, performance.now());
    const event = speaking(`room${i % rooms}`, id);
    if (mode === 'redis') nodes[i % 2]!.bus.publish(event);
    else memoryBus.publish(event);
    next += 1000 / ratePerSec;
    const wait = next - performance.now();
    if (wait >= 1) await sleep(wait);
  }
  const deadline = performance.now() + 5_000;
  while (deliveries < total * ROOM_SIZE && performance.now() < deadline) await sleep(5);
  for (const n of nodes) await n.store.writer.flush();
  const reading = cpu(total * ROOM_SIZE);
  const elapsedS = (performance.now() - t0) / 1000;
  await closeNodes(nodes);
  return { ...summarize(samples), lost: total * ROOM_SIZE - deliveries, elapsedS, ...reading };
}

for (const rate of [500, 2_000]) {
  const m = await loaded('memory', rate, 3);
  const r = await loaded('redis', rate, 3);
  rows.push({
    name: `loaded.memory.${rate}eps`,
    median: round(m.median, 3),
    p95: round(m.p95, 3),
    unit: 'ms/delivery',
    p99Ms: round(m.p99, 3),
    deliveriesPerSec: rate * ROOM_SIZE,
    lost: m.lost,
    gatewayUsPerDispatch: m.gatewayUsPerDispatch,
    note: 'same rooms and rate on MemoryRoomBus (same-run baseline; CPU includes the load loop)',
  });
  rows.push({
    name: `loaded.redis.${rate}eps`,
    median: round(r.median, 3),
    p95: round(r.p95, 3),
    unit: 'ms/delivery',
    p99Ms: round(r.p99, 3),
    deliveriesPerSec: rate * ROOM_SIZE,
    lost: r.lost,
    gatewayUsPerDispatch: r.gatewayUsPerDispatch,
    addedGatewayUsPerDispatch: round(r.gatewayUsPerDispatch - m.gatewayUsPerDispatch, 2),
    redisUsPerDispatch: r.redisUsPerDispatch,
    note: '50 rooms of 10 (5 + 5 on two nodes in this process), publish → each member',
  });
}

// ---- 3. Hot path: the synchronous part of Session.dispatch ----

function appendCost(buffer: ReplayBuffer<EncodedEvent>) {
  const e = codec.encodeEvent('SPEAKING', { ssrc: 123_456, speaking: true });
  let seq = 0;
  return timeUs(() => {
    buffer.append(++seq, e);
    codec.encodeDispatch(seq, e);
  });
}

{
  const hot = redisNode('hot', `hot${++prefixNo}:`);
  for (const sid of ['x', 'y'])
    await hot.store.putSession({
      sessionId: sid,
      userId: sid,
      name: sid,
      allowedRooms: [],
      expiresAt: 2e9,
    });
  // Alternated, the second round counts (the first warms both paths up).
  appendCost(new ReplayBuffer<EncodedEvent>(LIMITS, encodedSize));
  appendCost(hot.store.replayBuffer('x', LIMITS));
  await hot.store.writer.flush();
  const memT = appendCost(new ReplayBuffer<EncodedEvent>(LIMITS, encodedSize));
  const redisT = appendCost(hot.store.replayBuffer('y', LIMITS));
  await hot.store.writer.flush();
  rows.push({
    name: 'dispatch.sync.memory',
    median: round(memT.medianUs, 3),
    p95: round(memT.p95Us, 3),
    unit: 'us/dispatch',
    note: 'ReplayBuffer.append + encodeDispatch (same-run baseline)',
  });
  rows.push({
    name: 'dispatch.sync.redis',
    median: round(redisT.medianUs, 3),
    p95: round(redisT.p95Us, 3),
    unit: 'us/dispatch',
    ratioVsMemory: round(redisT.medianUs / memT.medianUs, 2),
    note: 'RedisReplayBuffer.append (queues the Redis write) + encodeDispatch; the write itself is in the CPU rows',
  });
  await closeNodes([hot]);
}

// ---- 4. Redis commands per join and per event (MONITOR) ----

async function countCommands(action: () => Promise<void>, settleMs = 150) {
  const mon = await server.connect('monitor').monitor();
  const counts = { client: 0, lua: 0, byCommand: new Map<string, number>() };
  mon.on('monitor', (_time: string, args: string[], source: string) => {
    const cmd = String(args[0]).toLowerCase();
    if (cmd === 'monitor' || cmd === 'client' || cmd === 'info') return;
    if (source === 'lua') counts.lua++;
    else counts.client++;
    const key = `${source === 'lua' ? 'lua:' : ''}${cmd}`;
    counts.byCommand.set(key, (counts.byCommand.get(key) ?? 0) + 1);
  });
  await sleep(50);
  await action();
  await sleep(settleMs);
  mon.disconnect();
  return counts;
}

{
  const keyPrefix = `ops${++prefixNo}:`;
  const a = redisNode('a', keyPrefix);
  const b = redisNode('b', keyPrefix);
  const sessions = new Map<string, BenchSession>();
  const join = async (node: RedisNode, sid: string) => {
    await node.store.putSession({
      sessionId: sid,
      userId: sid,
      name: sid,
      allowedRooms: ['*'],
      expiresAt: 2e9,
    });
    // As RoomService.join does it today: capacity check, add, ROOM_JOINED to the joiner, subscribe
    // (addRecipient), PARTICIPANT_JOINED to the others.
    await node.store.members('room');
    const { cursor, member } = await node.store.addMember('room', {
      sessionId: sid,
      userId: sid,
      name: sid,
      ssrc: 100 + sessions.size,
      muted: false,
      deafened: false,
      speaking: false,
      webrtc: false,
    });
    const s = new BenchSession(sid, node.store.replayBuffer(sid, LIMITS), () => {});
    sessions.set(sid, s);
    s.dispatch(codec.encodeEvent('ROOM_JOINED', { req: 1, room: 'room', participants: [] }));
    await node.bus.addRecipient('room', s, cursor);
    node.bus.publish({
      room: 'room',
      t: 'PARTICIPANT_JOINED',
      d: {
        room: 'room',
        participant: {
          userId: sid,
          name: sid,
          muted: false,
          deafened: false,
          speaking: false,
          webrtc: false,
          ssrc: member.ssrc,
        },
      },
      excludeSessionId: sid,
    });
  };
  for (let i = 0; i < 9; i++) await join(i % 2 ? b : a, `s${i}`);
  await sleep(100);
  const joinOps = await countCommands(() => join(b, 's9'));
  const eventOps = await countCommands(async () => {
    for (let i = 0; i < 10; i++) {
      a.bus.publish(speaking('room', i));
      await sleep(20);
    }
  });
  await closeNodes([a, b]);
  const fmt = (m: Map<string, number>, div = 1) =>
    Object.fromEntries([...m].sort().map(([k, v]) => [k, round(v / div, 2)]));
  rows.push({
    name: 'ops.join',
    median: joinOps.client,
    unit: 'commands sent',
    luaInternal: joinOps.lua,
    byCommand: fmt(joinOps.byCommand),
    note: '10th member of a room of 10 on two nodes (putSession, capacity read, addMember, PARTICIPANT_JOINED, replay appends)',
  });
  rows.push({
    name: 'ops.event',
    median: eventOps.client / 10,
    unit: 'commands sent/event',
    luaInternal: eventOps.lua / 10,
    byCommand: fmt(eventOps.byCommand, 10),
    note: 'one SPEAKING in a room of 10 on two nodes: publish script + one append script per node',
  });
}

// ---- 5. Rebuild after Redis restarted empty ----

{
  const keyPrefix = `rb${++prefixNo}:`;
  const a = redisNode('a', keyPrefix);
  await a.store.start();
  const count = Number(process.env.CLUSTER_BENCH_REBUILD_SESSIONS ?? 2_000);
  const e = codec.encodeEvent('SPEAKING', { ssrc: 7, speaking: true });
  for (let i = 0; i < count; i++) {
    const sid = `s${i}`;
    await a.store.putSession({
      sessionId: sid,
      userId: sid,
      name: sid,
      allowedRooms: ['*'],
      expiresAt: 2e9,
    });
    await a.store.addMember(`room${i % (count / 10)}`, {
      sessionId: sid,
      userId: sid,
      name: sid,
      ssrc: 1 + i,
      muted: false,
      deafened: false,
      speaking: false,
      webrtc: false,
    });
    const buffer = a.store.replayBuffer(sid, LIMITS);
    for (let seq = 1; seq <= 5; seq++) buffer.append(seq, e);
  }
  await a.store.writer.flush();
  const done = new Promise<{ durationMs: number; sessions: number; memberships: number }>(
    (resolve) => a.store.on('rebuilt', resolve),
  );
  await server.restart('SIGKILL');
  const restartedAt = performance.now();
  const summary = await done;
  const total = performance.now() - restartedAt;
  const members = await a.store.members('room0');
  rows.push({
    name: `rebuild.${count}sessions`,
    median: round(total, 1),
    unit: 'ms',
    rebuildScriptsMs: round(summary.durationMs, 1),
    sessions: summary.sessions,
    memberships: summary.memberships,
    membersOfRoom0After: members.length,
    note: 'Redis SIGKILLed and restarted empty → reconnect, epoch check, rebuild (1 membership + 5 replay entries per session)',
  });
  await closeNodes([a]);
}

await server.destroy();
report('cluster-redis-state', rows, {
  roomSize: ROOM_SIZE,
  sequentialEvents: SEQUENTIAL_EVENTS,
  redis: 'Debian redis-server 7.0.15 on 127.0.0.1, no persistence',
});
process.exit(0);
