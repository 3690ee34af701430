import {
  encodeMediaFrame,
  MAX_AUDIO_LEVEL,
  MediaFlags,
  opusPacketHasLbrr,
} from '@concord/protocol';
import type { OpusEncoderSettings } from '@concord/wasm-dsp';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import {
  AdaptiveBitrateController,
  DEFAULT_START_BITRATE_BPS,
  type AbrDecision,
  type AdaptiveBitrateOptions,
  type NetworkSample,
} from './AdaptiveBitrateController.js';
import {
  CAPTURE_FRAME_SAMPLES,
  FRAME_FLAG_MUTED,
  FRAME_FLAG_SPEAKING,
  FRAME_SAMPLES,
  SAMPLE_RATE_HZ,
} from '@concord/audio-worklet';
import type { CapturedFrame } from '../media/LocalAudio.js';
import { TypedEmitter } from '../TypedEmitter.js';
import type { Transport } from '../transport/Transport.js';

const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1000;
/** A receiver's report counts for the ABR this long after it arrived, ms. */
const REPORT_TTL_MS = 3_000;

/**
 * Where captured frames come from: `LocalAudio` (10 ms frames), or a bot's/test's own source
 * (10 or 20 ms frames: 480 or 960 samples at 48 kHz).
 */
export interface FrameSource {
  /** Subscribes to every processed frame; returns an unsubscribe function. */
  onFrame(listener: (frame: CapturedFrame) => void): () => void;
}

/**
 * The Opus encoder the sender drives: `inlineEncoder(WasmOpusEncoder)` on the calling thread, or
 * `WorkerOpusEncoder` in the codec worker.
 */
export interface SenderEncoder {
  /**
   * Encodes one packet's PCM (480 or 960 samples, as the last `configure({ frameMs })` said);
   * `done` receives the packet — synchronously or later, but in call order. The packet is valid
   * only during `done`; `pcm` may be reused once `encode` returns.
   */
  encode(pcm: Float32Array, done: (packet: Uint8Array) => void): void;
  /** Applies settings from the next frame on. */
  configure(changes: Partial<OpusEncoderSettings>): void;
  /** Frees the encoder. */
  destroy(): void;
  /** Mean encode time, µs per frame, when the encoder measures it. */
  readonly encodeUsMean?: number;
}

/** One stream the sender feeds: this client's membership of a room. */
export interface SendTarget {
  /** Room name. */
  room: string;
  /** This client's ssrc in the room (from its ROOM_JOINED entry); 0 = unknown, not sent. */
  ssrc: number;
  /** Muted in this room: nothing is sent, the timestamp keeps advancing. */
  muted: boolean;
}

/** A RECEIVER_REPORT about one of this client's streams (the dispatch's payload). */
export interface IncomingReceiverReport {
  fromUserId: string;
  ssrc: number;
  /** Loss since the receiver's previous report, 0–255 (lost / expected · 256). */
  fractionLost: number;
  /** Interarrival jitter, ms. */
  jitterMs: number;
}

/** Options of {@link VoiceSender}. */
export interface VoiceSenderOptions {
  /** Captured frames. */
  source: FrameSource;
  /** Where media frames go. */
  transport: Transport;
  /**
   * The Opus encoder (owned: `close()` destroys it). Configured here: the ABR's packet duration
   * (10 ms, 20 ms at the lowest rungs), bitrate and FEC, DTX on.
   */
  encoder: SenderEncoder;
  /** The streams to feed, asked once per frame (cheap: a handful of rooms). */
  targets: () => Iterable<SendTarget>;
  /** Adaptive bitrate settings (start 48 kbit/s). */
  abr?: AdaptiveBitrateOptions;
  /** Monotonic clock, ms. Default `performance.now()`. */
  now?: () => number;
  /** Randomness for the initial seq and timestamp of each stream (RFC 3550 §5.1). */
  random?: () => number;
}

/** Events of {@link VoiceSender}. */
export type VoiceSenderEvents = {
  /** The ABR moved the encoder's bitrate. */
  bitrateChanged: [bitrateBps: number, previousBps: number, decision: AbrDecision];
  /** Every ABR decision with the network sample it was made from. */
  decision: [decision: AbrDecision, sample: NetworkSample];
};

