import {
  MediaFlags,
  opusPacketSamples,
  type MediaFrame,
  type ReceiverReport,
} from '@concord/protocol';
import type { OpusDecoderApi } from '@concord/wasm-dsp';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import { networkScore } from '../send/AdaptiveBitrateController.js';
import { ConnectionQualityTracker, type ConnectionQuality } from '../stats/connectionQuality.js';
import {
  JitterBuffer,
  type JitterBufferOptions,
  type JitterTimeStretcher,
} from './JitterBuffer.js';
import { EARLY_REPORT_MIN_PACKETS, ReportScheduler } from './ReportScheduler.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { TimerPlayoutClock, type PlayoutClock } from './PlayoutClock.js';
import { CAPTURE_FRAME_SAMPLES, SAMPLE_RATE_HZ } from '@concord/audio-worklet';
import type { Transport } from '../transport/Transport.js';

const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1000;

/** Where decoded frames go: `RemotePlayback` satisfies it; Node apps and tests bring their own. */
export interface PlaybackSink {
  /**
   * Queues one decoded frame for `key` (a user id): `VoiceReceiverOptions.jitterBuffer.pullSamples`
   * samples at 48 kHz, 480 (10 ms) by default, never more than 960. The receiver never
   * releases a voice: the room does when the participant leaves, so a volume set on a
   * participant survives pauses in their stream.
   */
  pushFrame(key: string, samples: Float32Array): boolean;
  /**
   * Samples (48 kHz) queued for `key` and not yet played, or undefined when the sink cannot
   * tell. A sink that can tell is fed on demand: the receiver pulls a frame from the jitter
   * buffer only when the queue is below the low-water mark, and counts the queue in the jitter
   * buffer's delay — so the delay the listener hears is the one the jitter buffer steers.
   */
  bufferedSamples?(key: string): number | undefined;
  /**
   * A clock that ticks as the sink consumes audio (the playback processor's render quanta), or
   * undefined: the receiver then runs its own timer, one tick per frame (10 ms by default).
   */
  playoutClock?(): PlayoutClock | undefined;
}

/**
 * Low-water mark of a demand-fed sink's queue, in samples at 48 kHz (20 ms): below it the next
 * frame is pulled. The audio thread drains in bursts (10 ms = 480 samples per wake in Chromium
 * on Linux), and a main thread that misses one wake must still find a burst's worth queued.
 * The jitter buffer counts this queue in its delay, so a larger mark is not added latency on a
 * calm network: it only moves where the frame waits.
 */
export const PLAYOUT_LOW_WATER_SAMPLES = 960;

/** A report scoring above this is "good" (the ABR's default step-up threshold). */
const GOOD_REPORT_SCORE = 0.8;
/** An early report goes out once the stream would score this (a margin over "good"). */
const RECOVERED_SCORE = 0.85;

/** Frames pulled for one stream in one tick at most (catching up after a main-thread stall). */
const MAX_PULLS_PER_TICK = 3;

/** Who sends a stream, as the room lists say. */
export interface StreamOwner {
  room: string;
  userId: string;
}

/** Options of {@link VoiceReceiver}. */
export interface VoiceReceiverOptions {
  /** Where media frames come from and reports go. */
  transport: Transport;
  /** A fresh decoder per sender (the receiver owns and destroys it). */
  createDecoder: () => OpusDecoderApi;
  /** Maps an ssrc to its room and user (the rooms' participant lists); undefined = unknown. */
  resolve: (ssrc: number) => StreamOwner | undefined;
  /** The playback sink, asked per frame (undefined: decoded frames are dropped, e.g. no audio). */
  sink: () => PlaybackSink | undefined;
  /** The current round trip to the gateway in ms (NaN when unknown). */
  rttMs: () => number;
  /**
   * A fresh time stretcher per sender (the receiver owns and destroys it), or undefined: the
   * jitter buffer then moves its delay by whole frames only.
   */
  createTimeStretcher?: () => JitterTimeStretcher | undefined;
  /**
   * Jitter buffer settings (the decoder and stretcher are supplied per sender). `pullSamples`
   * (the frame the sink gets) defaults to 480 here: 10 ms of audio per pull, so the delay moves
   * on a 10 ms grid.
   */
  jitterBuffer?: Omit<JitterBufferOptions, 'decoder' | 'timeStretcher'>;
  /** Receiver report and quality period, ms. Default 1,000. */
  reportIntervalMs?: number;
  /**
   * Most RECEIVER_REPORT messages (one per room) sent per minute, bursts of up to 10 included.
   * Default 100: under the gateway's default limit of 120 per minute per connection, which
   * closes a connection that exceeds it — a client receiving in three rooms at once would
   * otherwise send 180.
   */
  reportsPerMinute?: number;
  /**
   * A sender silent this long (muted, or not among the relay's speakers) is dropped: its buffer
   * and decoder are freed and a later packet starts a new stream. Default 10,000 ms.
   */
  idleTimeoutMs?: number;
  /** Monotonic clock, ms. Default `performance.now()`. */
  now?: () => number;
}

