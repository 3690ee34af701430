import type { EncodedEvent } from '@concord/protocol';
import { encodedSize } from '../state/MemoryStateStore.js';
import { ReplayBuffer, type ReplayLimits, type ReplayResult } from '../state/ReplayBuffer.js';
import type { ReplayWriter } from './ReplayWriter.js';

/**
 * A session's replay buffer on the node that holds the session, mirrored to a Redis list so
 * that any node can resume the session. Reads (`since`) are served from memory; every change
 * is queued to the {@link ReplayWriter}, which writes it after the current turn of the event
 * loop — dispatching never waits for Redis.
 *
 * A buffer loaded from Redis (a session resumed from another node) starts at that session's
 * seq: the base class counts from 1, so seqs are shifted by `offset` on the way in.
 * Main thread.
 */
export class RedisReplayBuffer extends ReplayBuffer<EncodedEvent> {
  private last: number;

  /**
   * @param offset seq of the dispatch before the first one this buffer will hold (0 for a new
   *   session).
   */
  constructor(
    limits: ReplayLimits,
    private readonly writer: ReplayWriter,
    readonly sessionId: string,
    private readonly offset = 0,
  ) {
    super(limits, encodedSize);
    this.last = offset;
  }

  /** Seq of the last dispatch appended (the session continues from here). */
  get lastDispatchSeq(): number {
    return this.last;
  }

  override append(seq: number, message: EncodedEvent): void {
    super.append(seq - this.offset, message);
    this.last = seq;
    this.writer.append(this.sessionId, seq, this.size, message);
  }

  override acknowledge(seq: number): void {
    const before = this.size;
    super.acknowledge(seq - this.offset);
    if (this.size !== before) this.writer.trim(this.sessionId, this.size);
  }

  override since(seq: number): ReplayResult<EncodedEvent> {
    return super.since(seq - this.offset);
  }

  /** Fills a freshly loaded buffer with the entries Redis held (nothing is written back). */
  load(entries: readonly EncodedEvent[]): void {
    for (let i = 0; i < entries.length; i++) super.append(i + 1, entries[i]!);
    this.last = this.offset + entries.length;
  }

  /** The entries held, oldest first (for a rebuild of the Redis list). */
  entries(): EncodedEvent[] {
    const r = super.since(this.last - this.offset - this.size);
    return r.ok ? r.messages : [];
  }
}
