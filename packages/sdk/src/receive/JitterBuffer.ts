import { opusPacketHasLbrr } from '@concord/protocol';
import {
  SAMPLE_RATE_HZ,
  TSM_MIN_OVERLAP_SAMPLES,
  TSM_MIN_PERIOD_SAMPLES,
  type OpusDecoderApi,
} from '@concord/wasm-dsp';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import { DelayManager } from './DelayManager.js';
import type {
  JitterBufferOptions,
  JitterBufferStats,
  JitterFrameKind,
  JitterPacket,
  JitterTimeStretcher,
} from './jitterTypes.js';
import { PACKET_RING_CAPACITY, PacketRing } from './PacketRing.js';
import { Op, OperationCounter, type JitterOperationCounts } from './playoutOperations.js';
import { ReceptionStatistics, type JitterReceiverReport } from './ReceptionStatistics.js';
import { SampleFifo } from './SampleFifo.js';

export type { JitterReceiverReport } from './ReceptionStatistics.js';
export type {
  JitterBufferOptions,
  JitterBufferStats,
  JitterFrameKind,
  JitterPacket,
  JitterTimeStretcher,
} from './jitterTypes.js';

const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1_000;
/** Packet durations played, in samples: 10 ms (Concord's default) and 20 ms Opus packets. */
const PACKET_10MS = 480;
const PACKET_20MS = 960;
/** A jump of more than this many packets from the highest seq restarts the stream. */
const RESYNC_SEQ_GAP = 500;
/** Whole-frame decrease hysteresis: shrink when the delay exceeds the target by a frame + this. */
const SHRINK_HYSTERESIS_MS = 5;
/** After an accelerate found no period within its limit, the next try waits this long, ms. */
const TRIM_RETRY_MS = 100;
/** After this much uninterrupted underrun, output zeros instead of running PLC (saves CPU). */
const MAX_CONCEAL_SAMPLES = 1_000 * SAMPLES_PER_MS;
// The FEC packet of delay (options.fecDelay) applies while a packet with FEC arrived within this
// long, ms, and the loss over the loss window is at least FEC_DELAY_LOSS_PCT.
const FEC_RECENT_MS = 2_000;
const FEC_DELAY_LOSS_PCT = 1;
/** Operations run per pull at most (each produces ≥ 61 samples; a pull needs ≤ 960). */
const MAX_STEPS_PER_PULL = 16;
/** Samples the FIFO holds at most: a pull's worth plus an expanded 20 ms packet, with margin. */
const FIFO_SAMPLES = 4_096;
const TWO_32 = 4_294_967_296;

const log = getLogger('concord:jitter');

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
      /** Extended timestamp of the next sample to produce. */
      playTs: number;
      /**
       * Smoothed `now + fifo − playTs / 48`, in ms: when a timestamp is pulled (the FIFO's
       * samples play first).
       */
      playOffsetMs: number;
      /** Frames emitted since the buffer ran empty, not yet known to be loss or DTX. */
      underrunFrames: number;
      /** Their samples. */
      underrunSamples: number;
      /** The FIFO's remainder when the last operation ran, ms: play-out lags decoding by it. */
      decodeLeadMs: number;
      /** Since when (ms) a delay correction has been wanted; NaN when none. */
      correctionSinceMs: number;
    }
  | { status: 'closed' };

type Playing = Extract<JitterBufferState, { status: 'playing' }>;

