import { SAMPLE_RATE_HZ } from '@concord/wasm-dsp';

const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1_000;
/** Sequence numbers remembered for duplicate detection. */
const SEEN_WINDOW = 256;
/** Loss window: an (expected, received) snapshot every 250 ms. */
const SNAPSHOT_MS = 250;
const TWO_32 = 4_294_967_296;

/** The RTCP-receiver-report-like counters for one sender (RFC 3550 §6.4.1, A.3). */
export interface JitterReceiverReport {
  /** Fraction of packets lost since the previous report, 0–255 (lost / expected · 256). */
  fractionLost: number;
  /** Cumulative packets lost, clamped to the 24-bit signed range of RTCP. */
  lostTotal: number;
  /** Extended highest sequence number received (cycles · 65536 + seq), u32. */
  highestSeq: number;
  /** Interarrival jitter in ms. */
  jitterMs: number;
}

/** Options of {@link ReceptionStatistics}. */
export interface ReceptionStatisticsOptions {
  /** Window of {@link ReceptionStatistics.lossPct}, in ms (250–60,000). Default 5,000. */
  lossWindowMs?: number;
}

/**
 * What one sender's packets say about the network, for receiver reports and connection quality:
 * RFC 3550 Appendix A.1 sequence-number extension (u16 wrap) and duplicate detection, A.3
 * expected/lost accounting (cumulative and per report interval), §6.4.1/A.8 interarrival
 * jitter, the loss over a sliding window, and the run of packets since the last sequence gap.
 * Counters survive a stream restart ({@link restart}).
 *
 * Sequence numbers the relay announces it did not forward (`resumed`) are neither expected nor
 * lost. Allocates only in {@link takeReceiverReport}. Runs on the jitter buffer's thread.
 */
export class ReceptionStatistics {
  private readonly lossWindowMs: number;
  private highest = 0;
  private base = 0;
  private readonly seen = new Float64Array(SEEN_WINDOW).fill(-1);
  private receivedCount = 0;
  private expectedBefore = 0; // expected packets of earlier (restarted) streams
  private expectedPrior = 0;
  private receivedPrior = 0;
  private notForwarded = 0;
  private duplicateCount = 0;
  private cleanRunPackets = 0;
  // RFC 3550 A.8 jitter, in timestamp units.
  private jitterTs = 0;
  private lastTransitTs = Number.NaN;
  // Loss window snapshots: (time, expected, received).
  private readonly snapTime: Float64Array;
  private readonly snapExpected: Float64Array;
  private readonly snapReceived: Float64Array;
  private snapNext = 0;
  private snapCount = 0;

  /** @throws {RangeError} when `lossWindowMs` is out of range. */
  constructor(options: ReceptionStatisticsOptions = {}) {
    this.lossWindowMs = options.lossWindowMs ?? 5_000;
    if (!(
      Number.isFinite(this.lossWindowMs) &&
      this.lossWindowMs >= SNAPSHOT_MS &&
      this.lossWindowMs <= 60_000
    )) {
      throw new RangeError(
        `lossWindowMs must be in [${SNAPSHOT_MS}, 60000], got ${String(this.lossWindowMs)}`,
      );
    }
    const snaps = Math.ceil(this.lossWindowMs / SNAPSHOT_MS) + 1;
    this.snapTime = new Float64Array(snaps);
    this.snapExpected = new Float64Array(snaps);
    this.snapReceived = new Float64Array(snaps);
  }

  /**
   * The first packet of a stream (or of a restarted one, after {@link restart}): counts it and
   * returns its extended sequence number.
   */
  start(seq: number): number {
    // Extended numbers start one cycle up so that slightly older packets stay positive.
    this.highest = seq + 0x10000;
    this.base = this.highest;
    this.receivedCount++;
    this.seen.fill(-1);
    this.seen[this.highest % SEEN_WINDOW] = this.highest;
    this.lastTransitTs = Number.NaN;
    return this.highest;
  }

  /** The sender restarted: later packets start a new sequence; counters stay cumulative. */
  restart(): void {
    this.expectedBefore = this.expected();
    this.notForwarded = 0; // already taken out of expectedBefore
  }