/** Counters of a {@link VoiceSender}; a snapshot. */
export interface VoiceSenderStats {
  /** Packets run through the encoder. */
  framesEncoded: number;
  /** The current packet duration, ms (10, or 20 at the lowest rungs or when configured). */
  packetMs: number;
  /** Captured frames refused for a length other than 480 or 960 samples. */
  framesRefused: number;
  /** Media frames handed to the transport (all streams). */
  framesSent: number;
  /** Media frames the transport dropped. */
  framesDropped: number;
  /** DTX packets not sent (the silence after the first DTX frame of a pause). */
  dtxSkipped: number;
  /** Opus payload bytes sent. */
  payloadBytesSent: number;
  /** Mean encode time per frame, µs (on the thread that encodes; 0 when not measured). */
  encodeUsMean: number;
  /** The encoder's current settings as the ABR set them. */
  bitrateBps: number;
  fec: boolean;
  expectedLossPct: number;
  /** The last network score (1 before any report). */
  score: number;
  /** The network sample behind the last decision (undefined before any report). */
  sample: NetworkSample | undefined;
}

type StreamState = { seq: number; timestamp: number; inDtx: boolean; seen: boolean };

/**
 * This client's outgoing voice: captured frames (10 ms from the capture worklet) are gathered
 * into packets of the ABR's duration — 10 ms by default, 20 ms at the lowest rungs
 * (`LONG_PACKET_MAX_BITRATE_BPS`) — each Opus-encoded once and sent as a media frame on
 * every room stream that is not muted, each with its own ssrc, seq (+1 per packet the transport
 * took) and RTP timestamp (+480 or +960 per packet, sent or not, so muting and DTX pauses
 * appear to receivers as timestamp jumps, never as loss). The packet's duration is in its Opus
 * TOC byte (RFC 6716 §3.1), which receivers read; a change of duration takes effect at a packet
 * boundary. A packet is speech when any of its frames is, muted when all are, and its level is
 * its loudest frame's. Flags: speech from the VAD bit, FEC
 * when the packet carries LBRR, DTX on the first ≤ 2-byte packet of a pause — the rest of the
 * pause is not sent (RFC 7587 §3.1.3). DTX is enabled in the encoder only while the VAD bit is
 * clear. Level = −dBov of the frame (RFC 6464), 127 = silence.
 *
 * The bitrate, FEC and expected loss follow an {@link AdaptiveBitrateController} fed by the
 * receivers' reports (worst receiver of the last 3 s) and the heartbeat RTT.
 *
 * Threads: the sender itself runs on the main thread; where encoding runs is the
 * {@link SenderEncoder}'s choice. In browsers `MediaSession` uses `WorkerOpusEncoder` (libopus in
 * the dedicated codec worker, `concord-codec-worker.js`), because although encoding measured
 * harmless on average — Chromium main thread, warm: 315–342 µs per 20 ms frame at 24–128 kbit/s
 * (1.6–1.7 % of a core) — it costs up to ≈ 1.3 ms per frame in the first seconds while the wasm
 * tiers up, and any main-thread stall (layout, GC, app code) would delay every outgoing frame;
 * in the worker a busy page only delays packets, never capture. If the worker cannot start it
 * falls back to `inlineEncoder` on the main thread. In Node (bots, tests) encoding is inline.
 * Timestamps are taken at capture and seq at send, so an asynchronous encoder changes nothing
 * on the wire.
 */
export class VoiceSender extends TypedEmitter<VoiceSenderEvents> {
  private readonly abr: AdaptiveBitrateController;
  private readonly streams = new Map<number, StreamState>();
  private readonly reports = new Map<string, { report: IncomingReceiverReport; atMs: number }>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly unsubscribe: () => void;
  private readonly log = getLogger('concord:sender');
  private rttMs = 0;
  private closed = false;
  private dtx = true;
  private applied: { bitrateBps: number; fec: boolean; expectedLossPct: number };
  // The packet being gathered: PCM, samples in it, and its frames' merged metadata.
  private readonly pcm = new Float32Array(FRAME_SAMPLES);
  private readonly pcm10 = this.pcm.subarray(0, CAPTURE_FRAME_SAMPLES);
  private filled = 0;
  private packetSamples: number;
  private packetSpeaking = false;
  private packetMuted = true;
  private packetLevelDbfs = Number.NEGATIVE_INFINITY;
  private refused = 0;
  private lastSample: NetworkSample | undefined;
  private readonly counters = {
    framesEncoded: 0,
    framesSent: 0,
    framesDropped: 0,
    dtxSkipped: 0,
    payloadBytesSent: 0,
  };

  constructor(private readonly options: VoiceSenderOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.abr = new AdaptiveBitrateController(options.abr);
    const d = this.abr.decision;
    this.applied = { bitrateBps: d.bitrateBps, fec: d.fec, expectedLossPct: d.expectedLossPct };
    this.packetSamples = d.frameMs * SAMPLES_PER_MS;
    options.encoder.configure({
      frameMs: d.frameMs,
      bitrateBps: d.bitrateBps ?? DEFAULT_START_BITRATE_BPS,
      fec: d.fec,
      packetLossPercent: d.expectedLossPct,
      dtx: true,
    });
    this.abr.on('bitrateChanged', (bps, prev, decision) =>
      this.safeEmit('bitrateChanged', bps, prev, decision),
    );
    this.abr.on('decision', (decision, sample) => this.safeEmit('decision', decision, sample));
    this.unsubscribe = options.source.onFrame((frame) => this.onFrame(frame));
  }

