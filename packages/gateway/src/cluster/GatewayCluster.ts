import { createHmac, randomBytes } from 'node:crypto';
import type { FrameCodec } from '@concord/protocol';
import type { Redis } from 'ioredis';
import type { ClusterLogger } from './ClusterEmitter.js';
import { MediaLinks, LINK_PATH, type MediaLinkHost } from './MediaLinks.js';
import { NodeRegistry, type NodeInfo } from './NodeRegistry.js';
import { homeNode } from './placement.js';
import { startReaper, type Reaper } from './reaper.js';
import { createRedis } from './redisClient.js';
import { RedisRoomBus } from './RedisRoomBus.js';
import { RedisStateStore } from './RedisStateStore.js';

/** Settings of a {@link GatewayCluster}. */
export interface GatewayClusterOptions {
  /** `redis://host:port[/db]`. */
  redisUrl: string;
  /** This node's id (default: random). No spaces, braces or colons. */
  nodeId?: string;
  /** Encodes room events once per node. */
  codec: FrameCodec;
  /** The gateway's token secret: the media-link key is derived from it (every node agrees). */
  secret: string;
  /** How long a dead node's sessions stay resumable elsewhere, ms (the resume window). */
  orphanGraceMs: number;
  /** A node without a heartbeat this long is dead, ms (heartbeat and polls every ttl / 5). */
  nodeTtlMs: number;
  /** Members a room may hold (checked atomically in Redis). */
  maxMembersPerRoom: number;
  logger: ClusterLogger;
}

/** How long a peer whose link failed is left out of placement (unless it re-registers), ms. */
const SUSPECT_MS = 10_000;

/**
 * One gateway node's part of a cluster on Redis (`concord-gateway --redis URL`): the shared
 * state store, the room bus over sharded pub/sub, the node registry with its reaper, room
 * placement by rendezvous hashing over live, non-draining nodes, and the media links that carry
 * each room's audio to its home node. Main thread.
 */
export class GatewayCluster {
  readonly nodeId: string;
  readonly redis: Redis;
  readonly store: RedisStateStore;
  readonly bus: RedisRoomBus;
  registry: NodeRegistry | undefined;
  links: MediaLinks | undefined;
  /** Sessions claimed from other nodes (resumes here): the migrations count. */
  migrations = 0;
  private reaper: Reaper | undefined;
  private readonly linkKey: Buffer;
  /** Peers whose link failed: left out of placement until this time (ms) or they come back. */
  private readonly suspects = new Map<string, number>();
  private placementNodes: string[] = [];
  private hidden = new Set<string>();
  private readonly seen = new Map<string, { info: NodeInfo; at: number }>();
  private placementTimer: ReturnType<typeof setInterval> | undefined;
  private draining = false;
  private closed = false;
  private readonly options: GatewayClusterOptions;

  /** @throws {TypeError} for an invalid node id. */
  constructor(options: GatewayClusterOptions) {
    this.options = options;
    this.nodeId = options.nodeId ?? `n${randomBytes(6).toString('hex')}`;
    const { logger } = options;
    this.redis = createRedis(options.redisUrl, `concord-${this.nodeId}`, { logger });
    this.store = new RedisStateStore({
      redis: this.redis,
      nodeId: this.nodeId,
      orphanGraceMs: Math.max(1, options.orphanGraceMs),
      maxMembersPerRoom: options.maxMembersPerRoom,
      logger,
    });
    this.bus = new RedisRoomBus({
      redis: this.redis,
      codec: options.codec,
      store: this.store,
      logger,
    });
    this.linkKey = createHmac('sha256', options.secret).update('concord cluster links v1').digest();
  }

  /** Whether Redis answers commands now (readiness). */
  get redisReady(): boolean {
    return this.redis.status === 'ready';
  }

  /** Live nodes as last read (this one included). */
  get nodes(): readonly NodeInfo[] {
    return this.registry?.nodes ?? [];
  }

