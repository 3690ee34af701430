/** Bounds of one session's replay buffer. */
export interface ReplayLimits {
  /** Most dispatches kept. */
  maxEvents: number;
  /** Most encoded bytes kept. */
  maxBytes: number;
}

/** What {@link ReplayBuffer.since} found. */
export type ReplayResult<T = Uint8Array> =
  { ok: true; messages: T[] } | { ok: false; reason: 'evicted' | 'ahead' };

const byteLengthOf = (m: { length: number }): number => m.length;

/**
 * The dispatches of one session, oldest first, bounded in count and bytes. Seqs are
 * consecutive: the buffer holds `firstSeq … lastSeq`. Entries are whatever the owner keeps per
 * dispatch — the gateway keeps the event encoded once for all recipients (`EncodedEvent`) and
 * stamps the seq when it replays, so a busy room's events are not copied per member.
 */
export class ReplayBuffer<T = Uint8Array> {
  private readonly messages: (T | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  private firstSeq = 1;
  private lastSeq = 0;

  /** @param sizeOf bytes an entry counts against `maxBytes` (default: its `length`). */
  constructor(
    private readonly limits: ReplayLimits,
    private readonly sizeOf: (entry: T) => number = byteLengthOf as unknown as (entry: T) => number,
  ) {}

  /** Number of dispatches held. */
  get size(): number {
    return this.messages.length - this.head;
  }

  /** Encoded bytes held. */
  get byteLength(): number {
    return this.bytes;
  }

  /** Appends the dispatch with `seq` (must be `lastSeq + 1`), evicting the oldest past the limits. */
  append(seq: number, message: T): void {
    if (seq !== this.lastSeq + 1)
      throw new RangeError(`seq must be ${this.lastSeq + 1}, got ${seq}`);
    if (this.size === 0) this.firstSeq = seq;
    this.messages.push(message);
    this.bytes += this.sizeOf(message);
    this.lastSeq = seq;
    while (
      this.size > this.limits.maxEvents ||
      (this.bytes > this.limits.maxBytes && this.size > 1)
    ) {
      this.drop();
    }
    // Compact the backing array now and then instead of shifting on every eviction.
    if (this.head > 1024 && this.head * 2 > this.messages.length) {
      this.messages.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * Forgets every dispatch up to `seq`, which the client has confirmed it processed (the
   * `seq` of its heartbeats): a client that keeps up holds almost nothing here. Seqs beyond
   * what was sent are ignored.
   */
  acknowledge(seq: number): void {
    const upTo = Math.min(seq, this.lastSeq);
    while (this.size > 0 && this.firstSeq <= upTo) this.drop();
    if (this.size === 0) {
      this.messages.length = 0;
      this.head = 0;
      this.firstSeq = this.lastSeq + 1;
    }
  }

  /**
   * Every dispatch after `seq`, in order. Fails when some were evicted (`evicted`) or when
   * `seq` is beyond what was ever sent (`ahead`).
   */
  since(seq: number): ReplayResult<T> {
    if (seq > this.lastSeq) return { ok: false, reason: 'ahead' };
    if (seq === this.lastSeq) return { ok: true, messages: [] };
    if (seq + 1 < this.firstSeq || this.size === 0) return { ok: false, reason: 'evicted' };
    const start = this.head + (seq + 1 - this.firstSeq);
    return { ok: true, messages: this.messages.slice(start) as T[] };
  }

  // Forgets the oldest entry (the slot is cleared so the entry can be collected).
  private drop(): void {
    this.bytes -= this.sizeOf(this.messages[this.head]!);
    this.messages[this.head] = undefined;
    this.head++;
    this.firstSeq++;
  }
}