/** Reception statistics of one remote participant's stream; a snapshot. */
export interface ParticipantMediaStats {
  /** Room of the stream. */
  room: string;
  /** The stream's ssrc. */
  ssrc: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  /** Loss over the last 5 s, percent. */
  lossPct: number;
  /** Delay the jitter buffer adds now, ms. */
  jitterBufferDelayMs: number;
  /** Delay it steers to, ms. */
  targetDelayMs: number;
  /** Frames concealed by PLC. */
  concealed: number;
  /** Lost frames rebuilt from in-band FEC. */
  fecRecovered: number;
  /**
   * Whether the delay moves by pitch periods (a time stretcher is attached) rather than by
   * whole frames.
   */
  timeStretch: boolean;
  /** Pitch periods removed to lower the delay (accelerate) so far. */
  accelerated: number;
  /** Pitch periods inserted to raise it (preemptive expand) so far. */
  expanded: number;
  /** Packets that came too late to play. */
  late: number;
  /** Packets received. */
  received: number;
  /** Connection quality of this stream (loss, jitter, RTT). */
  quality: ConnectionQuality;
}

/** Events of {@link VoiceReceiver}. */
export type VoiceReceiverEvents = {
  /** A remote participant's connection quality changed. */
  connectionQualityChanged: [
    owner: StreamOwner,
    quality: ConnectionQuality,
    previous: ConnectionQuality,
  ];
  /** A sender's stream started (first packet) or ended (left, idle or closed). */
  streamStarted: [owner: StreamOwner, ssrc: number];
  streamEnded: [owner: StreamOwner, ssrc: number];
};

type Sender = {
  readonly ssrc: number;
  readonly owner: StreamOwner;
  readonly jb: JitterBuffer;
  readonly stretching: boolean;
  readonly quality: ConnectionQualityTracker;
  lastArrivalMs: number;
  /** Packets received when the last report was made. */
  receivedAtReport: number;
  /** The network score of the last report sent about this stream, as its sender will see it. */
  reportedScore: number;
  /** The sink refused this stream's last frame: no pull before this time, ms. */
  refusedUntilMs: number;
};

/**
 * This client's incoming voices: per remote ssrc a {@link JitterBuffer} with its own Opus
 * decoder, feeding the playback sink under the sender's user id. In a cross-origin-isolated
 * page the receiver runs on the audio clock (the playback processor's render quanta, see
 * {@link PlaybackSink.playoutClock}) and pulls a frame only when the voice's playback queue
 * drops below {@link PLAYOUT_LOW_WATER_SAMPLES}; the queue counts toward the jitter buffer's
 * minimum delay, so a frame waits in one place, not two. Elsewhere (Node, no shared memory) a
 * drift-free timer (one tick per 10 ms frame) pulls one frame per sender per tick. Every `reportIntervalMs` it sends a
 * RECEIVER_REPORT per room
 * (fractionLost, jitter, cumulative loss per sender) and updates each sender's connection
 * quality from `networkScore(loss, RTT, jitter)`.
 *
 * Threads: main thread, decoding included (≈ 31 µs per frame per sender with libopus WASM SIMD,
 * at most 3 forwarded speakers: < 0.5 % of a core). The clock runs only while a sender exists.
 */
