import type { OpusDecoderApi } from '@concord/wasm-dsp';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';

// Concord sends one 20 ms Opus frame per packet at 48 kHz (the capture worklet's frame).
const SAMPLES_PER_MS = 48;
const FRAME_MS = 20;
const FRAME_SAMPLES = 960;
/** Packets held at most (1.28 s of audio): a power of two so a slot is `seq & (CAPACITY - 1)`. */
const CAPACITY = 64;
/** Sequence numbers remembered for duplicate detection. */
const SEEN_WINDOW = 256;
/** A jump of more than this many packets (10 s) from the highest seq restarts the stream. */
const RESYNC_SEQ_GAP = 500;
/** Base transit is the minimum over this much history (as WebRTC NetEq's `max_history_ms`). */
const BASE_HISTORY_MS = 2_000;
const HISTORY_ENTRIES = 128;
/** Relative-delay histogram: 5 ms buckets up to 400 ms; the last bucket holds everything above. */
const BUCKET_MS = 5;
const BUCKETS = 81;
/** Loss window: a (expected, received) snapshot every 250 ms. */
const SNAPSHOT_MS = 250;
/** Decrease hysteresis: shrink only when the delay exceeds the target by one frame plus this. */
const SHRINK_HYSTERESIS_MS = 5;
/** After this much uninterrupted underrun, output zeros instead of running PLC (saves CPU). */
const MAX_CONCEAL_FRAMES = 50;
// Delay histogram start-up: the forgetting factor ramps from this to the configured one over the
// first STARTUP_PACKETS packets (10 s).
const STARTUP_FORGET_FACTOR = 0.98;
const STARTUP_PACKETS = 500;
// The FEC frame of delay (options.fecDelay) applies while a packet with FEC arrived within this
// long, ms, and the loss over the loss window is at least FEC_DELAY_LOSS_PCT.
const FEC_RECENT_MS = 2_000;
const FEC_DELAY_LOSS_PCT = 1;
const TWO_32 = 4_294_967_296;

const log = getLogger('concord:jitter');

/**
 * A received media packet: what the jitter buffer needs from a media frame, independent of the
 * wire codec.
 */
export interface JitterPacket {
  /** RTP-style sequence number, u16; wraps from 65535 to 0. */
  readonly seq: number;
  /** Timestamp of the packet's first sample at 48 kHz, u32; wraps. One 20 ms frame = 960. */
  readonly timestamp: number;
  /**
   * One 20 ms Opus packet. The buffer keeps this reference (no copy) until the frame is played
   * or dropped: do not reuse the array.
   */
  readonly payload: Uint8Array;
  /**
   * The packet carries in-band FEC (SILK LBRR) of the frame before it. When absent, the buffer
   * reads the LBRR flag from the Opus packet itself ({@link opusPacketHasLbrr}).
   */
  readonly fec?: boolean;
  /**
   * The sender's voice-activity flag. `false` marks a frame in which clock-drift and delay
   * corrections may drop or insert a frame unnoticed.
   */
  readonly speech?: boolean;
  /**
   * The relay did not forward this stream for a while before this packet (it was not among
   * the room's loudest speakers): the sequence gap before it was never sent to this receiver,
   * so it is neither loss nor concealed — it plays like a DTX pause.
   */
  readonly resumed?: boolean;
}

/** Where the frame returned by {@link JitterBuffer.pull} came from. */
export type JitterFrameKind =
  /** Nothing received yet (or still pre-buffering): zeros. */
  | 'silence'
  /** The packet due now, decoded. */
  | 'decoded'
  /** A lost frame rebuilt from the next packet's in-band FEC. */
  | 'fec'
  /** A lost or late frame concealed by Opus PLC. */
  | 'plc'
  /** The sender is silent (DTX gap): Opus PLC/CNG, not counted as loss. */
  | 'comfort'
  /** An extra PLC frame inserted to raise the delay (jitter grew, or the sender's clock is slow). */
  | 'inserted';

/** Options of {@link JitterBuffer}. */
export interface JitterBufferOptions {
  /** The sender's decoder. The jitter buffer owns it: `close()` destroys it. */
  decoder: OpusDecoderApi;
  /** Lowest target delay in ms, at least one frame. Default 20. */
  minDelayMs?: number;
  /** Highest delay in ms; packets that would need more are dropped as late. Default 200. */
  maxDelayMs?: number;
  /** Delay before the first packet is played, in ms, while there is no jitter history. Default 40. */
  initialDelayMs?: number;
  /** Share of packets the target delay should get in on time (0.5–0.999). Default 0.95. */
  quantile?: number;
  /**
   * Per-packet forgetting factor of the delay histogram (0.9–0.9999). Default 0.993: memory of
   * ≈ 140 packets (2.9 s), so after a jitter burst the target comes back down within ~10 s.
   */
  forgetFactor?: number;
  /** A decoded frame below this RMS level in dBFS counts as quiet (drift corrections). Default -45. */
  quietDbfs?: number;
  /**
   * While the stream carries in-band FEC and loses packets (≥ 1 % over `lossWindowMs`), keep
   * one frame more delay, so that a lost frame's successor — the packet holding its FEC — has
   * usually arrived when the lost frame is due (measured with 0–60 ms jitter: without it the
   * successor was missing for ~40 % of losses, which then fell to PLC). Default true.
   */
  fecDelay?: boolean;
  /** Window of `lossPct`, in ms. Default 5,000. */
  lossWindowMs?: number;
  /**
   * When a delay correction has waited this long (ms) for a quiet frame, it happens on the next
   * frame regardless. Default 1,000.
   */
  forceCorrectionAfterMs?: number;
}