  /**
   * Connects: checks Redis's data epoch, registers this node under `url` (its own client URL;
   * links go to the same host and port) and starts heartbeats, polls and the reaper.
   */
  async start(
    url: string,
    host: Omit<MediaLinkHost, 'nodeId' | 'homeOf' | 'linkUrlOf' | 'peerLost'>,
  ) {
    const { logger, nodeTtlMs } = this.options;
    await this.store.start();
    const beat = Math.max(10, Math.floor(nodeTtlMs / 5));
    this.registry = new NodeRegistry({
      redis: this.redis,
      id: this.nodeId,
      url,
      ttlMs: nodeTtlMs,
      heartbeatMs: beat,
      pollMs: beat,
      logger,
    });
    this.links = new MediaLinks(
      {
        nodeId: this.nodeId,
        homeOf: (room) => this.homeOf(room),
        linkUrlOf: (id) => this.linkUrlOf(id),
        peerLost: (id, reason) => this.peerLost(id, reason),
        ...host,
      },
      this.linkKey,
      logger,
    );
    this.registry.on('changed', () => this.placementChanged());
    // A suspect that registered again (restarted) needs no suspicion. (A node that left ages
    // out of placement by TTL: see recomputePlacement.)
    this.registry.on('joined', (info) => this.suspects.delete(info.id));
    await this.registry.start();
    this.placementChanged();
    this.reaper = startReaper(this.store, this.registry, { sweepMs: beat, logger });
    // Nodes age out of placement by TTL, not only on registry changes.
    this.placementTimer = setInterval(() => {
      if (this.recomputePlacement()) this.afterPlacementChange();
    }, beat);
    this.placementTimer.unref();
  }

  /**
   * The home node of `room`: rendezvous hashing over live nodes that are not draining and not
   * suspect (this node included while it is not draining).
   */
  homeOf(room: string): string | undefined {
    return homeNode(room, this.placementNodes);
  }

  /**
   * Starts draining: the registry shows it (rooms move to their next node everywhere), inbound
   * links are closed so their nodes re-home at once, and this node's own rooms go to their
   * new homes.
   */
  async drain(localRooms: Iterable<string>): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.recomputePlacement();
    this.links?.drainInbound();
    for (const room of localRooms) this.links?.refresh(room);
    await this.registry?.setDraining(true);
  }

  /** Closes links, registry, bus, store and the Redis connection (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reaper?.stop();
    clearInterval(this.placementTimer);
    this.links?.close();
    await this.registry?.close().catch(() => undefined);
    await this.bus.close();
    await this.store.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * Test-only: leaves `nodeIds` out of this node's placement, as if a network partition hid
   * them (an empty list heals it). Used to test that two homes converge.
   */
  setPartitionForTest(nodeIds: readonly string[]): void {
    this.hidden = new Set(nodeIds);
    this.placementChanged();
  }

  /** Re-evaluates the media links of `rooms` after placement changed. */
  onPlacementChange: (() => void) | undefined;

  // ---- internals ----

  private linkUrlOf(nodeId: string): string | undefined {
    const info = this.registry?.nodes.find((n) => n.id === nodeId);
    if (!info) return undefined;
    const u = new URL(info.url);
    u.pathname = LINK_PATH;
    u.search = '';
    return u.toString();
  }

  private peerLost(nodeId: string, reason: string): void {
    if (this.closed || nodeId === this.nodeId) return;
    this.options.logger.info(
      { peer: nodeId, reason },
      'media link lost: peer left out of placement',
    );
    this.suspects.set(nodeId, Date.now() + SUSPECT_MS);
    this.placementChanged();
    setTimeout(() => {
      if (!this.closed) this.placementChanged();
    }, SUSPECT_MS + 10).unref();
  }

  private placementChanged(): void {
    this.recomputePlacement();
    this.afterPlacementChange();
  }

  private afterPlacementChange(): void {
    this.links?.connect(this.placementNodes);
    this.onPlacementChange?.();
  }

  // Placement is over the nodes seen in the registry within the last node TTL (not draining,
  // not suspect). A node that vanished from the list without its TTL running out (Redis lost
  // its data and it has not beaten again yet) stays in place, so a Redis restart moves no
  // room; a dead node leaves at once when its link fails (suspect), or after the TTL.
  private recomputePlacement(): boolean {
    const now = Date.now();
    for (const n of this.registry?.nodes ?? []) this.seen.set(n.id, { info: n, at: now });
    const nodes: string[] = [];
    for (const [id, { info, at }] of this.seen) {
      if (now - at > this.options.nodeTtlMs) {
        this.seen.delete(id);
        continue;
      }
      if (id === this.nodeId ? this.draining : info.draining || this.hidden.has(id)) continue;
      const until = this.suspects.get(id);
      if (until !== undefined) {
        if (until > now) continue;
        this.suspects.delete(id);
      }
      nodes.push(id);
    }
    nodes.sort();
    const changed = nodes.join() !== this.placementNodes.join();
    this.placementNodes = nodes;
    return changed;
  }
}