/**
 * Per-sender adaptive jitter buffer in the manner of WebRTC NetEq: packets in as they arrive
 * ({@link push}), a fixed-size frame out per {@link pull} (the playback side calls it on its
 * clock).
 *
 * - **Packets** of 10 or 20 ms (`durationSamples`, switching at will), reordered by extended
 *   sequence number (u16 wrap) in a 128-slot ring; duplicates and packets whose play-out time
 *   has passed are dropped and counted.
 * - **Target delay**: {@link DelayManager} (NetEq's relative-delay histogram, 95 % quantile,
 *   minimum delay on buffer level including the packet that just arrived, one packet more for
 *   FEC under loss).
 * - **Play-out**: each operation (normal, merge, accelerate, preemptive expand, expand/PLC,
 *   FEC, comfort noise, frame drop/insert: `JitterOperation`) produces audio into a FIFO
 *   that absorbs the variable lengths; `pull` takes fixed frames from it. A packet is decoded
 *   at the pull that needs its first sample, so what decides lateness — and what is steered to
 *   the target — is the hold at decode time: the play-out offset less the FIFO's remainder.
 *   That hold moves on the pull grid: removing audio shortens the remainder first and lowers
 *   the hold only by whole pulls.
 * - **Delay moves by pitch periods inside speech** with a {@link JitterTimeStretcher}: below
 *   the target, preemptive expand (one period more); above it, accelerate, held by the
 *   stretcher's input length to at most the remainder plus the whole pulls the error allows,
 *   so it never lowers the hold below the target (a 10 ms packet is accelerated together with
 *   the next one when periods up to 18.7 ms must fit, as NetEq decodes 30 ms before
 *   accelerating). A refused stretch (unvoiced frame) plays unchanged and is retried on the
 *   next packet. Every played sample passes through the stretcher.
 * - **Whole frames** are dropped or inserted in quiet frames and DTX gaps (inaudible, and a
 *   whole pull at once), without a stretcher also at once when a frame or more short, and
 *   inside speech only when the stretcher found nothing to stretch for
 *   `forceCorrectionAfterMs`, or above `maxDelayMs`.
 * - **Loss**: a missing frame is rebuilt from the next packet's in-band FEC when that packet is
 *   buffered and carries LBRR (RFC 6716 §4.2.4), otherwise concealed by Opus PLC.
 * - **DTX** (RFC 7587 §3.1.3: timestamps jump, sequence numbers do not): the gap plays comfort
 *   noise and counts no loss. When speech resumes after the buffer ran empty, the talk-spurt is
 *   re-anchored to the target delay by shifting the silence (Ramjee et al., "Adaptive playout
 *   mechanisms for packetized audio applications in wide-area networks", IEEE INFOCOM 1994).
 * - **Statistics**: {@link ReceptionStatistics} (RFC 3550), and per-operation counts and costs
 *   ({@link getOperationStats}).
 *
 * `pull` returns one preallocated frame and allocates nothing. Runs on a worker or the main
 * thread (not the audio thread: it calls the decoder). Time is passed in (`arrivalMs`, `nowMs`,
 * one monotonic clock in ms), never read, except `cpuClock` for operation costs.
 */
export class JitterBuffer {
  private state: JitterBufferState = { status: 'idle' };
  private readonly decoder: OpusDecoderApi;
  private readonly tsm: JitterTimeStretcher | undefined;
  private readonly delay: DelayManager;
  private readonly stats: ReceptionStatistics;
  private readonly ring = new PacketRing();
  private readonly fifo = new SampleFifo(FIFO_SAMPLES);
  private readonly ops = new OperationCounter();
  private readonly cpuClock: () => number;
  private readonly maxDelayMs: number;
  private readonly quietMeanSquare: number;
  private readonly forceAfterMs: number;
  private readonly fecDelay: boolean;

  private readonly frame: Float32Array;
  /** Where operations decode: the stretcher's input (zero copy) or a buffer of our own. */
  private readonly work: Float32Array;
  /** Views of `work`: [0, 480), [0, 960), [480, 960), [480, 1440). */
  private readonly views: Float32Array[];
  private kind: JitterFrameKind = 'silence';
  private lastOp: number = Op.normal;
  private lastQuiet = true;
  /** No accelerate is tried before this time, ms (see `accelerateLimit`). */
  private trimRetryAtMs = Number.NEGATIVE_INFINITY;
  /** Duration of the latest decoded packet (concealment and comfort frames match it). */
  private frameSamples = PACKET_20MS;

  private highestTs = 0;
  private lastFecArrivalMs = Number.NEGATIVE_INFINITY;

  // Counters.
  private late = 0;
  private concealed = 0;
  private fecRecovered = 0;
  private comfortFrames = 0;
  private inserted = 0;
  private dropped = 0;
  private acceleratedSamples = 0;
  private expandedSamples = 0;
  private refusals = 0;
  private decodeErrors = 0;
  private resyncs = 0;

