import { randomBytes, randomInt } from 'node:crypto';
import type { EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import type { ReplayLimits } from '../state/ReplayBuffer.js';
import type { MemberPatch, RoomMember, SessionRecord, StateStore } from '../state/StateStore.js';
import { ClusterEmitter, SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';
import { ClusterError } from './ClusterError.js';
import { parseCursor, type RoomCursor } from './cursor.js';
import { ClusterKeys } from './keys.js';
import { defineScripts, runScript, type ScriptArg } from './lua.js';
import { RedisReplayBuffer } from './RedisReplayBuffer.js';
import { decodeEntry, encodeEntry, ReplayWriter, type WriteOutcome } from './ReplayWriter.js';

/** Options of a {@link RedisStateStore}. */
export interface RedisStateStoreOptions {
  /** Command connection (may be shared with the bus and the registry; the store never closes it). */
  redis: Redis;
  /** This gateway node's id (as registered in the {@link NodeRegistry}). */
  nodeId: string;
  /** Prefix of every key (default `concord:`). */
  keyPrefix?: string;
  /** Events kept per room for gap filling and cross-node resume (default 2,000). */
  roomLogMaxEvents?: number;
  /** A room's event counter and log expire this long after its last event or join, in ms (default 1 h). */
  roomTtlMs?: number;
  /**
   * How long a dead node's sessions stay resumable on other nodes before they are reaped (their
   * members leave with PARTICIPANT_LEFT), in ms (default 60,000, the gateway's resume window).
   */
  orphanGraceMs?: number;
  /** Members a room may hold, enforced atomically by `addMember` (default 0: no limit here). */
  maxMembersPerRoom?: number;
  logger?: ClusterLogger;
}

/** Why a node may no longer hold a session. */
export type SessionLostReason = 'moved' | 'reaped';

/** Events of a {@link RedisStateStore}. */
export type RedisStateStoreEvents = {
  /**
   * The shared state refused a write for a session this node holds: it resumed on another node
   * (`moved`), or this node was declared dead and the session was reaped (`reaped`). Drop the
   * session locally without leaving its rooms; its connection should close (resumable).
   */
  sessionLost: [sessionId: string, reason: SessionLostReason];
  /**
   * A membership could not be restored by a rebuild (another session of the same user, or of
   * the same ssrc, took its place while Redis was empty): leave the room locally.
   */
  membershipLost: [sessionId: string, room: string];
  /** A rebuild finished (after Redis lost its data, or on request). */
  rebuilt: [summary: RebuildSummary];
};

/** What {@link RedisStateStore.rebuild} did. */
export interface RebuildSummary {
  sessions: number;
  memberships: number;
  /** Memberships another session took while Redis was empty. */
  conflicts: number;
  /** Sessions another node owns now. */
  fenced: number;
  /** Wall time of the rebuild, ms. */
  durationMs: number;
}

/** Result of {@link RedisStateStore.addMember}: the contract's, plus what the cluster adds. */
export interface RedisAddResult {
  members: RoomMember[];
  replaced?: RoomMember;
  /** The member as stored; its `ssrc` may differ from the one asked for (see `addMember`). */
  member: RoomMember;
  /**
   * The room's stream position at the join: the joiner's view (`members`) includes every
   * event up to it, so its room events start after it (`RedisRoomBus.addRecipient`).
   */
  cursor: RoomCursor;
}

/** A session taken over from Redis by {@link RedisStateStore.claimSession}. */
export interface ClaimedSession {
  record: SessionRecord;
  /** Seq of its last dispatch: the resumed session continues from here. */
  lastSeq: number;
  /** Its replay buffer, loaded from Redis. */
  replay: RedisReplayBuffer;
  /** Node that held it before (`''` when orphaned; this node's id when it already held it). */
  previousNode: string;
  /** Its memberships, each with the room cursor its replay buffer has reached. */
  rooms: Array<{ room: string; member: RoomMember; cursor: RoomCursor }>;
}

/** A stored member: the participant, its session, and its join order in the room. */
type StoredMember = RoomMember & { j: number };

/** What this node holds of one session (the source of a rebuild). */
interface Held {
  record: SessionRecord | undefined;
  buffer: RedisReplayBuffer | undefined;
  rooms: Map<string, StoredMember>;
}

/** ssrcs proposed per join besides the caller's: the first free one in the room is taken. */
const EXTRA_SSRC_CANDIDATES = 3;

const DEFAULTS = {
  keyPrefix: 'concord:',
  roomLogMaxEvents: 2_000,
  roomTtlMs: 3_600_000,
  orphanGraceMs: 60_000,
  maxMembersPerRoom: 0,
};

const parseMember = (json: string): StoredMember => JSON.parse(json) as StoredMember;

function toMember({ j: _j, ...m }: StoredMember): RoomMember {
  return m;
}

const byJoinOrder = (a: StoredMember, b: StoredMember): number => a.j - b.j;

// A lone UTF-16 surrogate (never valid text) becomes U+FFFD: JSON.stringify writes it as a
// \udXXX escape that the scripts' cjson refuses to decode.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\ufffd');

/**
 * Member JSON without ssrc and join order, and without its closing brace (the scripts add
 * them). User ids and names with lone surrogates are stored with U+FFFD in their place.
 */
function memberBase(m: RoomMember): string {
  const json = JSON.stringify({
    sessionId: m.sessionId,
    userId: wellFormed(m.userId),
    name: wellFormed(m.name),
    muted: m.muted,
    deafened: m.deafened,
    speaking: m.speaking,
    webrtc: m.webrtc,
  });
  return json.slice(0, -1);
}

/**
 * The {@link StateStore} of a gateway cluster, in Redis (ioredis): sessions (resumable on any
 * node, replay buffer included), room membership, voice state and ssrcs unique per room across
 * the cluster. Multi-key changes are Lua scripts (see `lua.ts`), each fenced by session
 * ownership: a node can only change sessions it owns.
 *
 * Liveness: sessions belong to the node that created or claimed them. When a node's registry
 * heartbeat expires, any live node orphans its sessions ({@link reapNode}); they stay resumable
 * for `orphanGraceMs`, then {@link sweepOrphans} removes their memberships, publishing
 * PARTICIPANT_LEFT. A dead node's members are therefore gone within registry TTL + poll
 * interval + `orphanGraceMs` + sweep interval.
 *
 * The store keeps a copy of what this node holds (records, buffers, memberships): when Redis
 * comes back empty it re-writes them ({@link rebuild}, automatic). Main thread.
 */
export class RedisStateStore extends ClusterEmitter<RedisStateStoreEvents> implements StateStore {
  readonly keys: ClusterKeys;
  readonly nodeId: string;
  /** The writer of replay lists (its `stats` count appends and script calls). */
  readonly writer: ReplayWriter;
  private readonly redis: Redis;
  private readonly options: typeof DEFAULTS;
  private readonly held = new Map<string, Held>();
  private epochMarker: string | undefined;
  private epochCheck: Promise<boolean> | undefined;
  private rebuilding: Promise<RebuildSummary> | undefined;
  private closed = false;
  private readonly onReady = (): void => {
    this.checkEpoch().catch((err: unknown) =>
      this.logger.error({ err }, 'checking the Redis data epoch failed'),
    );
  };

  constructor(options: RedisStateStoreOptions) {
    super(options.logger ?? SILENT_LOGGER);
    if (options.nodeId.length === 0 || /[\s{}:]/.test(options.nodeId))
      throw new TypeError(
        `nodeId must be non-empty without spaces, braces or colons, got "${options.nodeId}"`,
      );
    this.redis = options.redis;
    this.nodeId = options.nodeId;
    this.options = {
      keyPrefix: options.keyPrefix ?? DEFAULTS.keyPrefix,
      roomLogMaxEvents: options.roomLogMaxEvents ?? DEFAULTS.roomLogMaxEvents,
      roomTtlMs: options.roomTtlMs ?? DEFAULTS.roomTtlMs,
      orphanGraceMs: options.orphanGraceMs ?? DEFAULTS.orphanGraceMs,
      maxMembersPerRoom: options.maxMembersPerRoom ?? DEFAULTS.maxMembersPerRoom,
    };
    for (const k of ['roomLogMaxEvents', 'roomTtlMs', 'orphanGraceMs'] as const) {
      if (!Number.isInteger(this.options[k]) || this.options[k] < 1)
        throw new RangeError(`${k} must be an integer >= 1, got ${this.options[k]}`);
    }
    this.keys = new ClusterKeys(this.options.keyPrefix);
    defineScripts(this.redis);
    this.writer = new ReplayWriter(
      this.redis,
      this.keys.prefix,
      this.nodeId,
      (sid, outcome) => this.onWriteOutcome(sid, outcome),
      this.logger,
    );
    // After a reconnection, find out whether Redis still holds our state.
    this.redis.on('ready', this.onReady);
  }

  /**
   * Reads (or sets) the data-epoch marker. Call once before serving; later checks run on every
   * reconnection by themselves.
   */
  async start(): Promise<void> {
    this.assertOpen();
    await this.checkEpoch();
  }

  // ---- StateStore ----

  async putSession(record: SessionRecord): Promise<void> {
    this.assertOpen();
    const reply = await runScript(this.redis, 'putSession', [
      this.keys.prefix,
      record.sessionId,
      JSON.stringify(record),
      this.nodeId,
    ]);
    if (reply !== 1) throw ClusterError.fenced(record.sessionId, String(reply));
    this.hold(record.sessionId).record = record;
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    this.assertOpen();
    const json = await this.redis.hget(this.keys.session(sessionId), 'rec');
    return json === null ? undefined : (JSON.parse(json) as SessionRecord);
  }

  /** Deletes the session and its replay list, unless another node owns it now (then: no-op). */
  async deleteSession(sessionId: string): Promise<void> {
    this.assertOpen();
    this.held.delete(sessionId);
    const reply = await runScript(this.redis, 'deleteSession', [
      this.keys.prefix,
      sessionId,
      this.nodeId,
    ]);
    if (reply !== 1)
      this.logger.info({ sessionId, owner: reply }, 'delete of a moved session skipped');
  }

  /**
   * Adds `member` to `room` atomically: the same user's other membership is replaced, the room
   * limit (`maxMembersPerRoom`) is checked, and the ssrc is made unique in the room — when
   * `member.ssrc` is taken, a random free one is stored instead (see `member` in the result).
   * @throws {ClusterError} `CONCORD_ERR_CLUSTER_FENCED` when another node owns the session;
   *   `CONCORD_ERR_CLUSTER_ROOM_FULL` when the room is full.
   */
  async addMember(room: string, member: RoomMember): Promise<RedisAddResult> {
    this.assertOpen();
    const candidates = [member.ssrc];
    for (let i = 0; i < EXTRA_SSRC_CANDIDATES; i++) candidates.push(randomInt(1, 0x1_0000_0000));
    const reply = (await runScript(this.redis, 'addMember', [
      this.keys.prefix,
      room,
      member.sessionId,
      wellFormed(member.userId),
      memberBase(member),
      candidates.join(' '),
      this.options.maxMembersPerRoom,
      this.nodeId,
      this.options.roomTtlMs,
    ])) as unknown[];
    switch (reply[0]) {
      case 'ok':
        break;
      case 'fenced':
        throw ClusterError.fenced(member.sessionId, String(reply[1]));
      case 'full':
        throw ClusterError.roomFull(room, this.options.maxMembersPerRoom);
      case 'ssrc':
        throw ClusterError.ssrcExhausted(room);
      default:
        throw ClusterError.badReply('addMember', reply);
    }
    const [, epoch, seq, json, replacedJson, all] = reply as [
      string,
      string,
      number,
      string,
      string,
      string[],
    ];
    const stored = parseMember(json);
    this.hold(member.sessionId).rooms.set(room, stored);
    const members = all.map(parseMember).sort(byJoinOrder).map(toMember);
    const result: RedisAddResult = {
      members,
      member: toMember(stored),
      cursor: { epoch: Number(epoch), seq: Number(seq) },
    };
    if (replacedJson !== '') {
      const replaced = toMember(parseMember(replacedJson));
      this.held.get(replaced.sessionId)?.rooms.delete(room);
      result.replaced = replaced;
    }
    return result;
  }

  /** Removes a membership; a no-op (undefined) when another node owns the session now. */
  async removeMember(room: string, sessionId: string): Promise<RoomMember | undefined> {
    this.assertOpen();
    this.held.get(sessionId)?.rooms.delete(room);
    const reply = (await runScript(this.redis, 'removeMember', [
      this.keys.prefix,
      room,
      sessionId,
      this.nodeId,
    ])) as [string, string];
    if (reply[0] === 'fenced') {
      this.logger.info({ sessionId, room, owner: reply[1] }, 'leave of a moved session skipped');
      return undefined;
    }
    return reply[1] === '' ? undefined : toMember(parseMember(reply[1]));
  }

  /** @throws {ClusterError} `CONCORD_ERR_CLUSTER_FENCED` when another node owns the session. */
  async updateMember(
    room: string,
    sessionId: string,
    patch: MemberPatch,
  ): Promise<RoomMember | undefined> {
    this.assertOpen();
    const args: ScriptArg[] = [this.keys.prefix, room, sessionId, this.nodeId];
    for (const k of ['muted', 'deafened', 'speaking', 'webrtc'] as const) {
      const v = patch[k];
      if (v !== undefined) args.push(k, v ? '1' : '0');
    }
    const reply = (await runScript(this.redis, 'updateMember', args)) as [string, string];
    if (reply[0] === 'fenced') throw ClusterError.fenced(sessionId, reply[1]);
    if (reply[1] === '') return undefined;
    const stored = parseMember(reply[1]);
    const mine = this.held.get(sessionId);
    if (mine?.rooms.has(room)) mine.rooms.set(room, stored);
    return toMember(stored);
  }

  async members(room: string): Promise<RoomMember[]> {
    this.assertOpen();
    const all = await this.redis.hvals(this.keys.room(room, 'm'));
    return all.map(parseMember).sort(byJoinOrder).map(toMember);
  }

  /** The session's replay buffer on this node (mirrored to Redis), created on first use. */
  replayBuffer(sessionId: string, limits: ReplayLimits): RedisReplayBuffer {
    this.assertOpen();
    const h = this.hold(sessionId);
    return (h.buffer ??= new RedisReplayBuffer(limits, this.writer, sessionId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redis.off('ready', this.onReady);
    try {
      await this.writer.flush();
    } finally {
      this.held.clear();
    }
  }

  // ---- cluster ----

  /**
   * Tells the replay writer which room event `event` is (the bus calls this once per event
   * before dispatching it), so each recipient's room cursor advances with its replay list.
   */
  noteRoomEvent(event: EncodedEvent, room: string, cursor: RoomCursor): void {
    this.writer.noteRoomEvent(event, room, cursor);
  }

  /**
   * Takes a session over for this node (a RESUME that arrived here while another node, alive or
   * dead, held it): ownership moves atomically (the old node's writes are refused from now on),
   * and the session comes back with its replay buffer and memberships. Undefined when the
   * session no longer exists.
   */
  async claimSession(sessionId: string, limits: ReplayLimits): Promise<ClaimedSession | undefined> {
    this.assertOpen();
    const reply = (await runScript(
      this.redis,
      'claim',
      [this.keys.prefix, sessionId, this.nodeId],
      true,
    )) as [Buffer, Buffer[], Buffer[]] | null;
    if (!reply) return undefined;
    const [prev, flat, list] = reply;
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2)
      fields.set(flat[i]!.toString(), flat[i + 1]!.toString());
    const rec = fields.get('rec');
    if (rec === undefined) return undefined;
    const record = JSON.parse(rec) as SessionRecord;
    const lastSeq = Number(fields.get('last') ?? 0);
    const offset = Math.max(0, lastSeq - list.length);
    const replay = new RedisReplayBuffer(limits, this.writer, sessionId, offset);
    replay.load(list.slice(Math.max(0, list.length - lastSeq)).map((b) => decodeEntry(b)));
    if (replay.size < list.length) this.writer.trim(sessionId, replay.size);
    const cursors: Array<[string, RoomCursor]> = [];
    for (const [f, v] of fields) if (f.startsWith('r:')) cursors.push([f.slice(2), parseCursor(v)]);
    const rooms: ClaimedSession['rooms'] = [];
    const h: Held = { record, buffer: replay, rooms: new Map() };
    if (cursors.length > 0) {
      const pipe = this.redis.pipeline();
      for (const [room] of cursors) pipe.hget(this.keys.room(room, 'm'), sessionId);
      const answers = (await pipe.exec()) ?? [];
      cursors.forEach(([room, cursor], i) => {
        const json = answers[i]?.[1];
        if (typeof json !== 'string') return;
        const stored = parseMember(json);
        h.rooms.set(room, stored);
        rooms.push({ room, member: toMember(stored), cursor });
      });
    }
    this.held.set(sessionId, h);
    return { record, lastSeq, replay, previousNode: prev.toString(), rooms };
  }

  /**
   * Forgets a session locally without touching Redis (after `sessionLost`, or when the
   * session moved to another node).
   */
  dropLocal(sessionId: string): void {
    this.held.delete(sessionId);
  }

  /** Sessions this node holds. */
  get heldSessions(): number {
    return this.held.size;
  }

  /**
   * Orphans the sessions of a node whose heartbeat expired: they stay resumable for
   * `orphanGraceMs` (Redis time), then {@link sweepOrphans} reaps them. Idempotent; does
   * nothing when the node's heartbeat is back. Returns the number of sessions orphaned.
   */
  async reapNode(nodeId: string): Promise<number> {
    this.assertOpen();
    const n = Number(
      await runScript(this.redis, 'orphanNode', [
        this.keys.prefix,
        nodeId,
        this.options.orphanGraceMs,
      ]),
    );
    if (n > 0) this.logger.info({ node: nodeId, sessions: n }, 'sessions of a dead node orphaned');
    return Math.max(0, n);
  }

  /**
   * Reaps orphaned sessions whose grace ran out: their memberships go (each published as
   * PARTICIPANT_LEFT to the room) and so do their records. One node sweeps per interval (a
   * `SET NX PX` lock); returns the memberships removed (0 when another node holds the lock).
   * @param lockMs how long this node keeps the sweep to itself (its sweep interval).
   */
  async sweepOrphans(lockMs = 1_000, batch = 500): Promise<number> {
    this.assertOpen();
    const got = await this.redis.set(this.keys.sweep, this.nodeId, 'PX', lockMs, 'NX');
    if (got !== 'OK') return 0;
    const [sec, usec] = await this.redis.time();
    const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const due = await this.redis.zrangebyscore(this.keys.orphans, '-inf', nowMs, 'LIMIT', 0, batch);
    let removed = 0;
    for (const sid of due) {
      const n = Number(
        await runScript(this.redis, 'reapSession', [
          this.keys.prefix,
          sid,
          this.options.roomLogMaxEvents,
          this.options.roomTtlMs,
        ]),
      );
      if (n > 0) removed += n;
    }
    if (due.length > 0) this.logger.info({ sessions: due.length, removed }, 'orphans reaped');
    return removed;
  }

  /**
   * Re-writes everything this node holds — session records, replay lists, memberships with
   * their ssrcs, voice state and join order — after Redis lost its data. Runs by itself when a
   * reconnection finds the data-epoch marker changed; concurrent calls share one run. Sessions
   * another node took meanwhile are dropped (`sessionLost`), memberships another session took
   * are reported (`membershipLost`).
   */
  rebuild(): Promise<RebuildSummary> {
    this.assertOpen();
    this.rebuilding ??= this.doRebuild().finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  // ---- internals ----

  private async doRebuild(): Promise<RebuildSummary> {
    const t0 = performance.now();
    const summary: RebuildSummary = {
      sessions: 0,
      memberships: 0,
      conflicts: 0,
      fenced: 0,
      durationMs: 0,
    };
    // Writes sent before the rebuild land before it. Those still queued are part of the
    // snapshot taken below (synchronously, so nothing changes meanwhile): sent after it, they
    // would append their entries a second time.
    await this.writer.flush();
    this.writer.discardQueued();
    const calls: Array<Promise<void>> = [];
    for (const [sid, h] of this.held) {
      if (!h.record && h.rooms.size === 0) continue;
      const entries = h.record && h.buffer ? h.buffer.entries() : [];
      const args: ScriptArg[] = [
        this.keys.prefix,
        this.nodeId,
        sid,
        h.record ? JSON.stringify(h.record) : '',
        h.buffer?.lastDispatchSeq ?? 0,
        entries.length,
        ...entries.map(encodeEntry),
        this.options.roomTtlMs,
      ];
      for (const [room, m] of h.rooms)
        args.push(room, wellFormed(m.userId), memberBase(m), String(m.ssrc), m.j);
      calls.push(
        runScript(this.redis, 'restoreSession', args).then((reply) => {
          const [status, detail] = reply as [string, unknown];
          if (status === 'fenced') {
            summary.fenced++;
            this.held.delete(sid);
            this.safeEmit('sessionLost', sid, 'moved');
            return;
          }
          if (h.record) summary.sessions++;
          const out = detail as string[];
          for (let i = 0; i + 2 < out.length; i += 3) {
            const room = out[i]!;
            if (out[i + 1] === 'ok') summary.memberships++;
            else {
              summary.conflicts++;
              h.rooms.delete(room);
              this.safeEmit('membershipLost', sid, room);
            }
          }
        }),
      );
    }
    await Promise.all(calls);
    summary.durationMs = performance.now() - t0;
    this.logger.info({ ...summary }, 'cluster state rebuilt');
    this.safeEmit('rebuilt', summary);
    return summary;
  }

  // Returns true when Redis lost its data since the last check (a rebuild then runs).
  private checkEpoch(): Promise<boolean> {
    this.epochCheck ??= (async () => {
      const fresh = randomBytes(12).toString('base64url');
      await this.redis.set(this.keys.epoch, fresh, 'NX');
      const current = await this.redis.get(this.keys.epoch);
      const previous = this.epochMarker;
      this.epochMarker = current ?? fresh;
      const lost = previous !== undefined && previous !== this.epochMarker;
      if (lost && !this.closed) {
        this.logger.warn({ sessions: this.held.size }, 'Redis lost the cluster state: rebuilding');
        await this.rebuild();
      }
      return lost;
    })().finally(() => (this.epochCheck = undefined));
    return this.epochCheck;
  }

  private onWriteOutcome(sessionId: string, outcome: WriteOutcome): void {
    if (this.closed || !this.held.has(sessionId)) return;
    if (outcome === 'moved') {
      this.held.delete(sessionId);
      this.safeEmit('sessionLost', sessionId, 'moved');
      return;
    }
    // Missing: reaped, or Redis lost its data (then the rebuild restores it). Orphaned: this
    // node was declared dead while alive (a long pause): the rebuild reclaims what is not
    // reaped yet.
    this.checkEpoch()
      .then(async (lost) => {
        if (lost || !this.held.has(sessionId)) return;
        if (outcome === 'orphaned') {
          await this.rebuild();
          return;
        }
        this.held.delete(sessionId);
        this.safeEmit('sessionLost', sessionId, 'reaped');
      })
      .catch((err: unknown) =>
        this.logger.error({ err, sessionId, outcome }, 'handling a refused replay write failed'),
      );
  }

  private hold(sessionId: string): Held {
    let h = this.held.get(sessionId);
    if (!h)
      this.held.set(sessionId, (h = { record: undefined, buffer: undefined, rooms: new Map() }));
    return h;
  }

  private assertOpen(): void {
    if (this.closed) throw ClusterError.closed('RedisStateStore');
  }
}
