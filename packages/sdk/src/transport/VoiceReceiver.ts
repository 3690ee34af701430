import { MediaFlags, type MediaFrame, type ReceiverReport } from '@concord/protocol';
import type { OpusDecoderApi } from '@concord/wasm-dsp';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import { networkScore } from '../media/AdaptiveBitrateController.js';
import { ConnectionQualityTracker, type ConnectionQuality } from '../media/connectionQuality.js';
import { JitterBuffer, type JitterBufferOptions } from '../media/JitterBuffer.js';
import { TypedEmitter } from '../TypedEmitter.js';
import type { Transport } from './Transport.js';

/** The pull clock's period: one 20 ms Opus frame. */
export const FRAME_MS = 20;

/** Where decoded frames go: `RemotePlayback` satisfies it; Node apps and tests bring their own. */
export interface PlaybackSink {
  /**
   * Queues one 20 ms frame (960 samples at 48 kHz) for `key` (a user id). The receiver never
   * releases a voice: the room does when the participant leaves, so a volume set on a
   * participant survives pauses in their stream.
   */
  pushFrame(key: string, samples: Float32Array): boolean;
  /**
   * Frames queued for `key` and not yet played, when the sink can tell (shared-memory rings).
   * Lets the receiver's wall-clock pull keep in step with the audio clock over a long call.
   */
  bufferedFrames?(key: string): number;
}

/**
 * Frames queued at the playback side beyond which one decoded frame is dropped instead of
 * queued. The jitter buffer already absorbs network jitter; this queue only has to cover the
 * main thread's timer jitter. Left unbounded it kept 2–7 frames (40–140 ms) of extra latency in
 * the browser e2e (bursts of catch-up pulls after stalls never drain: the worklet plays at the
 * audio clock); at 2 frames push-to-speaker measured ~12 ms. It also absorbs the slow drift
 * between the wall clock the receiver pulls on and the audio clock.
 */
export const MAX_PLAYBACK_BACKLOG_FRAMES = 2;

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
  /** Jitter buffer settings (the decoder is supplied per sender). */
  jitterBuffer?: Omit<JitterBufferOptions, 'decoder'>;
  /** Receiver report and quality period, ms. Default 1,000. */
  reportIntervalMs?: number;
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
  readonly quality: ConnectionQualityTracker;
  lastArrivalMs: number;
  /** Packets received when the last report was made. */
  receivedAtReport: number;
};

/**
 * This client's incoming voices: per remote ssrc a {@link JitterBuffer} with its own Opus
 * decoder; a drift-free 20 ms clock (`next += 20; setTimeout(…, max(1, next − now))`, as
 * discord.js voice's audio player) pulls one frame per sender and pushes it to the playback sink
 * under the sender's user id. Every `reportIntervalMs` it sends a RECEIVER_REPORT per room
 * (fractionLost, jitter, cumulative loss per sender) and updates each sender's connection
 * quality from `networkScore(loss, RTT, jitter)`.
 *
 * Threads: main thread, decoding included (≈ 31 µs per frame per sender with libopus WASM SIMD,
 * at most 3 forwarded speakers: < 0.5 % of a core). The clock runs only while a sender exists.
 */