  /**
   * @throws {RangeError} when an option is out of range (the message names it).
   */
  constructor(options: JitterBufferOptions) {
    this.decoder = options.decoder;
    this.tsm = options.timeStretcher;
    this.delay = new DelayManager(options);
    this.stats = new ReceptionStatistics(options);
    this.maxDelayMs = options.maxDelayMs ?? 200;
    const quietDbfs = options.quietDbfs ?? -45;
    this.forceAfterMs = options.forceCorrectionAfterMs ?? 1_000;
    this.fecDelay = options.fecDelay ?? true;
    const pullSamples = options.pullSamples ?? PACKET_20MS;
    if (!Number.isInteger(pullSamples) || pullSamples < 1 || pullSamples > PACKET_20MS) {
      throw new RangeError(
        `pullSamples must be an integer in [1, 960], got ${String(pullSamples)}`,
      );
    }
    range('quietDbfs', quietDbfs, -120, 0);
    range('forceCorrectionAfterMs', this.forceAfterMs, 0, 60_000);
    this.quietMeanSquare = 10 ** (quietDbfs / 10);
    this.frame = new Float32Array(pullSamples);
    const perf = globalThis.performance;
    this.cpuClock = options.cpuClock ?? (perf ? () => perf.now() : () => Date.now());
    const work = this.tsm?.inputView ?? new Float32Array(PACKET_10MS + PACKET_20MS);
    if (work.length < PACKET_10MS + PACKET_20MS) {
      throw new RangeError(`timeStretcher.inputView must hold at least 1440 samples`);
    }
    this.work = work;
    this.views = [
      work.subarray(0, PACKET_10MS),
      work.subarray(0, PACKET_20MS),
      work.subarray(PACKET_10MS, 2 * PACKET_10MS),
      work.subarray(PACKET_10MS, PACKET_10MS + PACKET_20MS),
    ];
  }

  /** Current life-cycle status. */
  get status(): JitterBufferStatus {
    return this.state.status;
  }

  /** Where the audio of the last operation came from. */
  get lastFrameKind(): JitterFrameKind {
    return this.kind;
  }

  /** Whether delay changes inside speech use time stretching (a stretcher was given). */
  get timeStretching(): boolean {
    return this.tsm !== undefined;
  }