/** Counters and estimates of one {@link JitterBuffer}; a snapshot, safe to keep. */
export interface JitterBufferStats {
  /** RFC 3550 §6.4.1 interarrival jitter, in ms. */
  jitterMs: number;
  /** Packets lost over the last `lossWindowMs`, in percent (0–100). */
  lossPct: number;
  /** Packets received (late ones included, duplicates not). */
  received: number;
  /** Cumulative lost packets (RFC 3550 A.3: expected − received). */
  lostTotal: number;
  /** Packets that arrived after their play-out time (dropped). */
  late: number;
  /** Duplicate packets (dropped). */
  duplicates: number;
  /** Frames concealed by PLC because their packet was lost or late. */
  concealed: number;
  /** Lost frames rebuilt from in-band FEC. */
  fecRecovered: number;
  /** Frames of comfort noise played in the sender's DTX gaps. */
  comfortFrames: number;
  /** Frames inserted to raise the delay (jitter or a slow sender clock). */
  insertedFrames: number;
  /** Frames skipped to lower the delay (calm network, fast sender clock, max-delay bound). */
  droppedFrames: number;
  /** Packets the decoder rejected (concealed instead). */
  decodeErrors: number;
  /** Times the stream restarted (sequence jump, overflow). */
  resyncs: number;
  /** Packets waiting to be played. */
  bufferedPackets: number;
  /**
   * Delay the buffer adds to the fastest packets of the last 2 s, in ms: arrival → pull, plus
   * the sink's queue ahead of the frame (`pull`'s `queuedMs`), i.e. arrival → start of play-out.
   */
  currentDelayMs: number;
  /**
   * Delay the buffer steers to, in ms, on the same scale: `quantile` of the recent delay spread
   * (at least the minimum delay in all), within [min, max].
   */
  targetDelayMs: number;
}

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

/** Life-cycle status of a {@link JitterBuffer}. */
export type JitterBufferStatus = JitterBufferState['status'];

// Life cycle of a JitterBuffer. Fields are mutated in place per frame (no allocation).
type JitterBufferState =
  | { status: 'idle' }
  | {
      status: 'buffering';
      /** Lowest extended seq received so far. */
      nextSeq: number;
      /** Extended timestamp of that packet: the first frame to play. */
      playTs: number;
      /** Play-out offset (arrival clock − timestamp clock) to start at, in ms. */
      startOffsetMs: number;
    }
  | {
      status: 'playing';
      /** Extended seq after the last consumed (played or given up) packet. */
      nextSeq: number;
      /** Extended timestamp of the next frame to emit. */
      playTs: number;
      /** Smoothed `pullTime − playTs / 48`, in ms: when a timestamp is played. */
      playOffsetMs: number;
      /** Frames emitted since the buffer ran empty, not yet known to be loss or DTX. */
      underrunFrames: number;
      /** Since when (ms) a delay correction has been wanted; NaN when none. */
      correctionSinceMs: number;
    }
  | { status: 'closed' };

type Playing = Extract<JitterBufferState, { status: 'playing' }>;

/**
 * Per-sender adaptive jitter buffer: packets in as they arrive ({@link push}), one 20 ms frame of
 * 960 samples out per {@link pull} (the playback side calls it every 20 ms).
 *
 * - **Reordering and duplicates**: packets are kept by extended sequence number (u16 wrap) in a
 *   64-slot ring; duplicates (a 256-seq window) and packets whose play-out time has passed are
 *   dropped and counted.
 * - **Target delay** (WebRTC NetEq's delay manager, `modules/audio_coding/neteq/delay_manager.cc`):
 *   each packet's transit (`arrival − timestamp/48`) minus the minimum transit of the last 2 s
 *   is its relative delay; a histogram of relative delays with exponential forgetting (5 ms
 *   buckets, factor 0.993/packet, a running average at start-up) gives the `quantile` (95 %),
 *   and the target is its upper bucket edge clamped to [minDelayMs, maxDelayMs]. A burst raises
 *   it within ~5 packets; when calm, the old mass decays over seconds (slow decay by design).
 * - **Delay control**: the current delay is the play-out offset minus the base transit. Below
 *   the target a PLC frame is inserted (at once when a frame or more short, otherwise on a quiet
 *   frame); above target + 1 frame + 5 ms (hysteresis: a step is a whole frame) a quiet frame
 *   is dropped. A correction that found no quiet frame within `forceCorrectionAfterMs` happens
 *   anyway; above `maxDelayMs` it is immediate. This also absorbs clock drift: a fast sender
 *   raises the delay (drops), a slow one lowers it (inserts).
 * - **Loss**: a missing frame is rebuilt from the next packet's in-band FEC when that packet is
 *   buffered and carries LBRR (RFC 6716 §4.2.4), otherwise concealed by Opus PLC.
 * - **DTX** (RFC 7587 §3.1.3: timestamps jump, sequence numbers do not): the gap plays comfort
 *   noise and counts no loss. When speech resumes after the buffer ran empty, the talk-spurt is
 *   re-anchored to the target delay by shifting the silence, so gaps never stretch the delay
 *   (the classic adjust-between-talk-spurts of Ramjee et al., "Adaptive playout mechanisms for
 *   packetized audio applications in wide-area networks", IEEE INFOCOM 1994).
 * - **Statistics**: RFC 3550 §6.4.1 interarrival jitter and A.3 loss accounting.
 *
 * `pull` returns one preallocated frame and allocates nothing. Runs on the main thread or a
 * worker (not the audio thread: it calls the decoder). Time is passed in (`arrivalMs`, `nowMs`,
 * one monotonic clock in ms), never read.
 */
