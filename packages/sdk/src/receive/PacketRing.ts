/**
 * Packets held at most: 128 (1.28 s of 10 ms packets, 2.56 s of 20 ms ones), a power of two so
 * a slot is `seq & (capacity − 1)`.
 */
export const PACKET_RING_CAPACITY = 128;

/**
 * The jitter buffer's packet store: packets by extended sequence number in a ring of
 * {@link PACKET_RING_CAPACITY} slots (slot = `seq & (capacity − 1)`), with what play-out needs of
 * each (timestamp, duration, FEC and speech flags). Struct-of-arrays, preallocated: storing,
 * finding and releasing allocate nothing. Internal to the receive side; runs on the jitter
 * buffer's thread.
 */
export class PacketRing {
  /** Extended sequence number per slot, -1 when empty. */
  readonly seq = new Float64Array(PACKET_RING_CAPACITY).fill(-1);
  /** Extended timestamp (48 kHz samples) per slot. */
  readonly ts = new Float64Array(PACKET_RING_CAPACITY);
  /** Duration in samples at 48 kHz per slot (480 or 960). */
  readonly samples = new Uint16Array(PACKET_RING_CAPACITY);
  /** 1 when the packet carries in-band FEC of the frame before it. */
  readonly fec = new Uint8Array(PACKET_RING_CAPACITY);
  /** The sender's voice-activity flag: 1 speech, 0 not, -1 unknown. */
  readonly speech = new Int8Array(PACKET_RING_CAPACITY);
  private readonly payloads: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(
    PACKET_RING_CAPACITY,
  ).fill(undefined);
  private count = 0;

  /** Packets stored. */
  get size(): number {
    return this.count;
  }

  /** Stores a packet (replacing whatever held its slot). */
  store(
    extSeq: number,
    extTs: number,
    samples: number,
    payload: Uint8Array,
    fec: boolean,
    speech: boolean | undefined,
  ): void {
    const i = extSeq & (PACKET_RING_CAPACITY - 1);
    if (this.payloads[i] === undefined) this.count++;
    this.seq[i] = extSeq;
    this.ts[i] = extTs;
    this.samples[i] = samples;
    this.payloads[i] = payload;
    this.fec[i] = fec ? 1 : 0;
    this.speech[i] = speech === undefined ? -1 : speech ? 1 : 0;
  }

  /** The payload of slot `i` (stored there). */
  payload(i: number): Uint8Array {
    return this.payloads[i]!;
  }

  /** Whether slot `i` holds packet `extSeq`. */
  holds(i: number, extSeq: number): boolean {
    return this.payloads[i] !== undefined && this.seq[i] === extSeq;
  }

  /** Slot of the lowest buffered sequence number in [from, to], or -1. */
  first(from: number, to: number): number {
    if (this.count === 0) return -1;
    const end = Math.min(to, from + PACKET_RING_CAPACITY - 1);
    for (let s = from; s <= end; s++) {
      const i = s & (PACKET_RING_CAPACITY - 1);
      if (this.payloads[i] !== undefined && this.seq[i] === s) return i;
    }
    return -1;
  }

  /** Empties slot `i` (the buffer keeps no reference to its payload). */
  release(i: number): void {
    if (this.payloads[i] === undefined) return;
    this.payloads[i] = undefined;
    this.seq[i] = -1;
    this.count--;
  }

  /** Empties every slot. */
  clear(): void {
    this.payloads.fill(undefined);
    this.seq.fill(-1);
    this.count = 0;
  }
}