export class VoiceReceiver extends TypedEmitter<VoiceReceiverEvents> {
  private readonly senders = new Map<number, Sender>();
  private readonly now: () => number;
  private readonly reports: ReportScheduler;
  private readonly idleTimeoutMs: number;
  private readonly log = getLogger('concord:receiver');
  private clock: PlayoutClock | undefined;
  private reportTurn = 0;
  private tickErrors = 0;
  private closed = false;
  private readonly pullSamples: number;
  private readonly pullMs: number;
  private unknownFrames = 0;
  private pushErrors = 0;

  private readonly onMedia = (frame: MediaFrame, arrivalMs: number): void => {
    let s = this.senders.get(frame.ssrc);
    if (!s) {
      const owner = this.options.resolve(frame.ssrc);
      if (!owner) {
        this.unknownFrames++;
        return;
      }
      s = this.addSender(frame.ssrc, owner, arrivalMs);
    }
    s.lastArrivalMs = arrivalMs;
    try {
      // The packet's duration is in its Opus TOC (10 or 20 ms; the jitter buffer refuses others).
      const durationSamples = opusPacketSamples(frame.payload);
      s.jb.push(
        {
          seq: frame.seq,
          timestamp: frame.timestamp,
          payload: frame.payload,
          ...(durationSamples > 0 && { durationSamples }),
          fec: (frame.flags & MediaFlags.Fec) !== 0,
          speech: (frame.flags & MediaFlags.Speech) !== 0,
          resumed: (frame.flags & MediaFlags.Resumed) !== 0,
        },
        arrivalMs,
      );
    } catch (err) {
      if (this.pushErrors++ === 0) this.log.warn('media packet refused', { ssrc: frame.ssrc, err });
    }
  };

  constructor(private readonly options: VoiceReceiverOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
    this.reports = new ReportScheduler(
      {
        lostLately: () => this.anyStreamLostLately(),
        recovered: () => this.anyStreamRecovered(),
      },
      {
        ...(options.reportIntervalMs !== undefined && { intervalMs: options.reportIntervalMs }),
        ...(options.reportsPerMinute !== undefined && {
          reportsPerMinute: options.reportsPerMinute,
        }),
      },
    );
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.pullSamples = options.jitterBuffer?.pullSamples ?? CAPTURE_FRAME_SAMPLES;
    this.pullMs = this.pullSamples / SAMPLES_PER_MS;
    options.transport.on('media', this.onMedia);
  }

  /** Remote streams being received, by ssrc. */
  get ssrcs(): number[] {
    return [...this.senders.keys()];
  }

  /** Frames of unknown ssrcs dropped (not in any room's participant list). */
  get unknownFrameCount(): number {
    return this.unknownFrames;
  }

  /** Per-sender statistics, keyed by user id (the latest stream when a user sends in several rooms). */
  getStats(): Map<string, ParticipantMediaStats> {
    const out = new Map<string, ParticipantMediaStats>();
    for (const s of this.senders.values()) out.set(s.owner.userId, this.statsOf(s));
    return out;
  }

  /** Statistics of the stream `ssrc`, or undefined when it is not being received. */
  streamStats(ssrc: number): ParticipantMediaStats | undefined {
    const s = this.senders.get(ssrc);
    return s ? this.statsOf(s) : undefined;
  }

  private statsOf(s: Sender): ParticipantMediaStats {
    const st = s.jb.getStats();
    const ops = s.jb.getOperationStats();
    return {
      room: s.owner.room,
      ssrc: s.ssrc,
      jitterMs: st.jitterMs,
      lossPct: st.lossPct,
      jitterBufferDelayMs: st.currentDelayMs,
      targetDelayMs: st.targetDelayMs,
      concealed: st.concealed,
      fecRecovered: st.fecRecovered,
      timeStretch: s.stretching,
      accelerated: ops.accelerate.count,
      expanded: ops.preemptiveExpand.count,
      late: st.late,
      received: st.received,
      quality: s.quality.quality,
    };
  }

  /** The connection quality of `userId`'s stream, if one is being received. */
  qualityOf(userId: string): ConnectionQuality | undefined {
    for (const s of this.senders.values()) if (s.owner.userId === userId) return s.quality.quality;
    return undefined;
  }