export class JitterBuffer {
  private state: JitterBufferState = { status: 'idle' };
  private readonly decoder: OpusDecoderApi;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly initialDelayMs: number;
  private readonly quantile: number;
  private readonly forgetFactor: number;
  private readonly quietMeanSquare: number;
  private readonly lossWindowMs: number;
  private readonly forceAfterMs: number;

  private readonly frame = new Float32Array(FRAME_SAMPLES);
  private kind: JitterFrameKind = 'silence';
  private lastQuiet = true;

  // Ring of buffered packets, indexed by extended seq & (CAPACITY - 1).
  private readonly slotSeq = new Float64Array(CAPACITY).fill(-1);
  private readonly slotTs = new Float64Array(CAPACITY);
  private readonly slotPayload: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(
    CAPACITY,
  ).fill(undefined);
  private readonly slotFec = new Uint8Array(CAPACITY);
  private readonly slotSpeech = new Int8Array(CAPACITY);
  private buffered = 0;
  private readonly seen = new Float64Array(SEEN_WINDOW).fill(-1);

  // Extended sequence numbers and timestamps (start offset by one cycle so they stay positive).
  private highestSeq = 0;
  private highestTs = 0;
  private baseSeq = 0;

  // Transit history (arrival ms, transit ms) for the base transit.
  private readonly histArrival = new Float64Array(HISTORY_ENTRIES);
  private readonly histTransit = new Float64Array(HISTORY_ENTRIES);
  private histNext = 0;
  private histCount = 0;
  private baseTransitMs = 0;

  private readonly buckets = new Float64Array(BUCKETS);
  private histogramPackets = 0;
  private targetMs: number;
  /** `quantile` of the relative delays (5 ms bucket edge), ms: the jitter protection needed. */
  private spreadMs = 0;
  /** Audio queued at the sink ahead of the frame being pulled, ms (see {@link pull}). */
  private queuedMs = 0;
  private readonly fecDelay: boolean;
  private lastFecArrivalMs = Number.NEGATIVE_INFINITY;
  private cleanRunPackets = 0;
  /** Whether the FEC frame of delay is in the target now. */
  private fecWait = false;

  // RFC 3550 A.8 jitter, in timestamp units.
  private jitterTs = 0;
  private lastTransitTs = Number.NaN;

  // Counters.
  private received = 0;
  private expectedBefore = 0; // expected packets of earlier (resynced) streams
  private expectedPrior = 0;
  private receivedPrior = 0;
  private late = 0;
  private duplicates = 0;
  private concealed = 0;
  private fecRecovered = 0;
  private comfortFrames = 0;
  private inserted = 0;
  private dropped = 0;
  private decodeErrors = 0;
  private resyncs = 0;
  // Sequence numbers the relay never forwarded to us (see JitterPacket.resumed): not loss.
  private notForwarded = 0;

  // Loss window snapshots: (time, expected, received).
  private readonly snapTime: Float64Array;
  private readonly snapExpected: Float64Array;
  private readonly snapReceived: Float64Array;
  private snapNext = 0;
  private snapCount = 0;

  /**
   * @throws {RangeError} when an option is out of range (the message names it).
   */
  constructor(options: JitterBufferOptions) {
    this.decoder = options.decoder;
    this.minDelayMs = options.minDelayMs ?? FRAME_MS;
    this.maxDelayMs = options.maxDelayMs ?? 200;
    this.initialDelayMs = options.initialDelayMs ?? 40;
    this.quantile = options.quantile ?? 0.95;
    this.forgetFactor = options.forgetFactor ?? 0.993;
    const quietDbfs = options.quietDbfs ?? -45;
    this.lossWindowMs = options.lossWindowMs ?? 5_000;
    this.forceAfterMs = options.forceCorrectionAfterMs ?? 1_000;
    this.fecDelay = options.fecDelay ?? true;
    range('minDelayMs', this.minDelayMs, FRAME_MS, 1_000);
    range('maxDelayMs', this.maxDelayMs, this.minDelayMs, 1_000);
    range('initialDelayMs', this.initialDelayMs, 0, this.maxDelayMs);
    range('quantile', this.quantile, 0.5, 0.999);
    range('forgetFactor', this.forgetFactor, 0.9, 0.9999);
    range('quietDbfs', quietDbfs, -120, 0);
    range('lossWindowMs', this.lossWindowMs, SNAPSHOT_MS, 60_000);
    range('forceCorrectionAfterMs', this.forceAfterMs, 0, 60_000);
    this.quietMeanSquare = 10 ** (quietDbfs / 10);
    this.targetMs = Math.max(this.minDelayMs, this.initialDelayMs);
    const snaps = Math.ceil(this.lossWindowMs / SNAPSHOT_MS) + 1;
    this.snapTime = new Float64Array(snaps);
    this.snapExpected = new Float64Array(snaps);
    this.snapReceived = new Float64Array(snaps);
  }

  /** Current life-cycle status. */
  get status(): JitterBufferStatus {
    return this.state.status;
  }

