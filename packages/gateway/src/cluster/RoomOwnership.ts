import type { Redis } from 'ioredis';
import { ClusterEmitter, SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';
import { ClusterError } from './ClusterError.js';
import { ClusterKeys } from './keys.js';

/** A room this node owns: the fencing token of its lease and how long it may trust it. */
export interface RoomLease {
  readonly room: string;
  /** Fencing token: grows with every new owner of the room (Redis INCR). */
  readonly token: number;
  /** Until when (performance.now(), ms) this node may act as owner without a renewal. */
  validUntil: number;
}

/** Outcome of {@link RoomOwnership.acquire}. */
export type AcquireResult =
  { owned: true; lease: RoomLease } | { owned: false; owner: string; token: number };

/** Options of a {@link RoomOwnership}. */
export interface RoomOwnershipOptions {
  redis: Redis;
  nodeId: string;
  keyPrefix?: string;
  /** Lease length, ms (default 10,000). */
  leaseMs?: number;
  /** Renewal interval, ms (default leaseMs / 3). */
  renewMs?: number;
  /** Clock drift allowance, a fraction of the lease (default 0.01, as Redlock). */
  driftFactor?: number;
  logger?: ClusterLogger;
}

/** Why a lease ended. */
export type LeaseLostReason = 'taken' | 'expired' | 'released';

/** Events of a {@link RoomOwnership}. */
export type RoomOwnershipEvents = {
  /**
   * This node must stop acting as the room's owner: another node holds it (`taken`), or no
   * renewal succeeded within the lease (`expired`: partitioned from Redis), or it let go.
   */
  lost: [room: string, reason: LeaseLostReason];
};

const LIB = `
local P = ARGV[1]
local function rk(room, part) return P .. 'r:{' .. room .. '}:' .. part end
`;

// ARGV: prefix, room, node, lease ms → {1, token} | {0, owner, token}
const ACQUIRE = `${LIB}
local k = rk(ARGV[2], 'own')
local v = redis.call('GET', k)
if not v then
  local t = redis.call('INCR', rk(ARGV[2], 'fence'))
  redis.call('SET', k, ARGV[3] .. ' ' .. t, 'PX', ARGV[4])
  return {1, t}
end
local owner, t = string.match(v, '^(%S+) (%d+)$')
if owner == ARGV[3] then
  redis.call('PEXPIRE', k, ARGV[4])
  return {1, tonumber(t)}
end
return {0, owner, tonumber(t)}
`;

// ARGV: prefix, room, node, token, lease ms → 1 renewed | 0 not ours
const RENEW = `${LIB}
local k = rk(ARGV[2], 'own')
if redis.call('GET', k) ~= ARGV[3] .. ' ' .. ARGV[4] then return 0 end
redis.call('PEXPIRE', k, ARGV[5])
return 1
`;

// ARGV: prefix, room, node, token → 1 released | 0 not ours
const RELEASE = `${LIB}
local k = rk(ARGV[2], 'own')
if redis.call('GET', k) ~= ARGV[3] .. ' ' .. ARGV[4] then return 0 end
redis.call('DEL', k)
return 1
`;

// ARGV: prefix, room, token, key, value → 1 written | 0 refused (a newer owner exists)
const FENCED_SET = `${LIB}
local v = redis.call('GET', rk(ARGV[2], 'own'))
if not v then return 0 end
local _, t = string.match(v, '^(%S+) (%d+)$')
if tonumber(t) ~= tonumber(ARGV[3]) then return 0 end
redis.call('SET', ARGV[4], ARGV[5])
return 1
`;

type Fn = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Room ownership with leases and fencing tokens (Kleppmann, "How to do distributed locking",
 * 2016; lease validity as in Redis's Redlock description: TTL − elapsed − drift). A room's
 * owner (its home node: media is relayed there) holds `r:{room}:own` = "node token", set with
 * `SET PX` only when absent; every new owner gets a larger token from `INCR r:{room}:fence`.
 *
 * Partition heal: two nodes may each believe they own a room when one was cut off (or paused)
 * past its lease and the other took over. The cut-off node steps down by itself when its lease
 * runs out locally (`lost`, `expired` — before Redis lets anyone else in, since its local
 * validity ends `drift` earlier than the key), and when it comes back its renewal finds the
 * other owner (`lost`, `taken`). Whatever it writes meanwhile with its old token is refused by
 * {@link writeFenced}. So the room converges to the one owner Redis names. Main thread.
 */
export class RoomOwnership extends ClusterEmitter<RoomOwnershipEvents> {
  readonly nodeId: string;
  private readonly redis: Redis;
  private readonly keys: ClusterKeys;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly driftMs: number;
  private readonly leases = new Map<string, RoomLease>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private suspended = false;
  private closed = false;

  constructor(options: RoomOwnershipOptions) {
    super(options.logger ?? SILENT_LOGGER);
    this.redis = options.redis;
    this.nodeId = options.nodeId;
    this.keys = new ClusterKeys(options.keyPrefix);
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewMs = options.renewMs ?? Math.floor(this.leaseMs / 3);
    const drift = options.driftFactor ?? 0.01;
    if (!(this.leaseMs >= 100)) throw new RangeError(`leaseMs must be >= 100, got ${this.leaseMs}`);
    if (!(this.renewMs >= 10 && this.renewMs < this.leaseMs))
      throw new RangeError(`renewMs must be in [10, leaseMs), got ${this.renewMs}`);
    if (!(drift >= 0 && drift < 0.5))
      throw new RangeError(`driftFactor must be in [0, 0.5), got ${drift}`);
    // Redlock adds 2 ms for the resolution of Redis's expiry clock.
    this.driftMs = Math.ceil(this.leaseMs * drift) + 2;
    for (const [name, lua] of [
      ['concord_own_acquire', ACQUIRE],
      ['concord_own_renew', RENEW],
      ['concord_own_release', RELEASE],
      ['concord_own_fencedSet', FENCED_SET],
    ] as const) {
      if (typeof (this.redis as unknown as Record<string, unknown>)[name] !== 'function')
        this.redis.defineCommand(name, { numberOfKeys: 0, lua });
    }
  }

  /**
   * Takes the room when nobody owns it (or extends this node's lease). Renewals then run by
   * themselves until {@link release}, `lost` or {@link close}.
   */
  async acquire(room: string): Promise<AcquireResult> {
    this.assertOpen();
    const sentAt = performance.now();
    const reply = (await this.fn('concord_own_acquire')(
      this.keys.prefix,
      room,
      this.nodeId,
      this.leaseMs,
    )) as [number, number] | [number, string, number];
    if (reply[0] === 1) {
      const lease: RoomLease = {
        room,
        token: Number(reply[1]),
        validUntil: sentAt + this.leaseMs - this.driftMs,
      };
      this.leases.set(room, lease);
      this.startTimer();
      return { owned: true, lease };
    }
    return { owned: false, owner: String(reply[1]), token: Number(reply[2]) };
  }

  /** Gives the room up (so its next node can take it at once). */
  async release(room: string): Promise<void> {
    const lease = this.leases.get(room);
    if (!lease) return;
    this.leases.delete(room);
    await this.fn('concord_own_release')(this.keys.prefix, room, this.nodeId, lease.token);
    this.safeEmit('lost', room, 'released');
  }

  /** Whether this node may act as the room's owner now (a lease within its validity). */
  owns(room: string): boolean {
    const lease = this.leases.get(room);
    return lease !== undefined && performance.now() < lease.validUntil;
  }

  /** This node's lease on `room`, if any. */
  leaseOf(room: string): RoomLease | undefined {
    return this.leases.get(room);
  }

  /** Who owns the room according to Redis. */
  async ownerOf(room: string): Promise<{ owner: string; token: number } | undefined> {
    const v = await this.redis.get(this.keys.room(room, 'own'));
    if (v === null) return undefined;
    const [owner, token] = v.split(' ');
    return { owner: owner!, token: Number(token) };
  }

  /**
   * Writes `key` = `value` only while `token` is the room's current fencing token: a stale
   * owner's writes are refused. Returns whether it was written.
   */
  async writeFenced(room: string, token: number, key: string, value: string): Promise<boolean> {
    this.assertOpen();
    return (
      (await this.fn('concord_own_fencedSet')(this.keys.prefix, room, token, key, value)) === 1
    );
  }

  /**
   * Test hook: stops (true) or restarts (false) renewals and local expiry checks, as a long
   * process pause would.
   */
  suspendForTest(suspended: boolean): void {
    this.suspended = suspended;
  }

  /** Renews every lease now (the timer does this every `renewMs`). */
  async renewAll(): Promise<void> {
    const now = performance.now();
    const checks: Array<Promise<void>> = [];
    for (const lease of [...this.leases.values()]) {
      if (now >= lease.validUntil) {
        this.lose(lease, 'expired');
        continue;
      }
      const sentAt = performance.now();
      checks.push(
        this.fn('concord_own_renew')(
          this.keys.prefix,
          lease.room,
          this.nodeId,
          lease.token,
          this.leaseMs,
        )
          .then((ok) => {
            if (this.leases.get(lease.room) !== lease) return;
            if (ok === 1) lease.validUntil = sentAt + this.leaseMs - this.driftMs;
            else this.lose(lease, 'taken');
          })
          .catch((err: unknown) =>
            this.logger.warn({ err, room: lease.room }, 'lease renewal failed'),
          ),
      );
    }
    await Promise.all(checks);
  }

  /** Stops renewals and forgets the leases (they run out in Redis). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.leases.clear();
  }

  private lose(lease: RoomLease, reason: LeaseLostReason): void {
    if (this.leases.get(lease.room) !== lease) return;
    this.leases.delete(lease.room);
    this.logger.warn({ room: lease.room, token: lease.token, reason }, 'room ownership lost');
    this.safeEmit('lost', lease.room, reason);
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.suspended) return;
      this.renewAll().catch((err: unknown) => this.logger.error({ err }, 'renewing leases failed'));
    }, this.renewMs);
    this.timer.unref();
  }

  private fn(name: string): Fn {
    const f = (this.redis as unknown as Record<string, Fn>)[name]!;
    return f.bind(this.redis);
  }

  private assertOpen(): void {
    if (this.closed) throw ClusterError.closed('RoomOwnership');
  }
}