export class VoiceReceiver extends TypedEmitter<VoiceReceiverEvents> {
  private readonly senders = new Map<number, Sender>();
  private readonly now: () => number;
  private readonly reportEveryTicks: number;
  private readonly idleTimeoutMs: number;
  private readonly log = getLogger('concord:receiver');
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextMs = 0;
  private ticks = 0;
  private closed = false;
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
      s.jb.push(
        {
          seq: frame.seq,
          timestamp: frame.timestamp,
          payload: frame.payload,
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
    const reportIntervalMs = options.reportIntervalMs ?? 1_000;
    if (!(reportIntervalMs >= FRAME_MS && reportIntervalMs <= 60_000))
      throw new RangeError(`reportIntervalMs must be in [20, 60000], got ${reportIntervalMs}`);
    this.reportEveryTicks = Math.round(reportIntervalMs / FRAME_MS);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
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
    return {
      room: s.owner.room,
      ssrc: s.ssrc,
      jitterMs: st.jitterMs,
      lossPct: st.lossPct,
      jitterBufferDelayMs: st.currentDelayMs,
      targetDelayMs: st.targetDelayMs,
      concealed: st.concealed,
      fecRecovered: st.fecRecovered,
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

  /**
   * Runs one 20 ms tick now: pulls a frame per sender, and every report interval sends the
   * reports and updates quality. Called by the clock; public for tests and custom clocks.
   * @throws {InvalidStateError} after `close()`.
   */
  /** Decoded frames dropped to keep the playback queue short (clock drift, see {@link MAX_PLAYBACK_BACKLOG_FRAMES}). */
  driftDrops = 0;

  tick(nowMs = this.now()): void {
    if (this.closed) throw new InvalidStateError('VoiceReceiver is closed');
    const sink = this.options.sink();
    for (const s of this.senders.values()) {
      if (nowMs - s.lastArrivalMs > this.idleTimeoutMs) {
        this.removeSender(s);
        continue;
      }
      const frame = s.jb.pull(nowMs);
      if (!sink) continue;
      const backlog = sink.bufferedFrames?.(s.owner.userId) ?? 0;
      if (backlog > MAX_PLAYBACK_BACKLOG_FRAMES) this.driftDrops++;
      else sink.pushFrame(s.owner.userId, frame);
    }
    if (++this.ticks % this.reportEveryTicks === 0) this.report();
  }

  private addSender(ssrc: number, owner: StreamOwner, arrivalMs: number): Sender {
    const jb = new JitterBuffer({
      ...this.options.jitterBuffer,
      decoder: this.options.createDecoder(),
    });
    const quality = new ConnectionQualityTracker();
    const s: Sender = { ssrc, owner, jb, quality, lastArrivalMs: arrivalMs, receivedAtReport: 0 };
    quality.on('connectionQualityChanged', (q, prev) =>
      this.safeEmit('connectionQualityChanged', owner, q, prev),
    );
    // A user who rejoined has a new ssrc: the old stream of the same user and room ends.
    for (const o of [...this.senders.values()])
      if (o.owner.room === owner.room && o.owner.userId === owner.userId) this.removeSender(o);
    this.senders.set(ssrc, s);
    this.log.info('stream started', { room: owner.room, userId: owner.userId, ssrc });
    this.safeEmit('streamStarted', owner, ssrc);
    if (this.timer === undefined) this.startClock();
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

  private report(): void {
    const byRoom = new Map<string, ReceiverReport[]>();
    const rtt = this.options.rttMs();
    const lost = !this.options.transport.ready;
    for (const s of this.senders.values()) {
      // A stream that sent nothing since the last report (muted, DTX, not selected) tells us
      // nothing new about the network: keep its quality, send no report (as RTCP does for
      // inactive sources).
      const received = s.jb.getStats().received;
      if (received === s.receivedAtReport) continue;
      s.receivedAtReport = received;
      const r = s.jb.takeReceiverReport();
      let list = byRoom.get(s.owner.room);
      if (!list) byRoom.set(s.owner.room, (list = []));
      list.push({
        ssrc: s.ssrc,
        fractionLost: r.fractionLost,
        jitterMs: Math.min(0xffff, Math.round(r.jitterMs)),
        lostTotal: Math.max(0, r.lostTotal),
      });
      const st = s.jb.getStats();
      const score = networkScore({
        lossPct: st.lossPct,
        jitterMs: st.jitterMs,
        rttMs: Number.isFinite(rtt) ? rtt : 0,
      });
      s.quality.update(score, lost);
    }
    for (const [room, reports] of byRoom) this.options.transport.sendReceiverReports(room, reports);
  }

  private startClock(): void {
    this.nextMs = this.now() + FRAME_MS;
    const run = (): void => {
      if (this.closed || this.timer === undefined) return;
      const now = this.now();
      this.tick(now);
      if (this.timer === undefined) return; // the last sender went away
      this.nextMs += FRAME_MS;
      // After a long stall (a throttled background tab) restart the schedule instead of bursting.
      if (now - this.nextMs > 10 * FRAME_MS) this.nextMs = now + FRAME_MS;
      this.timer = setTimeout(run, Math.max(1, this.nextMs - this.now()));
    };
    this.timer = setTimeout(run, FRAME_MS);
  }

  private stopClock(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
