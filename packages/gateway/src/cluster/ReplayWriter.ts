import type { EncodedEvent } from '@concord/protocol';
import type { Redis } from 'ioredis';
import type { ClusterLogger } from './ClusterEmitter.js';
import { formatCursor, type RoomCursor } from './cursor.js';
import { runScript, type ScriptArg } from './lua.js';

/** What Redis said about a write to a session's replay list. */
export type WriteOutcome = 'written' | 'missing' | 'moved' | 'orphaned';

const OUTCOMES: readonly WriteOutcome[] = ['written', 'missing', 'moved', 'orphaned'];

/** Bytes in front of an event's body in a stored replay entry: u16 code, u8 field count. */
const ENTRY_HEADER_BYTES = 3;

/** A replay entry as stored in Redis: u16 event code (BE), u8 field count, the body. */
export function encodeEntry(event: EncodedEvent): Buffer {
  const out = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + event.body.length);
  out.writeUInt16BE(event.code, 0);
  out.writeUInt8(event.fieldCount, 2);
  out.set(event.body, ENTRY_HEADER_BYTES);
  return out;
}

/**
 * Reads an entry {@link encodeEntry} wrote (the body is a view of `entry`).
 * @throws {RangeError} when `entry` is shorter than its header.
 */
export function decodeEntry(entry: Buffer): EncodedEvent {
  if (entry.length < ENTRY_HEADER_BYTES)
    throw new RangeError(`replay entry must hold at least 3 bytes, got ${entry.length}`);
  return {
    code: entry.readUInt16BE(0),
    fieldCount: entry.readUInt8(2),
    body: entry.subarray(ENTRY_HEADER_BYTES),
  };
}

type Op =
  | { kind: 'append'; sessionId: string; seq: number; keep: number; event: EncodedEvent }
  | { kind: 'trim'; sessionId: string; keep: number };

/** Counters of a {@link ReplayWriter}. */
export interface ReplayWriterStats {
  /** Appends queued (one per dispatch). */
  appends: number;
  /** Trims queued (acknowledgements that dropped entries). */
  trims: number;
  /** Script calls sent to Redis (one per flush: every write queued in one turn of the loop). */
  calls: number;
  /** Script calls that failed (connection lost past the retry limit, script errors). */
  failures: number;
}

/**
 * Mirrors replay-buffer changes to Redis, off the dispatch path: `append`/`trim` only queue,
 * and the queue is flushed on the next turn of the event loop (`setImmediate`) in one script
 * call; an event dispatched to several sessions of this node (a room event) is sent once for
 * all of them. Each write is fenced: it lands only while this node owns the session; the
 * outcome of refused writes is reported through `onOutcome`. Main thread.
 *
 * A dispatch is therefore sent to the client before Redis holds it: if this node dies within
 * that flush (well under a millisecond of work, one Redis round trip), the client may hold a
 * seq Redis never saw, and a resume elsewhere answers `ahead` (the client re-identifies).
 */
export class ReplayWriter {
  private queue: Op[] = [];
  private scheduled = false;
  private readonly inflight = new Set<Promise<void>>();
  /** Room and cursor of a room event, set by the bus before the event is dispatched. */
  private readonly cursors = new WeakMap<EncodedEvent, { room: string; cursor: string }>();
  private readonly entries = new WeakMap<EncodedEvent, Buffer>();
  readonly stats: ReplayWriterStats = { appends: 0, trims: 0, calls: 0, failures: 0 };

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly onOutcome: (sessionId: string, outcome: WriteOutcome) => void,
    private readonly logger: ClusterLogger,
  ) {}

  /**
   * Records that `event` is the room event at `cursor` of `room`: its appends also advance each
   * recipient session's cursor in that room (so a resume on another node knows where to
   * continue the room's stream).
   */
  noteRoomEvent(event: EncodedEvent, room: string, cursor: RoomCursor): void {
    this.cursors.set(event, { room, cursor: formatCursor(cursor) });
  }

  /** Queues the append of `event` at `seq`; the list then keeps its last `keep` entries. */
  append(sessionId: string, seq: number, keep: number, event: EncodedEvent): void {
    this.stats.appends++;
    this.queue.push({ kind: 'append', sessionId, seq, keep, event });
    this.schedule();
  }

  /** Queues a trim of the session's list to its last `keep` entries (0: empty). */
  trim(sessionId: string, keep: number): void {
    this.stats.trims++;
    this.queue.push({ kind: 'trim', sessionId, keep });
    this.schedule();
  }

  /** Sends what is queued and resolves when every write sent so far has been answered. */
  async flush(): Promise<void> {
    this.send();
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /**
   * Drops the writes queued and not yet sent (a rebuild is about to write the state they
   * describe in full); returns how many.
   */
  discardQueued(): number {
    const n = this.queue.length;
    this.queue = [];
    return n;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  private send(): void {
    this.scheduled = false;
    const ops = this.queue;
    if (ops.length === 0) return;
    this.queue = [];
    // One script call for the whole flush. Consecutive appends of one event (a room event
    // fanned out to this node's members) share one record: the entry is sent once.
    const args: ScriptArg[] = [this.prefix, this.nodeId];
    const sessions: string[] = [];
    let i = 0;
    while (i < ops.length) {
      const op = ops[i]!;
      if (op.kind === 'trim') {
        args.push('t', op.sessionId, op.keep);
        sessions.push(op.sessionId);
        i++;
        continue;
      }
      const event = op.event;
      const note = this.cursors.get(event);
      let entry = this.entries.get(event);
      if (!entry) this.entries.set(event, (entry = encodeEntry(event)));
      const countAt = args.length + 4;
      args.push('a', entry, note?.room ?? '', note?.cursor ?? '', 0);
      let count = 0;
      while (i < ops.length) {
        const next = ops[i]!;
        if (next.kind !== 'append' || next.event !== event) break;
        args.push(next.sessionId, next.seq, next.keep);
        sessions.push(next.sessionId);
        count++;
        i++;
      }
      args[countAt] = count;
    }
    this.call(args, sessions);
  }

  private call(args: ScriptArg[], sessions: string[]): void {
    this.stats.calls++;
    const p = runScript(this.redis, 'write', args)
      .then((reply) => {
        const codes = reply as unknown[];
        for (let k = 0; k < sessions.length; k++) {
          const outcome = OUTCOMES[Number(codes[k])] ?? 'missing';
          if (outcome !== 'written') this.onOutcome(sessions[k]!, outcome);
        }
      })
      .catch((err: unknown) => {
        this.stats.failures++;
        this.logger.error({ err, writes: sessions.length }, 'replay write failed');
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }
}