  /** The ABR's latest decision. */
  get decision(): AbrDecision {
    return this.abr.decision;
  }

  /** Counters and the encoder's current settings. */
  getStats(): VoiceSenderStats {
    const c = this.counters;
    const d = this.abr.decision;
    return {
      framesEncoded: c.framesEncoded,
      packetMs: this.packetSamples / SAMPLES_PER_MS,
      framesRefused: this.refused,
      framesSent: c.framesSent,
      framesDropped: c.framesDropped,
      dtxSkipped: c.dtxSkipped,
      payloadBytesSent: c.payloadBytesSent,
      encodeUsMean: this.options.encoder.encodeUsMean ?? 0,
      bitrateBps: this.applied.bitrateBps,
      fec: this.applied.fec,
      expectedLossPct: this.applied.expectedLossPct,
      score: d.score,
      sample: this.lastSample,
    };
  }

  /**
   * Feeds a RECEIVER_REPORT about one of this client's streams to the ABR and applies the
   * decision to the encoder. Reports for ssrcs this sender does not feed are ignored.
   * @throws {InvalidStateError} after `close()`.
   */
  handleReceiverReport(report: IncomingReceiverReport): void {
    this.assertOpen();
    if (!this.streams.has(report.ssrc)) return;
    const nowMs = this.now();
    this.reports.set(`${report.fromUserId}|${report.ssrc}`, { report, atMs: nowMs });
    this.decide(nowMs);
  }

  /**
   * A new heartbeat round trip (ms): re-decides with the receivers' latest reports, if any is
   * fresh. @throws {InvalidStateError} after `close()`.
   */
  handleRtt(rttMs: number): void {
    this.assertOpen();
    if (!(Number.isFinite(rttMs) && rttMs >= 0)) return;
    this.rttMs = rttMs;
    if (this.reports.size > 0) this.decide(this.now());
  }