  /** `seq` (u16) extended to the one nearest the highest received (RFC 3550 A.1). */
  extend(seq: number): number {
    const delta = ((seq - (this.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    return this.highest + delta;
  }

  /**
   * Counts a packet of the current stream. Returns -1 for a duplicate (counted, nothing else),
   * otherwise the number of sequence numbers before it that the relay did not forward (> 0 only
   * for a `resumed` packet after a gap).
   */
  accept(extSeq: number, resumed: boolean): number {
    if (this.seen[extSeq % SEEN_WINDOW] === extSeq) {
      this.duplicateCount++;
      return -1;
    }
    this.seen[extSeq % SEEN_WINDOW] = extSeq;
    const skipped = resumed && extSeq > this.highest + 1 ? extSeq - this.highest - 1 : 0;
    this.notForwarded += skipped;
    // A sequence gap (loss, or reordering yet to be filled) restarts the clean run.
    if (extSeq > this.highest + 1 && skipped === 0) this.cleanRunPackets = 0;
    else this.cleanRunPackets++;
    this.receivedCount++;
    if (extSeq > this.highest) this.highest = extSeq;
    // A packet older than the first one (reordered at start) extends the expected range.
    if (extSeq < this.base) this.base = extSeq;
    return skipped;
  }

  /**
   * Interarrival jitter (RFC 3550 §6.4.1, computed as in A.8): J += (|D(i−1, i)| − J) / 16 with
   * D the difference of transit times, timestamps in 48 kHz samples.
   */
  observeTransit(extTs: number, arrivalMs: number): void {
    const transitTs = arrivalMs * SAMPLES_PER_MS - extTs;
    if (!Number.isNaN(this.lastTransitTs)) {
      const d = Math.abs(transitTs - this.lastTransitTs);
      this.jitterTs += (d - this.jitterTs) / 16;
    }
    this.lastTransitTs = transitTs;
  }

  /** Takes a loss-window snapshot when the last one is 250 ms old (call per packet). */
  snapshot(arrivalMs: number): void {
    if (this.snapCount > 0 && arrivalMs - this.lastSnapTime() < SNAPSHOT_MS) return;
    this.snapTime[this.snapNext] = arrivalMs;
    this.snapExpected[this.snapNext] = this.expected();
    this.snapReceived[this.snapNext] = this.receivedCount;
    this.snapNext = (this.snapNext + 1) % this.snapTime.length;
    if (this.snapCount < this.snapTime.length) this.snapCount++;
  }

  /** Packets received (late ones included, duplicates not). */
  get received(): number {
    return this.receivedCount;
  }

  /** Duplicate packets seen. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** Interarrival jitter, ms. */
  get jitterMs(): number {
    return this.jitterTs / SAMPLES_PER_MS;
  }

  /** Packets received since the last sequence gap (loss or reordering). */
  get cleanRun(): number {
    return this.cleanRunPackets;
  }

  /** Extended highest sequence number received (one cycle up, see {@link start}). */
  get highestSeq(): number {
    return this.highest;
  }

  /** Packets expected: every sequence number from the lowest to the highest received. */
  expected(): number {
    if (this.receivedCount === 0) return 0;
    return this.expectedBefore + this.highest - this.base + 1 - this.notForwarded;
  }

  /** Cumulative lost packets (RFC 3550 A.3: expected − received; negative with duplicates). */
  get lostTotal(): number {
    return this.expected() - this.receivedCount;
  }

  /** Packets lost over the last `lossWindowMs`, in percent (0–100). */
  lossPct(): number {
    if (this.snapCount === 0) return 0;
    const n = this.snapTime.length;
    const now = this.lastSnapTime();
    // Oldest snapshot still inside the window.
    let oldest = (this.snapNext - 1 + n) % n;
    for (let k = 1; k < this.snapCount; k++) {
      const idx = (this.snapNext - 1 - k + n) % n;
      if (now - this.snapTime[idx]! > this.lossWindowMs) break;
      oldest = idx;
    }
    const expected = this.expected() - this.snapExpected[oldest]!;
    const received = this.receivedCount - this.snapReceived[oldest]!;
    if (expected <= 0) return 0;
    return Math.max(0, Math.min(100, (100 * (expected - received)) / expected));
  }

  /**
   * Counters for a receiver report to the sender; `fractionLost` covers the time since the
   * previous call (RFC 3550 A.3), so call it once per report. Allocates the result.
   */
  takeReceiverReport(): JitterReceiverReport {
    const expected = this.expected();
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.receivedCount - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.receivedCount;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval <= 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      fractionLost,
      lostTotal: Math.max(-0x800000, Math.min(0x7fffff, this.lostTotal)),
      highestSeq: this.receivedCount === 0 ? 0 : (this.highest - 0x10000) % TWO_32,
      jitterMs: this.jitterMs,
    };
  }

  private lastSnapTime(): number {
    const n = this.snapTime.length;
    return this.snapTime[(this.snapNext - 1 + n) % n]!;
  }
}