  /** Ends every stream of `userId` in `room` (they left), or of the whole room when no user. */
  remove(room: string, userId?: string): void {
    for (const s of [...this.senders.values()]) {
      if (s.owner.room === room && (userId === undefined || s.owner.userId === userId))
        this.removeSender(s);
    }
  }

  /** Stops the clock, frees every buffer and decoder, removes listeners. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.transport.off('media', this.onMedia);
    for (const s of [...this.senders.values()]) this.removeSender(s);
    this.stopClock();
    this.removeAllListeners();
  }

  /** The clock feeding playback now: 'audio' (the playback processor's quanta) or 'timer'. */
  get clockKind(): PlayoutClock['kind'] | undefined {
    return this.clock?.kind;
  }

  /**
   * Runs one tick now. With a sink that reports its queue ({@link PlaybackSink.bufferedSamples})
   * each stream whose queue is below {@link PLAYOUT_LOW_WATER_SAMPLES} gets frames pulled until
   * it is not (at most 3 per tick), the queue counting toward the jitter buffer's minimum delay;
   * a stream the sink refuses (no mixer slot) is pulled at most once per frame period (10 ms), as if played.
   * Otherwise every stream gets one frame (a 10 ms timer calls this). Every report
   * interval it sends the reports and updates quality. Called by the clock; public for tests and
   * custom clocks.
   * @throws {InvalidStateError} after `close()`.
   */
  tick(nowMs = this.now()): void {
    if (this.closed) throw new InvalidStateError('VoiceReceiver is closed');
    const sink = this.options.sink();
    for (const s of this.senders.values()) {
      if (nowMs - s.lastArrivalMs > this.idleTimeoutMs) {
        this.removeSender(s);
        continue;
      }
      const key = s.owner.userId;
      let queued = sink?.bufferedSamples?.(key);
      if (queued === undefined) {
        const frame = s.jb.pull(nowMs);
        sink?.pushFrame(key, frame);
        continue;
      }
      if (nowMs < s.refusedUntilMs) continue;
      for (let n = 0; n < MAX_PULLS_PER_TICK && queued < PLAYOUT_LOW_WATER_SAMPLES; n++) {
        const frame = s.jb.pull(nowMs, queued / SAMPLES_PER_MS);
        if (!sink!.pushFrame(key, frame)) {
          // Nowhere to play it (every slot taken): keep the stream's clock at real time.
          s.refusedUntilMs = nowMs + this.pullMs;
          break;
        }
        queued += frame.length;
      }
    }
    if (this.reports.due(nowMs, this.pullMs)) this.report(nowMs);
  }

  /** Reports sent early (fast feedback after a bad report, see `ReportScheduler`). */
  get fastReporting(): boolean {
    return this.reports.fastReporting;
  }

  /** Room reports put off because the report budget was spent (see `reportsPerMinute`). */
  get reportsDeferred(): number {
    return this.reports.deferred;
  }

  private rtt(): number {
    const rtt = this.options.rttMs();
    return Number.isFinite(rtt) ? rtt : 0;
  }

  /** A stream whose last report was bad has been clean since, long enough to say so early. */
  private anyStreamRecovered(): boolean {
    for (const s of this.senders.values()) {
      if (s.reportedScore > GOOD_REPORT_SCORE || s.jb.cleanRun < EARLY_REPORT_MIN_PACKETS) continue;
      const jitterMs = s.jb.getStats().jitterMs;
      if (networkScore({ lossPct: 0, jitterMs, rttMs: this.rtt() }) > RECOVERED_SCORE) return true;
    }
    return false;
  }

  /** A stream had a sequence gap within its last few packets. */
  private anyStreamLostLately(): boolean {
    for (const s of this.senders.values())
      if (s.jb.cleanRun < EARLY_REPORT_MIN_PACKETS) return true;
    return false;
  }

