/**
 * Names of every Redis key and channel the cluster uses, under one prefix (default
 * `concord:`). The Lua scripts (`lua.ts`) derive the same names from the same layout:
 *
 * | Key | Type | Holds |
 * |---|---|---|
 * | `s:{id}` | hash | a session: `rec` (JSON record), `node` (owner; `''` orphaned), `last` (seq of its last dispatch), `r:<room>` (cursor of the last room event in its replay list, one per room joined) |
 * | `s:{id}:q` | list | the session's replay buffer, oldest first (entries: u16 code, u8 field count, body) |
 * | `r:{room}:m` | hash | members: session id → member JSON (with `ssrc` and join order `j`) |
 * | `r:{room}:u` | hash | user id → session id (one membership per user) |
 * | `r:{room}:x` | hash | ssrc → session id (unique ssrcs per room), and `j`: the join counter |
 * | `r:{room}:q` | hash | the event counter: `e` epoch (µs, Redis TIME at creation), `n` seq |
 * | `r:{room}:log` | stream | the room's last events (`m`: "epoch seq json"), id `seq-0` |
 * | `r:{room}:ev` | sharded channel | the room's events, as in the log |
 * | `r:{room}:own`, `r:{room}:fence` | string | room ownership lease and its fencing counter |
 * | `n:<id>` | string (PX) | a live node's info JSON; expires when its heartbeat stops |
 * | `n:<id>:s` | set | sessions the node owns |
 * | `nodes` | zset | every registered node id (score: registration time, ms) |
 * | `orphans` | zset | sessions of dead nodes → when they are reaped (ms, Redis time) |
 * | `epoch` | string | a random marker: when it changes, Redis lost its data |
 * | `sweep` | string (PX) | which node sweeps orphans this round |
 *
 * `{…}` is a Redis Cluster hash tag: a room's keys and channel share one slot, as do a
 * session's. The scripts also reach keys of other rooms and sessions (a dead node's sessions,
 * a replaced member), so the store needs one Redis primary (standalone or Sentinel), not
 * Redis Cluster.
 */
export class ClusterKeys {
  /** @throws {TypeError} when `prefix` contains a brace (it would break the hash tags). */
  constructor(readonly prefix = 'concord:') {
    if (/[{}]/.test(prefix))
      throw new TypeError(`keyPrefix must not contain braces, got "${prefix}"`);
  }

  session(id: string): string {
    return `${this.prefix}s:{${id}}`;
  }

  replay(id: string): string {
    return `${this.prefix}s:{${id}}:q`;
  }

  /** A room key: `part` is one of m, u, x, q, log, ev, own, fence. */
  room(room: string, part: 'm' | 'u' | 'x' | 'q' | 'log' | 'ev' | 'own' | 'fence'): string {
    return `${this.prefix}r:{${room}}:${part}`;
  }

  node(id: string): string {
    return `${this.prefix}n:${id}`;
  }

  nodeSessions(id: string): string {
    return `${this.prefix}n:${id}:s`;
  }

  get nodes(): string {
    return `${this.prefix}nodes`;
  }

  get orphans(): string {
    return `${this.prefix}orphans`;
  }

  get epoch(): string {
    return `${this.prefix}epoch`;
  }

  get sweep(): string {
    return `${this.prefix}sweep`;
  }
}