  /**
   * Adds a packet as it arrives. Duplicates and packets whose play-out time has passed are
   * counted and dropped; a jump of more than 500 in sequence restarts the stream.
   * @param arrivalMs arrival time on the same monotonic clock as `pull`'s `nowMs`, in ms.
   * @throws {RangeError} when `seq`, `timestamp`, `durationSamples` or `arrivalMs` is out of
   *   range.
   * @throws {TypeError} when `payload` is not a non-empty Uint8Array.
   * @throws {InvalidStateError} after `close()`.
   */
  push(packet: JitterPacket, arrivalMs: number): void {
    if (this.state.status === 'closed') throw new InvalidStateError('JitterBuffer is closed');
    const { seq, timestamp, payload } = packet;
    const samples = packet.durationSamples ?? PACKET_20MS;
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) {
      throw new RangeError(`seq must be an integer in [0, 65535], got ${String(seq)}`);
    }
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp >= TWO_32) {
      throw new RangeError(`timestamp must be an integer in [0, 2^32), got ${String(timestamp)}`);
    }
    if (samples !== PACKET_10MS && samples !== PACKET_20MS) {
      throw new RangeError(`durationSamples must be 480 or 960, got ${String(samples)}`);
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
      this.start(packet, arrivalMs, fec, samples);
      return;
    }
    const stats = this.stats;
    const extSeq = stats.extend(seq);
    if (Math.abs(extSeq - stats.highestSeq) > RESYNC_SEQ_GAP) {
      this.resync(packet, arrivalMs, fec, samples);
      return;
    }
    const skipped = stats.accept(extSeq, packet.resumed === true);
    if (skipped < 0) return; // duplicate
    const skippedByRelay = skipped > 0;
    const extTs = this.extendTs(timestamp);
    if (extTs > this.highestTs) this.highestTs = extTs;
    this.observeArrival(extTs, arrivalMs, samples);

    const st = this.state;
    if (st.status === 'buffering') {
      if (extSeq < st.nextSeq && extTs <= st.playTs) {
        // Reordered at start: play from the earlier packet, at the same play-out offset.
        st.nextSeq = extSeq;
        st.playTs = extTs;
      }
      if (extSeq - st.nextSeq >= PACKET_RING_CAPACITY) {
        this.resync(packet, arrivalMs, fec, samples);
        return;
      }
      this.ring.store(extSeq, extTs, samples, payload, fec, packet.speech);
      return;
    }
    if (st.status !== 'playing') return;

    if (extSeq < st.nextSeq || extTs < st.playTs) {
      // Its play-out time has passed (it was concealed). Later seqs are still wanted.
      this.late++;
      if (extSeq >= st.nextSeq) {
        this.resolveUnderrun(st, extSeq - st.nextSeq + 1);
        // Anything buffered before it is due even earlier (cannot happen in order; be safe).
        for (let q = st.nextSeq; q < extSeq && this.ring.size > 0; q++) {
          const i = q & (PACKET_RING_CAPACITY - 1);
          if (this.ring.holds(i, q)) this.ring.release(i);
        }
        st.nextSeq = extSeq + 1;
      }
      return;
    }
    if (extSeq - st.nextSeq >= PACKET_RING_CAPACITY) {
      this.resync(packet, arrivalMs, fec, samples);
      return;
    }
    if (st.underrunFrames > 0 && this.ring.size === 0) {
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
        if (missing < underrun) this.reanchor(st, extTs, samples); // a talk-spurt after DTX
      }
    }
    this.ring.store(extSeq, extTs, samples, payload, fec, packet.speech);
  }

  /**
   * Produces the next frame of `pullSamples` (48 kHz mono): decoded packets (time-stretched or
   * not), lost ones rebuilt from FEC or concealed, comfort noise in DTX gaps, or silence before
   * the first packet. Call it every `pullSamples / 48` ms from the playback clock.
   * @param nowMs current time on the clock of `push`'s `arrivalMs`, in ms.
   * @param queuedMs audio already queued at the sink ahead of this frame, ms (default 0): it
   *   counts toward the minimum delay, never toward jitter protection — a packet must be here
   *   when its frame is pulled, however long the frame then waits. With a sink pulled on demand
   *   this takes the sink's queue out of the latency.
   * @returns a preallocated frame, valid until the next `pull` (copy it to keep it).
   * @throws {InvalidStateError} after `close()`.
   */
  pull(nowMs: number, queuedMs = 0): Float32Array {
    const st = this.state;
    if (st.status === 'closed') throw new InvalidStateError('JitterBuffer is closed');
    this.delay.observeQueue(queuedMs);
    if (st.status === 'idle') return this.silence();
    if (st.status === 'buffering') {
      const halfPullMs = this.frame.length / SAMPLES_PER_MS / 2;
      if (nowMs - st.playTs / SAMPLES_PER_MS < st.startOffsetMs - halfPullMs) {
        return this.silence();
      }
      const playing: JitterBufferState = {
        status: 'playing',
        nextSeq: st.nextSeq,
        playTs: st.playTs,
        playOffsetMs: nowMs - st.playTs / SAMPLES_PER_MS,
        underrunFrames: 0,
        underrunSamples: 0,
        decodeLeadMs: 0,
        correctionSinceMs: Number.NaN,
      };
      this.state = playing;
      return this.fill(playing, nowMs);
    }
    return this.fill(st, nowMs);
  }

  /** Statistics snapshot (allocates one object; call it a few times per second at most). */
  getStats(): JitterBufferStats {
    const queuedMs = this.delay.queuedMs;
    return {
      jitterMs: this.stats.jitterMs,
      lossPct: this.stats.lossPct(),
      received: this.stats.received,
      lostTotal: this.stats.lostTotal,
      late: this.late,
      duplicates: this.stats.duplicates,
      concealed: this.concealed,
      fecRecovered: this.fecRecovered,
      comfortFrames: this.comfortFrames,
      insertedFrames: this.inserted,
      droppedFrames: this.dropped,
      acceleratedMs: this.acceleratedSamples / SAMPLES_PER_MS,
      expandedMs: this.expandedSamples / SAMPLES_PER_MS,
      stretchRefusals: this.refusals,
      decodeErrors: this.decodeErrors,
      resyncs: this.resyncs,
      bufferedPackets: this.ring.size,
      packetMs: this.delay.packetMs,
      currentDelayMs: this.currentDelayMs() + queuedMs,
      targetDelayMs: this.delay.targetMs + this.decodeLeadMs() + queuedMs,
    };
  }

  /**
   * How often each play-out operation ran and what it cost (decoding included), µs measured
   * with `cpuClock`. Allocates the result.
   */
  getOperationStats(): JitterOperationCounts {
    return this.ops.snapshot();
  }

  /**
   * Counters for a receiver report to the sender; `fractionLost` covers the time since the
   * previous call (RFC 3550 A.3), so call it once per report.
   */
  takeReceiverReport(): JitterReceiverReport {
    return this.stats.takeReceiverReport();
  }

  /** Packets received since the last sequence gap (loss or reordering), this stream. */
  get cleanRun(): number {
    return this.stats.cleanRun;
  }

  /** Drops buffered packets, destroys the decoder and the stretcher. Idempotent. */
  close(): void {
    if (this.state.status === 'closed') return;
    this.state = { status: 'closed' };
    this.ring.clear();
    this.fifo.clear();
    this.decoder.destroy();
    this.tsm?.destroy();
  }

  // ——— arrival side ———

  private start(packet: JitterPacket, arrivalMs: number, fec: boolean, samples: number): void {
    const extSeq = this.stats.start(packet.seq);
    this.highestTs = packet.timestamp + TWO_32;
    this.delay.restart();
    this.fifo.clear();
    this.tsm?.reset();
    this.frameSamples = samples;
    this.lastOp = Op.normal;
    this.observeArrival(this.highestTs, arrivalMs, samples);
    this.state = {
      status: 'buffering',
      nextSeq: extSeq,
      playTs: this.highestTs,
      startOffsetMs:
        this.delay.baseTransitMs + Math.max(this.delay.initialDelayMs, this.delay.targetMs),
    };
    this.ring.store(extSeq, this.highestTs, samples, packet.payload, fec, packet.speech);
  }

  /** The sender restarted (or jumped): forget the old stream, keep the counters. */
  private resync(packet: JitterPacket, arrivalMs: number, fec: boolean, samples: number): void {
    this.resyncs++;
    this.stats.restart();
    this.ring.clear();
    log.debug('stream resync', { seq: packet.seq });
    this.start(packet, arrivalMs, fec, samples);
  }

  /** Jitter and loss snapshots (RFC 3550), then the delay manager. */
  private observeArrival(extTs: number, arrivalMs: number, samples: number): void {
    this.stats.observeTransit(extTs, arrivalMs);
    const fecProtection =
      this.fecDelay &&
      arrivalMs - this.lastFecArrivalMs <= FEC_RECENT_MS &&
      this.stats.lossPct() >= FEC_DELAY_LOSS_PCT;
    this.delay.update(extTs, arrivalMs, samples, fecProtection);
    this.stats.snapshot(arrivalMs);
  }

  /** Classifies underrun frames: `missing` packets were lost, the rest was the sender's DTX. */
  private resolveUnderrun(st: Playing, missing: number): void {
    const lost = Math.min(st.underrunFrames, Math.max(0, missing));
    this.concealed += lost;
    this.comfortFrames += st.underrunFrames - lost;
    st.underrunFrames = 0;
    st.underrunSamples = 0;
  }

  /**
   * Talk-spurt start after the buffer ran empty: shift the silence by whole frames so this
   * packet plays `target` after the base transit (not later because the gap was long, nor
   * earlier than the clocks allow). Never moves before the last emitted frame or past `extTs`.
   */
  private reanchor(st: Playing, extTs: number, samples: number): void {
    const frameMs = samples / SAMPLES_PER_MS;
    const desiredOffsetMs = this.delay.baseTransitMs + this.delay.targetMs + st.decodeLeadMs;
    // > 0: skip ahead. Rounded down, so the delay lands in [target, target + 1 frame): never
    // below the target, where the delay control would insert a frame right back (a drop and an
    // insert per talk-spurt, each a discontinuity inside speech).
    let shift = Math.floor((st.playOffsetMs - desiredOffsetMs) / frameMs);
    const framesAhead = Math.floor((extTs - st.playTs) / samples);
    if (shift > framesAhead) shift = framesAhead;
    // Moving back (shift < 0) only lengthens the silence before this packet: every slot before
    // it is empty, and older packets arriving later are late by sequence number.
    if (shift === 0) return;
    st.playTs += shift * samples;
    st.playOffsetMs -= shift * frameMs;
    if (shift > 0) this.dropped += shift;
    else this.inserted -= shift;
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

  /** Runs operations until the FIFO holds a pull's worth, then hands it out. */
  private fill(st: Playing, nowMs: number): Float32Array {
    const need = this.frame.length;
    for (let k = 0; this.fifo.length < need && k < MAX_STEPS_PER_PULL; k++) {
      const t0 = this.cpuClock();
      const op = this.step(st, nowMs);
      this.ops.record(op, (this.cpuClock() - t0) * 1_000);
      this.lastOp = op;
    }
    this.fifo.read(this.frame);
    return this.frame;
  }

  /** One play-out operation: decides, produces its audio into the FIFO, returns its code. */
  private step(st: Playing, nowMs: number): number {
    // Follow the pull clock; explicit steps (frames, stretched periods) are applied directly,
    // so smoothing only removes timer jitter.
    const fifoMs = this.fifo.length / SAMPLES_PER_MS;
    st.playOffsetMs += (nowMs + fifoMs - st.playTs / SAMPLES_PER_MS - st.playOffsetMs) / 8;
    // A packet is needed when its operation runs, the FIFO's remainder (< one pull) before its
    // audio plays: lateness is decided by the hold at decode time, so that is what is steered.
    // It moves on the pull grid — a stretch changes the remainder, and the hold only when the
    // remainder crosses a pull (see `accelerateLimit`).
    st.decodeLeadMs = fifoMs;
    const delayMs = st.playOffsetMs - fifoMs - this.delay.baseTransitMs;
    const errMs = delayMs - this.delay.targetMs;
    const frameMs = this.frameSamples / SAMPLES_PER_MS;
    const stretcher = this.tsm !== undefined;
    const overMax = delayMs > this.maxDelayMs;
    const grow = errMs < 0;
    const shrink = errMs > frameMs + SHRINK_HYSTERESIS_MS || overMax;
    const accelerateLimit = stretcher ? this.accelerateLimit(errMs, this.fifo.length, nowMs) : 0;
    const stretchShrink = accelerateLimit > 0;
    if (!grow && !shrink && !stretchShrink) st.correctionSinceMs = Number.NaN;
    else if (Number.isNaN(st.correctionSinceMs)) st.correctionSinceMs = nowMs;
    const overdue = nowMs - st.correctionSinceMs >= this.forceAfterMs;
    const ring = this.ring;

    // Packets left behind by a timeline shift are too late now.
    let i = this.firstBuffered(st);
    while (i >= 0 && ring.ts[i]! < st.playTs) {
      this.late++;
      st.nextSeq = ring.seq[i]! + 1;
      ring.release(i);
      i = this.firstBuffered(st);
    }

    if (i < 0) {
      const n = this.frameSamples;
      if (grow) {
        // Packets come later than the delay allows (e.g. a delay step): hold the timeline.
        this.conceal(n, 'inserted');
        this.inserted++;
        st.playOffsetMs += frameMs;
        return this.emit(n, Op.expand);
      }
      // Underrun: nothing buffered. Loss or DTX is decided when the next packet arrives.
      st.underrunFrames++;
      st.underrunSamples += n;
      if (st.underrunSamples <= MAX_CONCEAL_SAMPLES) this.conceal(n, 'plc');
      else this.zeros(n, 'plc');
      st.playTs += n;
      return this.emit(n, Op.expand);
    }
    if (st.underrunFrames > 0) this.resolveUnderrun(st, ring.seq[i]! - st.nextSeq);

    const ts = ring.ts[i]!;
    const seq = ring.seq[i]!;
    if (ts === st.playTs) {
      const speech = ring.speech[i];
      // Whole frames go in and out in quiet frames (inaudible), or at once when a frame or more
      // short without a stretcher; inside speech the stretcher moves the delay, and whole
      // frames only when it found nothing to stretch for `forceCorrectionAfterMs`.
      const quietNext = this.lastQuiet || speech === 0;
      if (grow && (quietNext || overdue || (!stretcher && errMs < -frameMs))) {
        const n = this.frameSamples;
        this.conceal(n, 'inserted');
        this.inserted++;
        st.playOffsetMs += frameMs;
        st.correctionSinceMs = Number.NaN;
        return this.emit(n, Op.frameInsert);
      }
      if (stretcher && grow) return this.stretch(st, i, 'preemptiveExpand', 0, nowMs);
      if (stretchShrink && !(shrink && (quietNext || overdue))) {
        return this.stretch(st, i, 'accelerate', accelerateLimit, nowMs);
      }
      const merge = this.lastOp === Op.expand;
      let n = this.decodeSlot(i, st, 0);
      let op: number = this.kind !== 'decoded' ? Op.expand : merge ? Op.merge : Op.normal;
      if (shrink && (this.lastQuiet || speech === 0 || overdue || overMax)) {
        // Drop the frame just decoded (the decoder state stays continuous) and play the next.
        // Only when what follows is known: the next packet, or a DTX gap (skip a frame of it).
        const j = this.firstBuffered(st);
        if (j >= 0 && (ring.ts[j] === st.playTs || ring.seq[j] === st.nextSeq)) {
          let droppedSamples = n;
          if (ring.ts[j] === st.playTs) {
            n = this.decodeSlot(j, st, 0);
          } else {
            droppedSamples = this.frameSamples;
            st.playTs += droppedSamples;
          }
          this.dropped++;
          st.playOffsetMs -= droppedSamples / SAMPLES_PER_MS;
          st.correctionSinceMs = Number.NaN;
          op = Op.frameDrop;
        }
      }
      return this.emit(n, op);
    }

    if (seq === st.nextSeq) {
      // No seq missing: the sender is in DTX. Silence is where the delay is adjusted for free.
      const n = this.frameSamples;
      this.conceal(n, 'comfort');
      this.comfortFrames++;
      const gapFrames = Math.round((ts - st.playTs) / n);
      if (gapFrames * frameMs > this.maxDelayMs) {
        // A gap longer than the maximum delay is a timeline jump: skip to the target delay.
        const keep = Math.max(1, Math.round(this.delay.targetMs / frameMs));
        const skip = gapFrames - keep;
        st.playTs += skip * n;
        st.playOffsetMs -= skip * frameMs;
        this.dropped += skip;
        return this.emit(n, Op.comfort);
      }
      if (grow) {
        this.inserted++;
        st.playOffsetMs += frameMs;
      } else if ((shrink || (stretcher && errMs > frameMs)) && gapFrames >= 2) {
        st.playTs += 2 * n;
        this.dropped++;
        st.playOffsetMs -= frameMs;
      } else {
        st.playTs += n;
      }
      return this.emit(n, Op.comfort);
    }

    // Packets are missing before this one: the frame due now is lost. One lost packet (of
    // 10 or 20 ms) with FEC in its successor is rebuilt from it.
    const gap = ts - st.playTs;
    let n: number;
    let op: number;
    if (
      (gap === PACKET_10MS || gap === PACKET_20MS) &&
      ring.fec[i] === 1 &&
      (gap === ring.samples[i] || seq === st.nextSeq + 1)
    ) {
      n = gap;
      this.decodeFec(i, n);
      op = this.kind === 'fec' ? Op.fec : Op.expand;
    } else {
      n = gap === PACKET_10MS ? PACKET_10MS : this.frameSamples;
      this.conceal(n, 'plc');
      this.concealed++;
      op = Op.expand;
    }
    st.nextSeq++;
    st.playTs += n;
    return this.emit(n, op);
  }

  /**
   * Decodes the packet due (for an accelerate of a 10 ms packet, the next one too when it is
   * here and room is needed) and stretches it by one pitch period; an accelerate removes at
   * most `maxRemove` samples (it runs on the first `maxRemove + 61` samples only, the rest
   * passes). Refused: the audio plays unchanged.
   */
  private stretch(
    st: Playing,
    i: number,
    action: 'accelerate' | 'preemptiveExpand',
    maxRemove: number,
    nowMs: number,
  ): number {
    const tsm = this.tsm!;
    let n = this.decodeSlot(i, st, 0);
    if (this.kind !== 'decoded') return this.emit(n, Op.expand);
    let k = n;
    if (action === 'accelerate') {
      const needed = maxRemove + TSM_MIN_OVERLAP_SAMPLES + 1;
      if (n === PACKET_10MS && needed > n) {
        // Periods up to 419 samples fit into 10 ms; with the next packet, up to 899 (NetEq
        // decodes 30 ms before accelerating for the same reason, `accelerate.cc`).
        const j = this.firstBuffered(st);
        if (j >= 0 && this.ring.ts[j] === st.playTs) n += this.decodeSlot(j, st, PACKET_10MS);
      }
      k = Math.min(n, needed);
    }
    const m = tsm.run(action, k);
    this.fifo.write(tsm.outputView, m);
    const change = tsm.lastChangeSamples;
    const noRoom = tsm.lastOutcome === 'noRoom';
    if (k < n) {
      // The rest of the decoded audio continues the stretched part unchanged.
      this.work.copyWithin(0, k, n);
      this.fifo.write(tsm.outputView, tsm.run('pass', n - k));
    }
    if (change === 0) {
      this.refusals++;
      // No period within the limit: wait for a pause or a higher voice (an unvoiced refusal is
      // retried on the next packet).
      if (noRoom && action === 'accelerate') this.trimRetryAtMs = nowMs + TRIM_RETRY_MS;
      return action === 'accelerate' ? Op.accelerateRefused : Op.preemptiveExpandRefused;
    }
    st.playOffsetMs += change / SAMPLES_PER_MS;
    st.correctionSinceMs = Number.NaN;
    if (change < 0) this.acceleratedSamples -= change;
    else this.expandedSamples += change;
    return action === 'accelerate' ? Op.accelerate : Op.preemptiveExpand;
  }

  /**
   * The most samples an accelerate may remove now without lowering the decode-time hold below
   * the target (`errMs` above it), 0 for no accelerate. Removing p samples shortens the FIFO's
   * remainder and lowers the hold only when p exceeds it, by the whole pulls crossed (a packet
   * is decoded at the pull that needs it); so p ≤ remainder + ⌊err / pull⌋ pulls keeps the hold
   * at or above the target — with 128-sample pulls that is about the error itself, with 10 ms
   * pulls a trim of the remainder or a whole pull. The stretcher is held to it exactly (it runs
   * on `limit + 61` samples). After a `noRoom` refusal (the voice's period did not fit) the
   * next try waits {@link TRIM_RETRY_MS}.
   */
  private accelerateLimit(errMs: number, fifoSamples: number, nowMs: number): number {
    if (errMs < 0 || nowMs < this.trimRetryAtMs) return 0;
    const pull = this.frame.length;
    const limit = fifoSamples + Math.floor((errMs * SAMPLES_PER_MS) / pull) * pull;
    return limit >= TSM_MIN_PERIOD_SAMPLES ? limit : 0;
  }

  /** Plays the first `n` samples of `work` (through the stretcher, which records them). */
  private emit(n: number, op: number): number {
    const tsm = this.tsm;
    if (tsm === undefined) {
      this.fifo.write(this.work, n);
    } else {
      const m = tsm.run('pass', n);
      this.fifo.write(tsm.outputView, m);
    }
    return op;
  }

  /** Slot of the lowest-seq buffered packet at or after `nextSeq`, or -1. */
  private firstBuffered(st: { nextSeq: number }): number {
    return this.ring.first(st.nextSeq, this.stats.highestSeq);
  }

  /** `work` from `offset` (0 or 480), `n` samples (480 or 960). */
  private view(offset: number, n: number): Float32Array {
    return this.views[(offset === 0 ? 0 : 2) + (n === PACKET_20MS ? 1 : 0)]!;
  }

  /** Decodes slot `i` into `work` at `offset` and consumes it; returns its samples. */
  private decodeSlot(i: number, st: Playing, offset: number): number {
    const ring = this.ring;
    const n = ring.samples[i]!;
    const payload = ring.payload(i);
    st.nextSeq = ring.seq[i]! + 1;
    st.playTs = ring.ts[i]! + n;
    ring.release(i);
    this.frameSamples = n;
    const out = this.view(offset, n);
    let got: number;
    try {
      got = this.decoder.decode(payload, out);
    } catch (err) {
      // A corrupt packet must not stop the stream: count it and conceal the frame instead.
      if (this.decodeErrors++ % 1_000 === 0) log.debug('decode failed', { err });
      this.concealInto(out, 'plc');
      this.concealed++;
      return n;
    }
    if (got < n) out.fill(0, Math.max(0, got));
    this.kind = 'decoded';
    this.lastQuiet = this.isQuiet(out);
    return n;
  }

  private decodeFec(i: number, n: number): void {
    const out = this.view(0, n);
    try {
      this.decoder.decodeFec(this.ring.payload(i), out);
    } catch (err) {
      if (this.decodeErrors++ % 1_000 === 0) log.debug('FEC decode failed', { err });
      this.concealInto(out, 'plc');
      this.concealed++;
      return;
    }
    this.fecRecovered++;
    this.kind = 'fec';
    this.lastQuiet = this.isQuiet(out);
  }

  private conceal(n: number, kind: JitterFrameKind): void {
    this.concealInto(this.view(0, n), kind);
  }

  private concealInto(out: Float32Array, kind: JitterFrameKind): void {
    this.decoder.conceal(out);
    this.kind = kind;
    this.lastQuiet = kind === 'comfort' || this.isQuiet(out);
  }

  private zeros(n: number, kind: JitterFrameKind): void {
    this.view(0, n).fill(0);
    this.kind = kind;
    this.lastQuiet = true;
  }

  private isQuiet(x: Float32Array): boolean {
    let sum = 0;
    for (let k = 0; k < x.length; k++) sum += x[k]! * x[k]!;
    return sum / x.length < this.quietMeanSquare;
  }

  // ——— statistics ———

  private decodeLeadMs(): number {
    return this.state.status === 'playing' ? this.state.decodeLeadMs : 0;
  }

  private currentDelayMs(): number {
    const st = this.state;
    if (st.status === 'playing') return Math.max(0, st.playOffsetMs - this.delay.baseTransitMs);
    if (st.status === 'buffering') return st.startOffsetMs - this.delay.baseTransitMs;
    return 0;
  }
}

function range(name: string, value: number, lo: number, hi: number): void {
  if (!(Number.isFinite(value) && value >= lo && value <= hi)) {
    throw new RangeError(`${name} must be in [${lo}, ${hi}], got ${String(value)}`);
  }
}
