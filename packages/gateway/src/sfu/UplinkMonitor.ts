// What the SFU receives of one WebRTC producer, measured as an RTP receiver does (RFC 3550
// A.3 loss, A.8 interarrival jitter) from the producer's `rtp` trace events. mediasoup sends
// its own receiver reports for audio only every ~5 s, too slow for the bitrate controller to
// step back up within 2 s of a loss burst ending; the gateway sends these every second instead,
// as RECEIVER_REPORT, the same message listeners send on the WebSocket path.

/** One interval's reception figures (the fields of a RECEIVER_REPORT). */
export interface UplinkReport {
  /** Share of the interval's expected packets that did not arrive, 0–255 (RFC 3550). */
  fractionLost: number;
  /** Interarrival jitter in ms (RFC 3550 A.8, rounded). */
  jitterMs: number;
  /** Packets lost since the stream began (never negative). */
  lostTotal: number;
  /** Packets received in the interval. */
  packets: number;
}

const SEQ_MOD = 0x1_0000;
const MAX_DROPOUT = 3_000;
const MAX_MISORDER = 100;

/** Reception statistics of one RTP stream. Main thread; O(1) per packet, no allocation. */
export class UplinkMonitor {
  private started = false;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private transit = 0;
  private jitter = 0;

  /** @param clockRateHz RTP clock rate of the stream (Opus: 48,000 Hz). */
  constructor(private readonly clockRateHz = 48_000) {}

  /**
   * One packet arrived: its sequence number, RTP timestamp and arrival time (ms, any monotonic
   * clock with ms resolution or better).
   */
  onPacket(seq: number, rtpTimestamp: number, arrivalMs: number): void {
    const arrival = (arrivalMs * this.clockRateHz) / 1000;
    if (!this.started) {
      this.started = true;
      this.baseSeq = this.maxSeq = seq;
      this.received = 1;
      this.transit = arrival - rtpTimestamp;
      return;
    }
    const delta = (seq - this.maxSeq + SEQ_MOD) % SEQ_MOD;
    if (delta === 0) return; // duplicate
    if (delta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += SEQ_MOD;
      this.maxSeq = seq;
    } else if (SEQ_MOD - delta > MAX_MISORDER) {
      // A jump far ahead or behind: the sender restarted its sequence. Start over.
      this.started = false;
      this.cycles = this.expectedPrior = this.receivedPrior = 0;
      this.onPacket(seq, rtpTimestamp, arrivalMs);
      return;
    }
    // (late, reordered packets within MAX_MISORDER count as received)
    this.received++;
    const transit = arrival - rtpTimestamp;
    // RTP timestamps wrap at 2^32: the difference of two transits is small unless one wrapped.
    let d = Math.abs(transit - this.transit);
    if (d > 2 ** 31) d = Math.abs(d - 2 ** 32);
    this.transit = transit;
    this.jitter += (d - this.jitter) / 16;
  }

  /** The figures since the previous call; undefined before the first packet. */
  report(): UplinkReport | undefined {
    if (!this.started) return undefined;
    const expected = this.cycles + this.maxSeq - this.baseSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval <= 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      fractionLost,
      jitterMs: Math.round((this.jitter * 1000) / this.clockRateHz),
      lostTotal: Math.max(0, expected - this.received),
      packets: receivedInterval,
    };
  }
}