  /** Where the last pulled frame came from. */
  get lastFrameKind(): JitterFrameKind {
    return this.kind;
  }

  /**
   * Adds a packet as it arrives. Duplicates and packets whose play-out time has passed are
   * counted and dropped; a jump of more than 500 in sequence restarts the stream.
   * @param arrivalMs arrival time on the same monotonic clock as `pull`'s `nowMs`, in ms.
   * @throws {RangeError} when `seq`, `timestamp` or `arrivalMs` is out of range.
   * @throws {TypeError} when `payload` is not a non-empty Uint8Array.
   * @throws {InvalidStateError} after `close()`.
   */
  push(packet: JitterPacket, arrivalMs: number): void {
    if (this.state.status === 'closed') throw new InvalidStateError('JitterBuffer is closed');
    const { seq, timestamp, payload } = packet;
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) {
      throw new RangeError(`seq must be an integer in [0, 65535], got ${String(seq)}`);
    }
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp >= TWO_32) {
      throw new RangeError(`timestamp must be an integer in [0, 2^32), got ${String(timestamp)}`);
    }
    if (!Number.isFinite(arrivalMs)) {
      throw new RangeError(`arrivalMs must be finite, got ${String(arrivalMs)}`);
    }
    if (!(payload instanceof Uint8Array) || payload.length === 0) {
      throw new TypeError('payload must be a non-empty Uint8Array');
    }

    // Read once per packet: the FEC delay and the slot's FEC flag both use it.
    const fec = packet.fec ?? opusPacketHasLbrr(payload);
    if (fec) this.lastFecArrivalMs = arrivalMs;
    if (this.state.status === 'idle') {
      this.start(packet, arrivalMs, fec);
      return;
    }
    const extSeq = this.extendSeq(seq);
    if (Math.abs(extSeq - this.highestSeq) > RESYNC_SEQ_GAP) {
      this.resync(packet, arrivalMs, fec);
      return;
    }
    if (this.seen[extSeq % SEEN_WINDOW] === extSeq) {
      this.duplicates++;
      return;
    }
    this.seen[extSeq % SEEN_WINDOW] = extSeq;
    const extTs = this.extendTs(timestamp);
    const skippedByRelay = packet.resumed === true && extSeq > this.highestSeq + 1;
    if (skippedByRelay) this.notForwarded += extSeq - this.highestSeq - 1;
    // A sequence gap (loss, or reordering yet to be filled) restarts the clean run.
    if (extSeq > this.highestSeq + 1 && !skippedByRelay) this.cleanRunPackets = 0;
    else this.cleanRunPackets++;
    this.received++;
    if (extSeq > this.highestSeq) this.highestSeq = extSeq;
    // A packet older than the first one (reordered at start) extends the expected range.
    if (extSeq < this.baseSeq) this.baseSeq = extSeq;
    if (extTs > this.highestTs) this.highestTs = extTs;
    this.observeArrival(extTs, arrivalMs);

    const st = this.state;
    if (st.status === 'buffering') {
      if (extSeq < st.nextSeq && extTs <= st.playTs) {
        // Reordered at start: play from the earlier packet, at the same play-out offset.
        st.nextSeq = extSeq;
        st.playTs = extTs;
      }
      if (extSeq - st.nextSeq >= CAPACITY) {
        this.resync(packet, arrivalMs, fec);
        return;
      }
      this.store(extSeq, extTs, packet, fec);
      return;
    }
    if (st.status !== 'playing') return;

    if (extSeq < st.nextSeq || extTs < st.playTs) {
      // Its play-out time has passed (it was concealed). Later seqs are still wanted.
      this.late++;
      if (extSeq >= st.nextSeq) {
        this.resolveUnderrun(st, extSeq - st.nextSeq + 1);
        // Anything buffered before it is due even earlier (cannot happen in order; be safe).
        for (let q = st.nextSeq; q < extSeq && this.buffered > 0; q++) {
          const i = q & (CAPACITY - 1);
          if (this.slotPayload[i] !== undefined && this.slotSeq[i] === q) this.release(i);
        }
        st.nextSeq = extSeq + 1;
      }
      return;
    }
    if (extSeq - st.nextSeq >= CAPACITY) {
      this.resync(packet, arrivalMs, fec);
      return;
    }
    if (st.underrunFrames > 0 && this.buffered === 0) {
      // First packet after the buffer ran empty: DTX if no seq is missing (or the relay paused
      // the stream), else loss. More seqs missing than frames already concealed: the rest are
      // lost frames still to be played (PLC, or FEC from this packet for the last one), not a
      // DTX gap — so only the concealed ones are consumed, and the timeline stays.
      const underrun = st.underrunFrames;
      const missing = skippedByRelay ? 0 : extSeq - st.nextSeq;
      this.resolveUnderrun(st, missing);
      if (missing > underrun) st.nextSeq += underrun;
      else {
        st.nextSeq = extSeq;
        if (missing < underrun) this.reanchor(st, extTs); // a talk-spurt after DTX
      }
    }
    this.store(extSeq, extTs, packet, fec);
  }

  /**
   * Produces the next 20 ms frame (960 samples, 48 kHz mono): the due packet decoded, a lost one
   * rebuilt from FEC or concealed, comfort noise in DTX gaps, or silence before the first packet.
   * Call it every 20 ms from the playback clock.
   * @param nowMs current time on the clock of `push`'s `arrivalMs`, in ms.
   * @param queuedMs audio already queued at the sink ahead of this frame, ms (default 0): it
   *   counts toward the minimum delay (one frame of buffered audio), never toward jitter
   *   protection — a packet must be here when its frame is pulled, however long the frame then
   *   waits. With a sink pulled on demand this takes the sink's queue out of the latency.
   * @returns a preallocated frame, valid until the next `pull` (copy it to keep it).
   * @throws {InvalidStateError} after `close()`.
   */
  pull(nowMs: number, queuedMs = 0): Float32Array {
    const st = this.state;
    if (st.status === 'closed') throw new InvalidStateError('JitterBuffer is closed');
    // The sink's queue swings by a wake's worth (~10 ms) from pull to pull: smoothed, so the
    // target does not move with it (a target that jitters crosses the control's thresholds).
    const q = Number.isFinite(queuedMs) && queuedMs > 0 ? Math.min(queuedMs, 1_000) : 0;
    const smoothed = q === 0 || this.queuedMs === 0 ? q : this.queuedMs + (q - this.queuedMs) / 16;
    if (smoothed !== this.queuedMs) {
      this.queuedMs = smoothed;
      this.updateTarget();
    }
    if (st.status === 'idle') return this.silence();
    if (st.status === 'buffering') {
      if (nowMs - st.playTs / SAMPLES_PER_MS < st.startOffsetMs - FRAME_MS / 2) {
        return this.silence();
      }
      const playing: JitterBufferState = {
        status: 'playing',
        nextSeq: st.nextSeq,
        playTs: st.playTs,
        playOffsetMs: nowMs - st.playTs / SAMPLES_PER_MS,
        underrunFrames: 0,
        correctionSinceMs: Number.NaN,
      };
      this.state = playing;
      return this.play(playing, nowMs);
    }
    return this.play(st, nowMs);
  }

  /** Statistics snapshot (allocates one object; call it a few times per second at most). */
  getStats(): JitterBufferStats {
    return {
      jitterMs: this.jitterTs / SAMPLES_PER_MS,
      lossPct: this.windowLossPct(),
      received: this.received,
      lostTotal: this.lostTotal(),
      late: this.late,
      duplicates: this.duplicates,
      concealed: this.concealed,
      fecRecovered: this.fecRecovered,
      comfortFrames: this.comfortFrames,
      insertedFrames: this.inserted,
      droppedFrames: this.dropped,
      decodeErrors: this.decodeErrors,
      resyncs: this.resyncs,
      bufferedPackets: this.buffered,
      currentDelayMs: this.currentDelayMs() + this.queuedMs,
      targetDelayMs: this.targetMs + this.queuedMs,
    };
  }

  /**
   * Counters for a receiver report to the sender; `fractionLost` covers the time since the
   * previous call (RFC 3550 A.3), so call it once per report.
   */
  takeReceiverReport(): JitterReceiverReport {
    const expected = this.expected();
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
      lostTotal: Math.max(-0x800000, Math.min(0x7fffff, this.lostTotal())),
      highestSeq: this.state.status === 'idle' ? 0 : (this.highestSeq - 0x10000) % TWO_32,
      jitterMs: this.jitterTs / SAMPLES_PER_MS,
    };
  }

  /** Packets received since the last sequence gap (loss or reordering), this stream. */
  get cleanRun(): number {
    return this.cleanRunPackets;
  }

  /** Drops buffered packets and destroys the decoder. Idempotent. */
  close(): void {
    if (this.state.status === 'closed') return;
    this.state = { status: 'closed' };
    this.slotPayload.fill(undefined);
    this.buffered = 0;
    this.decoder.destroy();
  }

  // ——— arrival side ———

  private start(packet: JitterPacket, arrivalMs: number, fec: boolean): void {
    // Extended numbers start one cycle up so that slightly older packets stay positive.
    this.highestSeq = packet.seq + 0x10000;
    this.highestTs = packet.timestamp + TWO_32;
    this.baseSeq = this.highestSeq;
    this.received++;
    this.seen.fill(-1);
    this.seen[this.highestSeq % SEEN_WINDOW] = this.highestSeq;
    this.histCount = 0;
    this.lastTransitTs = Number.NaN;
    this.observeArrival(this.highestTs, arrivalMs);
    this.state = {
      status: 'buffering',
      nextSeq: this.highestSeq,
      playTs: this.highestTs,
      startOffsetMs: this.baseTransitMs + Math.max(this.initialDelayMs, this.targetMs),
    };
    this.store(this.highestSeq, this.highestTs, packet, fec);
  }

  /** The sender restarted (or jumped): forget the old stream, keep the counters. */
  private resync(packet: JitterPacket, arrivalMs: number, fec: boolean): void {
    this.resyncs++;
    // Counters stay cumulative across streams.
    this.expectedBefore = this.expected();
    this.notForwarded = 0; // already taken out of expectedBefore
    this.clearSlots();
    log.debug('stream resync', { seq: packet.seq });
    this.start(packet, arrivalMs, fec);
  }

  private store(extSeq: number, extTs: number, packet: JitterPacket, fec: boolean): void {
    const i = extSeq & (CAPACITY - 1);
    if (this.slotPayload[i] === undefined) this.buffered++;
    this.slotSeq[i] = extSeq;
    this.slotTs[i] = extTs;
    this.slotPayload[i] = packet.payload;
    this.slotFec[i] = fec ? 1 : 0;
    this.slotSpeech[i] = packet.speech === undefined ? -1 : packet.speech ? 1 : 0;
  }

  private clearSlots(): void {
    this.slotPayload.fill(undefined);
    this.slotSeq.fill(-1);
    this.buffered = 0;
  }

  /** Jitter (RFC 3550 A.8), base transit and the relative-delay histogram (NetEq). */
  private observeArrival(extTs: number, arrivalMs: number): void {
    const transitTs = arrivalMs * SAMPLES_PER_MS - extTs;
    if (!Number.isNaN(this.lastTransitTs)) {
      const d = Math.abs(transitTs - this.lastTransitTs);
      this.jitterTs += (d - this.jitterTs) / 16;
    }
    this.lastTransitTs = transitTs;

    const transitMs = transitTs / SAMPLES_PER_MS;
    this.histArrival[this.histNext] = arrivalMs;
    this.histTransit[this.histNext] = transitMs;
    this.histNext = (this.histNext + 1) % HISTORY_ENTRIES;
    if (this.histCount < HISTORY_ENTRIES) this.histCount++;
    let base = transitMs;
    for (let k = 0; k < this.histCount; k++) {
      if (this.histArrival[k]! >= arrivalMs - BASE_HISTORY_MS && this.histTransit[k]! < base) {
        base = this.histTransit[k]!;
      }
    }
    this.baseTransitMs = base;

    // Exponential forgetting, with a running average until the factor is reached (NetEq's
    // start-up weight) so the first packets are not drowned by an empty history.
    this.histogramPackets++;
    // The forgetting factor ramps up from STARTUP_FORGET_FACTOR (memory ≈ 1 s) to the configured
    // one over the stream's first STARTUP_PACKETS, as NetEq's histogram does: the start of a call
    // is when pages and codecs warm up, and a stall then must not hold the delay up for 10 s.
    const ramp = Math.min(1, this.histogramPackets / STARTUP_PACKETS);
    const start = Math.min(STARTUP_FORGET_FACTOR, this.forgetFactor);
    const forget = start + (this.forgetFactor - start) * ramp;
    const w = Math.max(1 - forget, 1 / this.histogramPackets);
    for (let b = 0; b < BUCKETS; b++) this.buckets[b]! *= 1 - w;
    const bucket = Math.min(BUCKETS - 1, Math.floor((transitMs - base) / BUCKET_MS));
    this.buckets[bucket]! += w;
    let sum = 0;
    let q = BUCKETS - 1;
    for (let b = 0; b < BUCKETS; b++) {
      sum += this.buckets[b]!;
      if (sum >= this.quantile) {
        q = b;
        break;
      }
    }
    const spreadMs = (q + 1) * BUCKET_MS;
    this.spreadMs = spreadMs;
    this.fecWait =
      this.fecDelay &&
      arrivalMs - this.lastFecArrivalMs <= FEC_RECENT_MS &&
      this.windowLossPct() >= FEC_DELAY_LOSS_PCT;
    this.updateTarget();

    if (this.snapCount === 0 || arrivalMs - this.lastSnapTime() >= SNAPSHOT_MS) {
      this.snapTime[this.snapNext] = arrivalMs;
      this.snapExpected[this.snapNext] = this.expected();
      this.snapReceived[this.snapNext] = this.received;
      this.snapNext = (this.snapNext + 1) % this.snapTime.length;
      if (this.snapCount < this.snapTime.length) this.snapCount++;
    }
  }

  /**
   * Target delay (arrival → pull of the fastest packets), ms: the jitter spread, and at least
   * the minimum delay less what the sink already holds ahead of the frame; at most the maximum.
   */
  private updateTarget(): void {
    const floor = Math.max(0, this.minDelayMs - this.queuedMs);
    const needed = this.spreadMs + (this.fecWait ? FRAME_MS : 0);
    this.targetMs = Math.min(this.maxDelayMs, Math.max(floor, needed));
  }

  /** Classifies underrun frames: `missing` packets were lost, the rest was the sender's DTX. */
  private resolveUnderrun(st: { underrunFrames: number }, missing: number): void {
    const lost = Math.min(st.underrunFrames, Math.max(0, missing));
    this.concealed += lost;
    this.comfortFrames += st.underrunFrames - lost;
    st.underrunFrames = 0;
  }

  /**
   * Talk-spurt start after the buffer ran empty: shift the silence by whole frames so this
   * packet plays `target` after the base transit (not later because the gap was long, nor
   * earlier than the clocks allow). Never moves before the last emitted frame or past `extTs`.
   */
  private reanchor(st: Playing, extTs: number): void {
    const desiredOffsetMs = this.baseTransitMs + this.targetMs;
    // > 0: skip ahead. Rounded down, so the delay lands in [target, target + 1 frame): never
    // below the target, where the delay control would insert a frame right back (a drop and an
    // insert per talk-spurt, each a discontinuity inside speech).
    let shift = Math.floor((st.playOffsetMs - desiredOffsetMs) / FRAME_MS);
    const framesAhead = Math.floor((extTs - st.playTs) / FRAME_SAMPLES);
    if (shift > framesAhead) shift = framesAhead;
    // Moving back (shift < 0) only lengthens the silence before this packet: every slot before
    // it is empty, and older packets arriving later are late by sequence number.
    if (shift === 0) return;
    st.playTs += shift * FRAME_SAMPLES;
    st.playOffsetMs -= shift * FRAME_MS;
    if (shift > 0) this.dropped += shift;
    else this.inserted -= shift;
  }

  private extendSeq(seq: number): number {
    const delta = ((seq - (this.highestSeq & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    return this.highestSeq + delta;
  }

  private extendTs(ts: number): number {
    const delta = (ts - (this.highestTs % TWO_32)) | 0;
    return this.highestTs + delta;
  }

  // ——— play-out side ———

  private silence(): Float32Array {
    this.frame.fill(0);
    this.kind = 'silence';
    this.lastQuiet = true;
    return this.frame;
  }

  private play(st: Playing, nowMs: number): Float32Array {
    // Follow the pull clock; explicit ±1 frame steps are applied directly, so smoothing only
    // removes timer jitter.
    st.playOffsetMs += (nowMs - st.playTs / SAMPLES_PER_MS - st.playOffsetMs) / 8;
    const delayMs = st.playOffsetMs - this.baseTransitMs;
    const errMs = delayMs - this.targetMs;
    const grow = errMs < 0;
    const shrink = errMs > FRAME_MS + SHRINK_HYSTERESIS_MS || delayMs > this.maxDelayMs;
    if (!grow && !shrink) st.correctionSinceMs = Number.NaN;
    else if (Number.isNaN(st.correctionSinceMs)) st.correctionSinceMs = nowMs;
    const overdue = nowMs - st.correctionSinceMs >= this.forceAfterMs;

    // Packets left behind by a timeline shift are too late now.
    let i = this.firstBuffered(st);
    while (i >= 0 && this.slotTs[i]! < st.playTs) {
      this.late++;
      st.nextSeq = this.slotSeq[i]! + 1;
      this.release(i);
      i = this.firstBuffered(st);
    }

    if (i < 0) {
      if (grow) {
        // Packets come later than the delay allows (e.g. a delay step): hold the timeline.
        this.conceal('inserted');
        this.inserted++;
        st.playOffsetMs += FRAME_MS;
        return this.frame;
      }
      // Underrun: nothing buffered. Loss or DTX is decided when the next packet arrives.
      st.underrunFrames++;
      if (st.underrunFrames <= MAX_CONCEAL_FRAMES) this.conceal('plc');
      else this.zeros('plc');
      st.playTs += FRAME_SAMPLES;
      return this.frame;
    }
    if (st.underrunFrames > 0) this.resolveUnderrun(st, this.slotSeq[i]! - st.nextSeq);

    const ts = this.slotTs[i]!;
    const seq = this.slotSeq[i]!;
    if (ts === st.playTs) {
      const quietNext = this.lastQuiet || this.slotSpeech[i] === 0;
      if (grow && (quietNext || errMs < -FRAME_MS || overdue)) {
        this.conceal('inserted');
        this.inserted++;
        st.playOffsetMs += FRAME_MS;
        st.correctionSinceMs = Number.NaN;
        return this.frame;
      }
      const speech = this.slotSpeech[i];
      this.decodeSlot(i, st);
      if (shrink && (this.lastQuiet || speech === 0 || overdue || delayMs > this.maxDelayMs)) {
        // Drop the frame just decoded (the decoder state stays continuous) and play the next.
        // Only when what follows is known: the next packet, or a DTX gap (skip a frame of it).
        const j = this.firstBuffered(st);
        if (j >= 0 && (this.slotTs[j] === st.playTs || this.slotSeq[j] === st.nextSeq)) {
          if (this.slotTs[j] === st.playTs) this.decodeSlot(j, st);
          else st.playTs += FRAME_SAMPLES;
          this.dropped++;
          st.playOffsetMs -= FRAME_MS;
          st.correctionSinceMs = Number.NaN;
        }
      }
      return this.frame;
    }

    // The first buffered packet is later than the frame due now.
    if (seq === st.nextSeq) {
      // No seq missing: the sender is in DTX. Silence is where the delay is adjusted for free.
      this.conceal('comfort');
      this.comfortFrames++;
      const gapFrames = Math.round((ts - st.playTs) / FRAME_SAMPLES);
      if (gapFrames * FRAME_MS > this.maxDelayMs) {
        // A gap longer than the maximum delay is a timeline jump: skip to the target delay.
        const keep = Math.max(1, Math.round(this.targetMs / FRAME_MS));
        const skip = gapFrames - keep;
        st.playTs += skip * FRAME_SAMPLES;
        st.playOffsetMs -= skip * FRAME_MS;
        this.dropped += skip;
        return this.frame;
      }
      if (grow) {
        this.inserted++;
        st.playOffsetMs += FRAME_MS;
      } else if (shrink && gapFrames >= 2) {
        st.playTs += 2 * FRAME_SAMPLES;
        this.dropped++;
        st.playOffsetMs -= FRAME_MS;
      } else {
        st.playTs += FRAME_SAMPLES;
      }
      return this.frame;
    }

    // Packets are missing before this one: the frame due now is lost.
    if (ts - st.playTs === FRAME_SAMPLES && this.slotFec[i] === 1) {
      this.decodeFec(i);
    } else {
      this.conceal('plc');
      this.concealed++;
    }
    st.nextSeq++;
    st.playTs += FRAME_SAMPLES;
    return this.frame;
  }

  /** Index of the lowest-seq buffered packet at or after `nextSeq`, or -1. */
  private firstBuffered(st: { nextSeq: number }): number {
    if (this.buffered === 0) return -1;
    const end = Math.min(this.highestSeq, st.nextSeq + CAPACITY - 1);
    for (let s = st.nextSeq; s <= end; s++) {
      const i = s & (CAPACITY - 1);
      if (this.slotPayload[i] !== undefined && this.slotSeq[i] === s) return i;
    }
    return -1;
  }

  private release(i: number): void {
    this.slotPayload[i] = undefined;
    this.slotSeq[i] = -1;
    this.buffered--;
  }

  private decodeSlot(i: number, st: { nextSeq: number; playTs: number }): void {
    const payload = this.slotPayload[i]!;
    st.nextSeq = this.slotSeq[i]! + 1;
    st.playTs = this.slotTs[i]! + FRAME_SAMPLES;
    this.release(i);
    let n: number;
    try {
      n = this.decoder.decode(payload, this.frame);
    } catch (err) {
      // A corrupt packet must not stop the stream: count it and conceal the frame instead.
      if (this.decodeErrors++ % 1_000 === 0) log.debug('decode failed', { err });
      this.conceal('plc');
      this.concealed++;
      return;
    }
    if (n < FRAME_SAMPLES) this.frame.fill(0, Math.max(0, n));
    this.kind = 'decoded';
    this.lastQuiet = this.isQuiet();
  }

  private decodeFec(i: number): void {
    try {
      this.decoder.decodeFec(this.slotPayload[i]!, this.frame);
    } catch (err) {
      if (this.decodeErrors++ % 1_000 === 0) log.debug('FEC decode failed', { err });
      this.conceal('plc');
      this.concealed++;
      return;
    }
    this.fecRecovered++;
    this.kind = 'fec';
    this.lastQuiet = this.isQuiet();
  }

  private conceal(kind: JitterFrameKind): void {
    this.decoder.conceal(this.frame);
    this.kind = kind;
    this.lastQuiet = kind === 'comfort' || this.isQuiet();
  }

  private zeros(kind: JitterFrameKind): void {
    this.frame.fill(0);
    this.kind = kind;
    this.lastQuiet = true;
  }

  private isQuiet(): boolean {
    const f = this.frame;
    let sum = 0;
    for (let k = 0; k < FRAME_SAMPLES; k++) sum += f[k]! * f[k]!;
    return sum / FRAME_SAMPLES < this.quietMeanSquare;
  }

  // ——— statistics ———

  private currentDelayMs(): number {
    const st = this.state;
    if (st.status === 'playing') return Math.max(0, st.playOffsetMs - this.baseTransitMs);
    if (st.status === 'buffering') return st.startOffsetMs - this.baseTransitMs;
    return 0;
  }

  private expected(): number {
    // Idle with a packet received happens only inside start(), whose first loss snapshot must
    // already count that packet as expected (else every stream shows one phantom loss).
    if (this.state.status === 'idle' && this.received === 0) return 0;
    return this.expectedBefore + this.highestSeq - this.baseSeq + 1 - this.notForwarded;
  }

  private lostTotal(): number {
    return this.expected() - this.received;
  }

  private lastSnapTime(): number {
    const n = this.snapTime.length;
    return this.snapTime[(this.snapNext - 1 + n) % n]!;
  }

  private windowLossPct(): number {
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
    const received = this.received - this.snapReceived[oldest]!;
    if (expected <= 0) return 0;
    return Math.max(0, Math.min(100, (100 * (expected - received)) / expected));
  }
}

/**
 * Whether an Opus packet carries in-band FEC (SILK LBRR) for the frame before it: the LBRR flag
 * is the second header bit of the first SILK frame (RFC 6716 §4.2.3–4.2.4), as libopus's
 * `opus_packet_has_lbrr` reads it. CELT-only packets never do. Mono packets; any thread.
 */
export function opusPacketHasLbrr(packet: Uint8Array): boolean {
  if (packet.length < 2) return false;
  const toc = packet[0]!;
  const config = toc >> 3;
  if (config >= 16) return false; // CELT-only (RFC 6716 §3.1, Table 2)
  // SILK-only configs 0–11 are 10/20/40/60 ms, hybrid 12–15 are 10/20 ms.
  const frameMs = config < 12 ? [10, 20, 40, 60][config & 3]! : config & 1 ? 20 : 10;
  const silkFrames = frameMs > 20 ? frameMs / 20 : 1;
  let at = 1;
  const code = toc & 3;
  if (code === 2) {
    // First frame's length (RFC 6716 §3.2.1): one byte, or two when the first is ≥ 252.
    const b = packet[1]!;
    if (b === 0) return false;
    at = b < 252 ? 2 : 3;
  } else if (code === 3) {
    if (packet.length < 2) return false;
    const head = packet[1]!;
    at = 2;
    if (head & 0x40) {
      // Padding length bytes (RFC 6716 §3.2.5): 255 means 254 more and another byte.
      while (at < packet.length && packet[at] === 255) at++;
      at++;
    }
    if (head & 0x80) {
      // VBR: M − 1 frame lengths follow; the first frame starts after them.
      const frames = head & 0x3f;
      for (let f = 0; f < frames - 1 && at < packet.length; f++) {
        at += packet[at]! < 252 ? 1 : 2;
      }
    }
  }
  if (at >= packet.length) return false;
  return ((packet[at]! >> (7 - silkFrames)) & 1) === 1;
}

function range(name: string, value: number, lo: number, hi: number): void {
  if (!(Number.isFinite(value) && value >= lo && value <= hi)) {
    throw new RangeError(`${name} must be in [${lo}, ${hi}], got ${String(value)}`);
  }
}
