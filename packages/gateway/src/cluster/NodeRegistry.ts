import type { Redis } from 'ioredis';
import { ClusterEmitter, SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';
import { ClusterError } from './ClusterError.js';
import { ClusterKeys } from './keys.js';

/** A gateway node as registered in Redis. */
export interface NodeInfo {
  /** Node id (no spaces, braces or colons). */
  readonly id: string;
  /** Where clients reach it, e.g. `ws://10.0.0.5:8080/gateway`. */
  readonly url: string;
  /** Load figure the node reports (the gateway's choice, e.g. connections). */
  readonly load: number;
  /** The node is draining: place nothing new on it. */
  readonly draining: boolean;
  /** When the node registered, ms since the Unix epoch (its clock). */
  readonly startedAt: number;
}

/** Options of a {@link NodeRegistry}. */
export interface NodeRegistryOptions {
  redis: Redis;
  /** Prefix of every key (default `concord:`). */
  keyPrefix?: string;
  /** This node's id. */
  id: string;
  /** This node's client URL. */
  url: string;
  /** Heartbeat interval, ms (default 1,000). */
  heartbeatMs?: number;
  /** A node whose heartbeat is this old is dead, ms (default 5,000; > 2 heartbeats). */
  ttlMs?: number;
  /** How often the node list is read, ms (default 1,000). */
  pollMs?: number;
  logger?: ClusterLogger;
}

/** Events of a {@link NodeRegistry}. */
export type NodeRegistryEvents = {
  /** A node appeared (or came back). */
  joined: [node: NodeInfo];
  /** A node's heartbeat stopped (died, or closed). */
  left: [nodeId: string];
  /**
   * A registered node has no heartbeat: its sessions must be reaped (`RedisStateStore.reapNode`,
   * which also unregisters it). Emitted on every poll until then, including for nodes that
   * died while this one was not running.
   */
  dead: [nodeId: string];
  /** The live node list changed. */
  changed: [nodes: readonly NodeInfo[]];
};

/**
 * Gateway nodes in Redis: each node writes its info under a key with a TTL every heartbeat
 * (`SET PX`), so a node that stops beating disappears after `ttlMs` with no one having to
 * notice; a sorted set lists every node ever registered (until reaped). Every node reads the
 * list each `pollMs` and reports joins and leaves: a dead node is noticed within
 * `ttlMs + pollMs` (6 s by default). Main thread.
 */
export class NodeRegistry extends ClusterEmitter<NodeRegistryEvents> {
  readonly id: string;
  private readonly redis: Redis;
  private readonly keys: ClusterKeys;
  private readonly url: string;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly pollMs: number;
  private readonly startedAt = Date.now();
  private load = 0;
  private draining = false;
  private live = new Map<string, NodeInfo>();
  private beatTimer: ReturnType<typeof setInterval> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling: Promise<readonly NodeInfo[]> | undefined;
  private status: 'idle' | 'running' | 'closed' = 'idle';

  constructor(options: NodeRegistryOptions) {
    super(options.logger ?? SILENT_LOGGER);
    if (options.id.length === 0 || /[\s{}:]/.test(options.id))
      throw new TypeError(
        `id must be non-empty without spaces, braces or colons, got "${options.id}"`,
      );
    this.redis = options.redis;
    this.keys = new ClusterKeys(options.keyPrefix);
    this.id = options.id;
    this.url = options.url;
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    this.ttlMs = options.ttlMs ?? 5_000;
    this.pollMs = options.pollMs ?? 1_000;
    if (!(this.heartbeatMs >= 10))
      throw new RangeError(`heartbeatMs must be >= 10, got ${this.heartbeatMs}`);
    if (!(this.ttlMs >= 2 * this.heartbeatMs))
      throw new RangeError(
        `ttlMs must be >= 2 × heartbeatMs (${2 * this.heartbeatMs}), got ${this.ttlMs}`,
      );
    if (!(this.pollMs >= 10)) throw new RangeError(`pollMs must be >= 10, got ${this.pollMs}`);
  }

  /** This node's info as it is published. */
  get self(): NodeInfo {
    return {
      id: this.id,
      url: this.url,
      load: this.load,
      draining: this.draining,
      startedAt: this.startedAt,
    };
  }

  /** Live nodes (this one included once registered), sorted by id. */
  get nodes(): readonly NodeInfo[] {
    return [...this.live.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Registers this node, reads the node list, and starts heartbeats and polling. */
  async start(): Promise<void> {
    if (this.status !== 'idle') throw ClusterError.closed('NodeRegistry (already started)');
    this.status = 'running';
    await this.beat();
    await this.refresh();
    this.beatTimer = setInterval(() => {
      this.beat().catch((err: unknown) => this.logger.warn({ err }, 'node heartbeat failed'));
    }, this.heartbeatMs);
    this.beatTimer.unref();
    this.pollTimer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.logger.warn({ err }, 'reading nodes failed'));
    }, this.pollMs);
    this.pollTimer.unref();
  }

  /** Sets the load figure sent with the next heartbeats. */
  setLoad(load: number): void {
    this.load = load;
  }

  /** Marks this node draining (or not) at once. */
  async setDraining(draining: boolean): Promise<void> {
    this.draining = draining;
    if (this.status === 'running') await this.beat();
  }

  /**
   * Reads the node list now: emits `joined`/`left`/`changed` against the previous read and
   * `dead` for registered nodes without a heartbeat. Concurrent calls share one read.
   */
  refresh(): Promise<readonly NodeInfo[]> {
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /**
   * Stops heartbeats and removes this node's heartbeat key (others see it leave on their next
   * poll). Its sessions, if any remain, are reaped like a dead node's. Idempotent.
   */
  async close(): Promise<void> {
    if (this.status === 'closed') return;
    const wasRunning = this.status === 'running';
    this.status = 'closed';
    clearInterval(this.beatTimer);
    clearInterval(this.pollTimer);
    if (wasRunning) await this.redis.del(this.keys.node(this.id));
  }

  private async beat(): Promise<void> {
    if (this.status !== 'running') return;
    // The sorted set is re-added every beat: after Redis lost its data, the node is listed again.
    await this.redis
      .multi()
      .set(this.keys.node(this.id), JSON.stringify(this.self), 'PX', this.ttlMs)
      .zadd(this.keys.nodes, 'NX', this.startedAt, this.id)
      .exec();
  }

  private async poll(): Promise<readonly NodeInfo[]> {
    const ids = await this.redis.zrange(this.keys.nodes, 0, -1);
    const infos = ids.length > 0 ? await this.redis.mget(ids.map((id) => this.keys.node(id))) : [];
    if (this.status === 'closed') return this.nodes;
    const next = new Map<string, NodeInfo>();
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const json = infos[i];
      if (json) next.set(id, JSON.parse(json) as NodeInfo);
      else dead.push(id);
    });
    const previous = this.live;
    this.live = next;
    let changed = false;
    for (const [id, info] of next) {
      const before = previous.get(id);
      if (!before) {
        changed = true;
        this.logger.info({ node: id, url: info.url }, 'node joined');
        this.safeEmit('joined', info);
      } else if (before.draining !== info.draining || before.url !== info.url) changed = true;
    }
    for (const id of previous.keys()) {
      if (next.has(id)) continue;
      changed = true;
      this.logger.info({ node: id }, 'node left');
      this.safeEmit('left', id);
    }
    for (const id of dead) this.safeEmit('dead', id);
    if (changed) this.safeEmit('changed', this.nodes);
    return this.nodes;
  }
}