  private addSender(ssrc: number, owner: StreamOwner, arrivalMs: number): Sender {
    const timeStretcher = this.options.createTimeStretcher?.();
    const jb = new JitterBuffer({
      ...this.options.jitterBuffer,
      pullSamples: this.pullSamples,
      decoder: this.options.createDecoder(),
      ...(timeStretcher && { timeStretcher }),
    });
    const quality = new ConnectionQualityTracker();
    const s: Sender = {
      ssrc,
      owner,
      jb,
      stretching: timeStretcher !== undefined,
      quality,
      lastArrivalMs: arrivalMs,
      receivedAtReport: 0,
      reportedScore: 1,
      refusedUntilMs: Number.NEGATIVE_INFINITY,
    };
    quality.on('connectionQualityChanged', (q, prev) =>
      this.safeEmit('connectionQualityChanged', owner, q, prev),
    );
    // A user who rejoined has a new ssrc: the old stream of the same user and room ends.
    for (const o of [...this.senders.values()])
      if (o.owner.room === owner.room && o.owner.userId === owner.userId) this.removeSender(o);
    this.senders.set(ssrc, s);
    this.log.info('stream started', { room: owner.room, userId: owner.userId, ssrc });
    this.safeEmit('streamStarted', owner, ssrc);
    if (this.clock === undefined) this.startClock();
    return s;
  }

  private removeSender(s: Sender): void {
    if (this.senders.get(s.ssrc) !== s) return;
    this.senders.delete(s.ssrc);
    s.jb.close();
    s.quality.close();
    this.log.info('stream ended', { room: s.owner.room, userId: s.owner.userId, ssrc: s.ssrc });
    this.safeEmit('streamEnded', s.owner, s.ssrc);
    if (this.senders.size === 0) this.stopClock();
  }

  private report(nowMs: number): void {
    const rtt = this.rtt();
    const lost = !this.options.transport.ready;
    const active = new Map<string, Sender[]>();
    for (const s of this.senders.values()) {
      // A stream that sent nothing since the last report (muted, DTX, not selected) tells us
      // nothing new about the network: keep its quality, send no report (as RTCP does for
      // inactive sources).
      const st = s.jb.getStats();
      if (st.received === s.receivedAtReport) continue;
      s.quality.update(
        networkScore({ lossPct: st.lossPct, jitterMs: st.jitterMs, rttMs: rtt }),
        lost,
      );
      let list = active.get(s.owner.room);
      if (!list) active.set(s.owner.room, (list = []));
      list.push(s);
    }
    // One message per room, within the report budget; rooms take turns going first, so when a
    // client in many rooms runs out, no room is starved (a deferred room's next report covers
    // the longer interval, as RTCP's do).
    const rooms = [...active.keys()];
    for (let k = 0; k < rooms.length; k++) {
      const room = rooms[(k + this.reportTurn) % rooms.length]!;
      if (!this.reports.takeToken(nowMs)) continue;
      const reports = active.get(room)!.map((s) => this.takeReport(s, rtt));
      this.options.transport.sendReceiverReports(room, reports);
    }
    this.reportTurn++;
  }

  private takeReport(s: Sender, rttMs: number): ReceiverReport {
    s.receivedAtReport = s.jb.getStats().received;
    const r = s.jb.takeReceiverReport();
    const report: ReceiverReport = {
      ssrc: s.ssrc,
      fractionLost: r.fractionLost,
      jitterMs: Math.min(0xffff, Math.round(r.jitterMs)),
      lostTotal: Math.max(0, r.lostTotal),
    };
    s.reportedScore = networkScore({
      lossPct: report.fractionLost / 2.56,
      jitterMs: report.jitterMs,
      rttMs,
    });
    return report;
  }

  private startClock(): void {
    const clock =
      this.options.sink()?.playoutClock?.() ?? new TimerPlayoutClock(this.pullMs, this.now);
    this.clock = clock;
    this.reports.restart();
    this.log.debug('playout clock', { kind: clock.kind });
    clock.start((nowMs) => {
      if (this.closed || this.clock !== clock) return;
      try {
        this.tick(nowMs);
      } catch (err) {
        if (this.tickErrors++ === 0) this.log.error('receiver tick failed', { err });
      }
    });
  }

  private stopClock(): void {
    this.clock?.stop();
    this.clock = undefined;
  }
}