  /** Stops sending, destroys the encoder, removes listeners. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.abr.close();
    this.options.encoder.destroy();
    this.streams.clear();
    this.removeAllListeners();
  }

  private assertOpen(): void {
    if (this.closed) throw new InvalidStateError('VoiceSender is closed');
  }

  // Worst receiver wins: a sender serves everyone in the room with one encoding.
  private decide(nowMs: number): void {
    let lossPct = 0;
    let jitterMs = 0;
    for (const [key, { report, atMs }] of this.reports) {
      if (nowMs - atMs > REPORT_TTL_MS) {
        this.reports.delete(key);
        continue;
      }
      lossPct = Math.max(lossPct, report.fractionLost / 2.56);
      jitterMs = Math.max(jitterMs, report.jitterMs);
    }
    if (this.reports.size === 0) return;
    const sample: NetworkSample = { lossPct, rttMs: this.rttMs, jitterMs };
    this.lastSample = sample;
    const d = this.abr.update(sample, nowMs);
    const a = this.applied;
    if (
      d.bitrateBps !== a.bitrateBps ||
      d.fec !== a.fec ||
      d.expectedLossPct !== a.expectedLossPct
    ) {
      this.options.encoder.configure({
        bitrateBps: d.bitrateBps,
        fec: d.fec,
        packetLossPercent: d.expectedLossPct,
      });
      this.applied = { bitrateBps: d.bitrateBps, fec: d.fec, expectedLossPct: d.expectedLossPct };
      this.log.debug('encoder reconfigured', this.applied);
    }
  }

  private onFrame(frame: CapturedFrame): void {
    if (this.closed) return;
    const { samples, meta } = frame;
    const n = samples.length;
    if (n !== CAPTURE_FRAME_SAMPLES && n !== FRAME_SAMPLES) {
      if (this.refused++ === 0) this.log.warn('captured frame refused', { samples: n });
      return;
    }
    const speaking = (meta.flags & FRAME_FLAG_SPEAKING) !== 0;
    const muted = (meta.flags & FRAME_FLAG_MUTED) !== 0;
    // A 20 ms frame into 10 ms packets makes two packets; 10 ms frames into 20 ms ones, one per two.
    for (let at = 0; at < n;) {
      const take = Math.min(n - at, this.packetSamples - this.filled);
      this.pcm.set(take === n ? samples : samples.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      this.packetSpeaking ||= speaking;
      this.packetMuted &&= muted;
      if (meta.levelDbfs > this.packetLevelDbfs) this.packetLevelDbfs = meta.levelDbfs;
      if (this.filled === this.packetSamples) this.onPacket();
    }
  }

  private onPacket(): void {
    const samples = this.packetSamples;
    const speaking = this.packetSpeaking;
    const captureMuted = this.packetMuted;
    const level = audioLevel(this.packetLevelDbfs);
    this.filled = 0;
    this.packetSpeaking = false;
    this.packetMuted = true;
    this.packetLevelDbfs = Number.NEGATIVE_INFINITY;
    // Streams this packet belongs to; those gone since the last packet are forgotten.
    let anySend = false;
    for (const s of this.streams.values()) s.seen = false;
    const targets: SendTarget[] = [];
    for (const t of this.options.targets()) {
      if (t.ssrc === 0) continue;
      let s = this.streams.get(t.ssrc);
      if (!s) {
        s = {
          seq: Math.floor(this.random() * 0x10000) & 0xffff,
          timestamp: Math.floor(this.random() * 0x1_0000_0000) >>> 0,
          inDtx: false,
          seen: true,
        };
        this.streams.set(t.ssrc, s);
      }
      s.seen = true;
      targets.push(t);
      if (!t.muted && !captureMuted) anySend = true;
    }
    for (const [ssrc, s] of this.streams) if (!s.seen) this.streams.delete(ssrc);

    if (anySend) {
      // DTX follows Concord's VAD: off while it hears speech, so libopus's own activity detector
      // (which also classifies steady tones and music as inactive) never cuts a talker off.
      if (speaking === this.dtx) {
        this.dtx = !speaking;
        this.options.encoder.configure({ dtx: this.dtx });
      }
      // Timestamps are taken now, at capture; seq at send time (an async encoder answers later,
      // in order).
      const sends: { room: string; ssrc: number; timestamp: number }[] = [];
      for (const t of targets) {
        const s = this.streams.get(t.ssrc)!;
        if (t.muted || captureMuted) s.inDtx = false;
        else sends.push({ room: t.room, ssrc: t.ssrc, timestamp: s.timestamp });
      }
      this.counters.framesEncoded++;
      this.options.encoder.encode(samples === FRAME_SAMPLES ? this.pcm : this.pcm10, (packet) =>
        this.send(sends, packet, speaking, level),
      );
    }
    // Every packet's worth of capture advances every stream's clock, sent or not.
    for (const s of this.streams.values()) s.timestamp = (s.timestamp + samples) >>> 0;
    // A new packet duration from the ABR starts here, at a packet boundary.
    const want = this.abr.decision.frameMs * SAMPLES_PER_MS;
    if (want !== this.packetSamples) {
      this.packetSamples = want;
      this.options.encoder.configure({ frameMs: this.abr.decision.frameMs });
      this.log.debug('packet duration', { ms: want / SAMPLES_PER_MS });
    }
  }

  private send(
    sends: readonly { room: string; ssrc: number; timestamp: number }[],
    packet: Uint8Array,
    speaking: boolean,
    level: number,
  ): void {
    if (this.closed) return;
    const dtx = packet.length <= 2;
    let flags = speaking ? MediaFlags.Speech : 0;
    if (!dtx && opusPacketHasLbrr(packet)) flags |= MediaFlags.Fec;
    if (dtx) flags |= MediaFlags.Dtx;
    for (const { room, ssrc, timestamp } of sends) {
      const s = this.streams.get(ssrc);
      if (!s) continue; // the room was left while the frame was being encoded
      if (dtx && s.inDtx) {
        this.counters.dtxSkipped++;
        continue;
      }
      s.inDtx = dtx;
      const bytes = encodeMediaFrame({ ssrc, seq: s.seq, timestamp, flags, level }, packet);
      if (this.options.transport.sendMedia(room, bytes)) {
        // seq counts packets sent (RFC 3550): a frame the transport refused here (reconnecting,
        // socket backed up) never reached the network, so receivers see a timestamp jump, as
        // for DTX — not loss, which would turn FEC on and the bitrate down for a local hiccup.
        s.seq = (s.seq + 1) & 0xffff;
        this.counters.framesSent++;
        this.counters.payloadBytesSent += packet.length;
      } else this.counters.framesDropped++;
    }
  }
}

/** RFC 6464 audio level: −dBov rounded, clamped to 0–127 (127 = silence, also for −∞/NaN). */
export function audioLevel(levelDbfs: number): number {
  if (!(levelDbfs > -MAX_AUDIO_LEVEL)) return MAX_AUDIO_LEVEL;
  return Math.min(MAX_AUDIO_LEVEL, Math.max(0, Math.round(-levelDbfs)));
}
