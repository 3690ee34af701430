// Test helper: a gateway node's cluster layer (store, bus, registry, reaper) on its own Redis
// connections, with recipients that record the events they get.
import { FrameCodec, type DispatchMessage, type EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import { NodeRegistry } from '../src/cluster/NodeRegistry.js';
import { startReaper, type Reaper } from '../src/cluster/reaper.js';
import type { RedisReplayBuffer } from '../src/cluster/RedisReplayBuffer.js';
import { RedisRoomBus, type RoomRecipient } from '../src/cluster/RedisRoomBus.js';
import { RedisStateStore } from '../src/cluster/RedisStateStore.js';
import type { RoomMember, SessionRecord } from '../src/state/StateStore.js';
import type { RedisServer } from './redisHarness.js';

export const codec = new FrameCodec();

/** A recipient that decodes and records every event it gets. */
export class EventRecorder implements RoomRecipient {
  readonly got: Array<{ t: string; d: Record<string, unknown> }> = [];
  constructor(readonly id: string) {}
  dispatch(event: EncodedEvent): void {
    this.got.push(decodeEvent(event));
  }
}

/** A session as the bus sees it: each event gets the next seq in its replay buffer. */
export class BufferedSession implements RoomRecipient {
  private seq: number;
  constructor(
    readonly id: string,
    readonly buffer: RedisReplayBuffer,
  ) {
    this.seq = buffer.lastDispatchSeq;
  }
  get lastSeq(): number {
    return this.seq;
  }
  dispatch(event: EncodedEvent): void {
    this.buffer.append(++this.seq, event);
  }
}

/** Decodes a stored event to `{ t, d }`. */
export function decodeEvent(event: EncodedEvent): { t: string; d: Record<string, unknown> } {
  const [m] = codec.decode(codec.frame([codec.encodeDispatch(1, event)])) as DispatchMessage[];
  return { t: m!.t, d: m!.d as Record<string, unknown> };
}

/** Timings of a test cluster node, ms. */
export interface TestNodeTimings {
  heartbeatMs: number;
  ttlMs: number;
  pollMs: number;
  orphanGraceMs: number;
  sweepMs: number;
}

export const FAST: TestNodeTimings = {
  heartbeatMs: 50,
  ttlMs: 200,
  pollMs: 50,
  orphanGraceMs: 300,
  sweepMs: 50,
};

/** One node's cluster layer. */
export class TestNode {
  readonly redis: Redis;
  readonly store: RedisStateStore;
  readonly bus: RedisRoomBus;
  readonly registry: NodeRegistry;
  readonly limits: { maxEvents: number; maxBytes: number };
  private reaper: Reaper | undefined;
  private readonly buffered = new Map<string, BufferedSession>();

  constructor(
    server: RedisServer,
    readonly id: string,
    keyPrefix: string,
    readonly timings: TestNodeTimings = FAST,
  ) {
    this.limits = { maxEvents: 1_000, maxBytes: 1 << 20 };
    this.redis = server.connect(`node-${id}`);
    this.store = new RedisStateStore({
      redis: this.redis,
      nodeId: id,
      keyPrefix,
      orphanGraceMs: timings.orphanGraceMs,
    });
    this.bus = new RedisRoomBus({ redis: this.redis, codec, keyPrefix, store: this.store });
    this.registry = new NodeRegistry({
      redis: this.redis,
      keyPrefix,
      id,
      url: `ws://127.0.0.1/${id}`,
      heartbeatMs: timings.heartbeatMs,
      ttlMs: timings.ttlMs,
      pollMs: timings.pollMs,
    });
  }

  async start(): Promise<this> {
    await this.store.start();
    await this.registry.start();
    this.reaper = startReaper(this.store, this.registry, { sweepMs: this.timings.sweepMs });
    return this;
  }

  /** Creates a session of `userId` on this node. */
  async session(sessionId: string, userId = sessionId): Promise<SessionRecord> {
    const record = { sessionId, userId, name: userId, allowedRooms: ['*'], expiresAt: 2e9 };
    await this.store.putSession(record);
    return record;
  }

  /** Joins a session to a room as the gateway would: store, then its recipient on the bus. */
  async join(
    room: string,
    sessionId: string,
    userId: string,
    ssrc: number,
  ): Promise<EventRecorder> {
    const member: RoomMember = {
      sessionId,
      userId,
      name: userId,
      ssrc,
      muted: false,
      deafened: false,
      speaking: false,
      webrtc: false,
    };
    const { cursor } = await this.store.addMember(room, member);
    const r = new EventRecorder(sessionId);
    await this.bus.addRecipient(room, r, cursor);
    return r;
  }

  /** Joins a session whose room events go to its replay buffer, as a gateway session's do. */
  async joinBuffered(
    room: string,
    sessionId: string,
    userId: string,
    ssrc: number,
  ): Promise<BufferedSession> {
    const { cursor } = await this.store.addMember(room, {
      sessionId,
      userId,
      name: userId,
      ssrc,
      muted: false,
      deafened: false,
      speaking: false,
      webrtc: false,
    });
    let s = this.buffered.get(sessionId);
    if (!s) {
      s = new BufferedSession(sessionId, this.store.replayBuffer(sessionId, this.limits));
      this.buffered.set(sessionId, s);
    }
    await this.bus.addRecipient(room, s, cursor);
    return s;
  }

  /** Dies as with SIGKILL: its connection drops, its heartbeats and timers stop. */
  kill(): void {
    this.reaper?.stop();
    this.redis.disconnect();
    void this.registry.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.reaper?.stop();
    await this.bus.close();
    await this.registry.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
    this.redis.disconnect();
  }
}
