import { Op, type DispatchMessage } from '@concord/protocol';
import type { Device } from 'mediasoup-client';
import type { Consumer, Producer, Transport as MsTransport } from 'mediasoup-client/types';
import type { GatewayConnection } from '../connection/GatewayConnection.js';
import { InvalidStateError, MediaError } from '../errors.js';
import { getLogger } from '../logger.js';
import {
  AdaptiveBitrateController,
  BITRATE_LADDER_BPS,
  networkScore,
  type AbrDecision,
  type AdaptiveBitrateOptions,
} from '../send/AdaptiveBitrateController.js';
import { ConnectionQualityTracker, type ConnectionQuality } from '../stats/connectionQuality.js';
import { TypedEmitter } from '../TypedEmitter.js';

/** Opus settings of the WebRTC producer (RFC 7587 fmtp parameters). */
export interface WebRtcOpusOptions {
  /**
   * Packet duration, ms (default 20). 10 is accepted, but under 5 % loss in the e2e suite the
   * ABR then sometimes stayed low after the loss ended (2 of 3 runs), which 20 never did.
   */
  ptimeMs?: 10 | 20;
}

/** What a {@link WebRtcTransport} needs from its client. */
export interface WebRtcHost {
  connection: GatewayConnection;
  /** The processed microphone track (undefined while capture is off). */
  localTrack(): MediaStreamTrack | undefined;
  /** Whether this client is muted in `room`. */
  isMuted(room: string): boolean;
  /** Whether this client is deafened in `room`. */
  isDeafened(room: string): boolean;
  /** The user id of the member with stream `ssrc` in `room`. */
  ownerOf(room: string, ssrc: number): string | undefined;
  /** Where remote tracks play (undefined while the audio engine is not running). */
  playback():
    | { attachTrack(key: string, track: MediaStreamTrack): boolean; detachTrack(key: string): void }
    | undefined;
  /** Heartbeat round trip, ms. */
  rttMs(): number;
}

/** A room's WebRTC link state. */
export type WebRtcLinkState = 'connecting' | 'connected' | 'failed' | 'closed';

/** Reception statistics of one remote participant heard over WebRTC. */
export interface WebRtcReceiveStats {
  room: string;
  ssrc: number;
  userId: string;
  jitterMs: number;
  lossPct: number;
  jitterBufferDelayMs: number;
  concealedFrames: number;
  fecPackets: number;
  received: number;
  quality: ConnectionQuality;
}

/** Events of a {@link WebRtcTransport}. */
export type WebRtcTransportEvents = {
  /** A room's link changed state (`failed`: ICE/DTLS failed or did not connect in time). */
  linkState: [room: string, state: WebRtcLinkState];
  /** A room's connected link lost connectivity (ICE `disconnected`; it may come back). */
  linkInterrupted: [room: string];
  /**
   * Nothing has come through the room's link for `silentMs` (ms) while something should have
   * (the SFU's uplink reports say every second that it receives this client's voice; ICE
   * consent is answered every 2.5 s): UDP stopped, long before ICE says `disconnected`.
   */
  linkSilent: [room: string, silentMs: number];
  /** ICE started checking on one of the room's transports (connectivity is being tried). */
  iceStarted: [room: string];
  /** The gateway reset a room's WebRTC objects (worker restart): set it up again. */
  reset: [room: string];
  /** The ABR moved the producer's bitrate. */
  bitrateChanged: [bitrateBps: number, previousBps: number, decision: AbrDecision];
  /** A remote participant's reception quality changed. */
  connectionQualityChanged: [
    room: string,
    userId: string,
    quality: ConnectionQuality,
    previous: ConnectionQuality,
  ];
};

interface RoomLink {
  room: string;
  send: MsTransport;
  recv: MsTransport;
  producer: Producer | undefined;
  /** consumer id → its consumer, the member's ssrc and user id. */
  consumers: Map<string, { consumer: Consumer; ssrc: number; userId: string }>;
  state: WebRtcLinkState;
  iceStarted: boolean;
  /** Per remote participant: last cumulative counters, for per-interval loss. */
  counters: Map<string, { lost: number; received: number }>;
  quality: Map<string, ConnectionQualityTracker>;
  /** Time stamp of the last RTCP receiver report fed to the ABR. */
  lastReport: number;
  /** ICE consent answers counted on the send transport's selected pair so far. */
  iceAnswers: number;
  /** `linkSilent` was emitted for this link (once per link). */
  silent: boolean;
  /** Whether the SFU has sent uplink reports on this link (a gateway that measures uplinks). */
  uplinkReports: boolean;
  /**
   * `performance.now()` of the last uplink report, or of what restarted the wait for one
   * (connected, unmuted): while producing, reports come every second.
   */
  uplinkRefMs: number;
}

const STATS_INTERVAL_MS = 1_000;
/** Round trips count toward the ABR's path RTT this long, ms. */
const RTT_WINDOW_MS = 10_000;
/** How often the links are checked for silence, ms. */
const LIVENESS_INTERVAL_MS = 250;
/**
 * While producing, no uplink report from the SFU for this long means it receives nothing of
 * this client, ms: it reports every second while packets arrive (DTX still sends one every
 * 400 ms), so this is two reports missed.
 */
const UPLINK_SILENCE_MS = 2_200;
/**
 * Nothing at all on a transport for this long means the link is dead, ms: its only sure traffic
 * is ICE consent, answered every 2.5 s.
 */
const TRANSPORT_SILENCE_MS = 6_000;
/** After this long without an SFU uplink report, RTCP receiver reports drive the ABR again, ms. */
const UPLINK_REPORT_STALE_MS = 3_000;
/** Top of the ladder: the fmtp ceiling; the ABR steers below it with `maxBitrate`. */
const MAX_BITRATE_BPS = BITRATE_LADDER_BPS[BITRATE_LADDER_BPS.length - 1]!;

/**
 * Voice over WebRTC through the gateway's mediasoup SFU (mediasoup-client), per room: a send
 * transport producing the capture worklet's processed track (the whole Concord chain — echo
 * canceller, RNNoise, AGC — in front; Opus mono, DTX, in-band FEC, ptime, max average bitrate),
 * a receive transport whose consumers play through the playback worklet (same mix, volume,
 * limiter and echo reference as the WebSocket path). Signalling goes over the gateway socket.
 * The bitrate follows the same {@link AdaptiveBitrateController} as the WebSocket path, fed from
 * RTCP (remote-inbound-rtp: loss, RTT, jitter). Browsers only (needs `RTCPeerConnection`).
 * Main thread.
 */
export class WebRtcTransport extends TypedEmitter<WebRtcTransportEvents> {
  /** Implementation name. */
  readonly kind = 'webrtc';
  private device: Device | undefined;
  private readonly links = new Map<string, RoomLink>();
  private readonly abr: AdaptiveBitrateController;
  private readonly log = getLogger('concord:webrtc');
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private livenessTimer: ReturnType<typeof setInterval> | undefined;
  /** `performance.now()` of the last SFU uplink report (−∞: none yet). */
  private lastUplinkReportAt = Number.NEGATIVE_INFINITY;
  /** Round trips to the SFU measured in the last {@link RTT_WINDOW_MS} (RTCP and ICE), ms. */
  private readonly rtts: Array<{ atMs: number; rttMs: number }> = [];

  private addRtt(rttMs: number): void {
    const now = performance.now();
    this.rtts.push({ atMs: now, rttMs });
    while (this.rtts.length > 0 && now - this.rtts[0]!.atMs > RTT_WINDOW_MS) this.rtts.shift();
  }

  /**
   * The path's round trip for the ABR: the lowest measured in the last 10 s (RTCP every ~5 s,
   * ICE consent every 2.5 s), else the gateway heartbeat's, ms. The lowest, because a sample
   * taken in a queueing burst would hold the score down for seconds after the burst ended;
   * queueing shows in the jitter, the round trip stands for the path's length.
   */
  private currentRttMs(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const r of this.rtts) if (r.rttMs < min) min = r.rttMs;
    const r = Number.isFinite(min) ? min : this.host.rttMs();
    return Number.isFinite(r) ? r : 0;
  }
  private closed = false;
  private readonly onDispatch = (m: DispatchMessage): void => this.handleDispatch(m);

  /** Whether this environment can do WebRTC (a browser with `RTCPeerConnection`). */
  static supported(): boolean {
    return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function';
  }

  constructor(
    private readonly host: WebRtcHost,
    private readonly options: {
      opus?: WebRtcOpusOptions;
      abr?: AdaptiveBitrateOptions;
      /**
       * mediasoup-client handler (default: detected from the browser). Node peers (libwebrtc
       * through `@roamhq/wrtc`, for tests and bots) pass `'Chrome111'`.
       */
      handlerName?: 'Chrome111' | 'Chrome74' | 'Firefox120' | 'Safari12';
    } = {},
  ) {
    super();
    this.abr = new AdaptiveBitrateController(options.abr);
    this.abr.on('bitrateChanged', (bps, prev, d) => {
      for (const link of this.links.values())
        void link.producer?.setRtpEncodingParameters({ maxBitrate: bps }).catch(() => undefined);
      this.safeEmit('bitrateChanged', bps, prev, d);
    });
    host.connection.on('dispatch', this.onDispatch);
  }

  /** The ABR's latest decision (bitrate, FEC, score). */
  get decision(): AbrDecision {
    return this.abr.decision;
  }

  /** Rooms with a WebRTC link, and its state. */
  get rooms(): ReadonlyMap<string, WebRtcLinkState> {
    return new Map([...this.links].map(([room, l]) => [room, l.state]));
  }

  /**
   * Moves `room`'s media to WebRTC: asks the gateway for transports, produces the local track
   * (when capture runs) and consumes the room. Resolves once the room's link is set up; whether
   * ICE connects is reported by `linkState`.
   * @throws {RequestError} `WEBRTC_UNAVAILABLE` when the gateway offers no WebRTC.
   * @throws {MediaError} when this browser cannot do it.
   */
  async open(room: string): Promise<void> {
    if (this.closed) throw new InvalidStateError('WebRTC transport is closed');
    if (!WebRtcTransport.supported()) throw MediaError.unsupported('WebRTC (RTCPeerConnection)');
    await this.closeLink(room, false);
    const conn = this.host.connection;
    const reply = await conn.request((req) => ({
      op: Op.SetMediaPath,
      d: { req, room, path: 'webrtc' },
    }));
    if (reply.t !== 'WEBRTC_TRANSPORTS') throw new Error(`unexpected reply ${reply.t}`);
    const device = await this.loadDevice(JSON.parse(reply.d.rtpCapabilities) as never);
    const send = device.createSendTransport(JSON.parse(reply.d.sendTransport) as never);
    const recv = device.createRecvTransport(JSON.parse(reply.d.recvTransport) as never);
    const link: RoomLink = {
      room,
      send,
      recv,
      producer: undefined,
      consumers: new Map(),
      state: 'connecting',
      iceStarted: false,
      counters: new Map(),
      quality: new Map(),
      lastReport: 0,
      iceAnswers: 0,
      silent: false,
      uplinkReports: false,
      uplinkRefMs: 0,
    };
    this.links.set(room, link);
    this.statsTimer ??= setInterval(() => void this.pollStats(), STATS_INTERVAL_MS);
    this.livenessTimer ??= setInterval(() => void this.checkLiveness(), LIVENESS_INTERVAL_MS);
    for (const t of [send, recv]) {
      t.on('connect', ({ dtlsParameters }, callback, errback) => {
        conn
          .request((req) => ({
            op: Op.WebRtcConnect,
            d: { req, room, transportId: t.id, dtlsParameters: JSON.stringify(dtlsParameters) },
          }))
          .then(() => callback(), errback);
      });
      t.on('connectionstatechange', (state) => this.onTransportState(link, state));
    }
    send.on('produce', ({ rtpParameters }, callback, errback) => {
      conn
        .request((req) => ({
          op: Op.WebRtcProduce,
          d: { req, room, transportId: send.id, rtpParameters: JSON.stringify(rtpParameters) },
        }))
        .then((r) => {
          if (r.t === 'WEBRTC_PRODUCED') callback({ id: r.d.producerId });
          else errback(new Error(`unexpected reply ${r.t}`));
        }, errback);
    });
    await conn.request((req) => ({
      op: Op.WebRtcConsume,
      d: { req, room, rtpCapabilities: JSON.stringify(device.rtpCapabilities) },
    }));
    await this.produce(link);
    this.log.info('webrtc link open', { room });
  }

  /**
   * Moves `room`'s media back to the WebSocket path (tells the gateway when `tellGateway`),
   * closing its transports (idempotent).
   */
  async closeLink(room: string, tellGateway = true): Promise<void> {
    const link = this.links.get(room);
    if (link) {
      this.links.delete(room);
      this.dispose(link);
      this.setState(link, 'closed');
    }
    if (tellGateway && link && this.host.connection.state.status === 'ready') {
      await this.host.connection
        .request((req) => ({ op: Op.SetMediaPath, d: { req, room, path: 'websocket' } }))
        .catch((err: unknown) => this.log.warn('switching back to websocket failed', { err }));
    }
  }

  /**
   * Whether `room`'s link has something that must connect (a producer or a consumer): then ICE
   * is expected to succeed soon.
   */
  expectsConnection(room: string): boolean {
    const link = this.links.get(room);
    return link !== undefined && (link.producer !== undefined || link.consumers.size > 0);
  }

  /** Produces (or replaces) the local track in every room, e.g. after capture (re)started. */
  async refreshTrack(): Promise<void> {
    for (const link of this.links.values()) await this.produce(link);
  }

  /**
   * The SFU's report of what it received of this client's stream in `report.room` (loss and
   * jitter over the last second; RECEIVER_REPORT with an empty `fromUserId`). Feeds the ABR with
   * the latest round trip; while these arrive, RTCP receiver reports (every ~5 s from mediasoup
   * for audio) no longer do.
   */
  private handleUplinkReport(report: {
    room: string;
    fractionLost: number;
    jitterMs: number;
  }): void {
    const link = this.links.get(report.room);
    if (!link || link.state !== 'connected') return;
    const now = performance.now();
    this.lastUplinkReportAt = now;
    link.uplinkReports = true;
    link.uplinkRefMs = now;
    const sample = {
      lossPct: (report.fractionLost / 256) * 100,
      rttMs: this.currentRttMs(),
      jitterMs: report.jitterMs,
    };
    const d = this.abr.update(sample, now);
    this.log.debug('uplink report', { ...sample, score: d.score, bitrateBps: d.bitrateBps });
  }

  /** Pauses or resumes the room's producer (muted: nothing is sent). */
  setMuted(room: string, muted: boolean): void {
    const link = this.links.get(room);
    const p = link?.producer;
    if (!link || !p) return;
    if (muted) p.pause();
    else {
      p.resume();
      link.uplinkRefMs = performance.now();
    }
  }

  /** Silences (or restores) the room's remote tracks while deafened. */
  setDeafened(room: string, deafened: boolean): void {
    const link = this.links.get(room);
    if (!link) return;
    for (const c of link.consumers.values()) c.consumer.track.enabled = !deafened;
  }

  /** Reception statistics of the remote participants heard over WebRTC (latest poll). */
  receiveStats(): WebRtcReceiveStats[] {
    return [...this.lastReceive.values()];
  }

  /** Closes every link and stops (idempotent). Does not tell the gateway. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const link of this.links.values()) this.dispose(link);
    this.links.clear();
    this.host.connection.off('dispatch', this.onDispatch);
    this.abr.close();
    this.removeAllListeners();
  }

  // ---- internals ----

  private readonly lastReceive = new Map<string, WebRtcReceiveStats>();

  private async loadDevice(routerRtpCapabilities: never): Promise<Device> {
    if (this.device?.loaded) return this.device;
    // Loaded on first use: a page that never opens a WebRTC link never downloads mediasoup-client
    // (its own chunk of the browser bundle).
    const { Device } = await import('mediasoup-client');
    const device = this.options.handlerName
      ? new Device({ handlerName: this.options.handlerName })
      : await Device.factory();
    await device.load({ routerRtpCapabilities });
    if (!device.canProduce('audio')) throw MediaError.unsupported('sending Opus audio over WebRTC');
    this.device = device;
    return device;
  }

  private async produce(link: RoomLink): Promise<void> {
    const track = this.host.localTrack();
    if (!track) return;
    if (link.producer && !link.producer.closed) {
      if (link.producer.track !== track) await link.producer.replaceTrack({ track });
      return;
    }
    const bitrateBps = this.abr.decision.bitrateBps;
    link.producer = await link.send.produce({
      track,
      stopTracks: false,
      zeroRtpOnPause: true,
      encodings: [{ maxBitrate: bitrateBps }],
      codecOptions: {
        opusStereo: false,
        opusDtx: true,
        opusFec: true,
        opusPtime: this.options.opus?.ptimeMs ?? 20,
        opusMaxAverageBitrate: MAX_BITRATE_BPS,
      },
    });
    if (this.host.isMuted(link.room)) link.producer.pause();
  }

  private handleDispatch(m: DispatchMessage): void {
    switch (m.t) {
      case 'RECEIVER_REPORT':
        // The SFU's measurement of this client's stream (its listeners' reports stay on the
        // WebSocket transport): the ABR's input.
        if (m.d.fromUserId === '') this.handleUplinkReport(m.d);
        return;
      case 'WEBRTC_CONSUMER': {
        const link = this.links.get(m.d.room);
        if (link) void this.consume(link, m.d);
        return;
      }
      case 'WEBRTC_CONSUMER_CLOSED': {
        const link = this.links.get(m.d.room);
        const c = link?.consumers.get(m.d.consumerId);
        if (!link || !c) return;
        link.consumers.delete(m.d.consumerId);
        c.consumer.close();
        this.host.playback()?.detachTrack(c.userId);
        return;
      }
      case 'WEBRTC_RESET': {
        const link = this.links.get(m.d.room);
        if (!link) return;
        this.links.delete(m.d.room);
        this.dispose(link);
        this.setState(link, 'closed');
        this.log.warn('webrtc reset by the gateway', { room: m.d.room, reason: m.d.reason });
        this.safeEmit('reset', m.d.room);
        return;
      }
      default:
        return;
    }
  }

  private async consume(
    link: RoomLink,
    d: Extract<DispatchMessage, { t: 'WEBRTC_CONSUMER' }>['d'],
  ): Promise<void> {
    try {
      const consumer = await link.recv.consume({
        id: d.consumerId,
        producerId: d.producerId,
        kind: 'audio',
        rtpParameters: JSON.parse(d.rtpParameters) as never,
      });
      if (this.links.get(link.room) !== link) {
        consumer.close();
        return;
      }
      const userId = this.host.ownerOf(link.room, d.ssrc) ?? `ssrc-${d.ssrc}`;
      link.consumers.set(d.consumerId, { consumer, ssrc: d.ssrc, userId });
      consumer.track.enabled = !this.host.isDeafened(link.room);
      if (!this.host.playback()?.attachTrack(userId, consumer.track))
        this.log.warn('no playback slot for a webrtc voice', { room: link.room, userId });
      this.host.connection.send({
        op: Op.WebRtcResume,
        d: { room: link.room, consumerId: d.consumerId },
      });
    } catch (err) {
      this.log.warn('consume failed', { room: link.room, err });
    }
  }

  private onTransportState(link: RoomLink, state: string): void {
    if (this.links.get(link.room) !== link) return;
    if (state === 'connecting' && !link.iceStarted) {
      link.iceStarted = true;
      this.safeEmit('iceStarted', link.room);
    }
    if (state === 'connected') {
      link.uplinkRefMs = performance.now();
      this.setState(link, 'connected');
    } else if (state === 'failed') this.setState(link, 'failed');
    else if (state === 'disconnected') {
      // ICE may come back by itself; `failed` follows if it does not (after many seconds).
      this.log.info('webrtc link disconnected', { room: link.room });
      this.setState(link, 'connecting');
      this.safeEmit('linkInterrupted', link.room);
    }
  }

  private setState(link: RoomLink, state: WebRtcLinkState): void {
    if (link.state === state) return;
    link.state = state;
    this.safeEmit('linkState', link.room, state);
  }

  private dispose(link: RoomLink): void {
    for (const c of link.consumers.values()) {
      c.consumer.close();
      this.host.playback()?.detachTrack(c.userId);
    }
    link.consumers.clear();
    link.producer?.close();
    link.send.close();
    link.recv.close();
    for (const q of link.quality.values()) q.close();
  }

  // UDP can stop without ICE noticing for 5–7 s (measured in Chromium): watch what arrives.
  private async checkLiveness(): Promise<void> {
    for (const link of [...this.links.values()]) {
      if (link.state !== 'connected' || link.silent) continue;
      try {
        const producing = !!link.producer && !link.producer.closed && !link.producer.paused;
        const uplink = producing && link.uplinkReports ? performance.now() - link.uplinkRefMs : 0;
        const send = await silenceMs(link.send);
        const recv = await silenceMs(link.recv);
        if (this.links.get(link.room) !== link || link.state !== 'connected' || link.silent)
          continue;
        if (
          uplink >= UPLINK_SILENCE_MS ||
          send >= TRANSPORT_SILENCE_MS ||
          recv >= TRANSPORT_SILENCE_MS
        ) {
          link.silent = true;
          const silentMs = Math.round(Math.max(uplink, send, recv));
          this.log.warn('webrtc link silent', { room: link.room, silentMs });
          this.safeEmit('linkSilent', link.room, silentMs);
        }
      } catch (err) {
        this.log.debug('webrtc liveness check failed', { err });
      }
    }
  }

  // RTCP-driven ABR (the same score and ladder as the WebSocket path) and reception stats.
  private async pollStats(): Promise<void> {
    const now = performance.now();
    for (const link of [...this.links.values()]) {
      if (link.state !== 'connected') continue;
      try {
        if (link.producer && !link.producer.closed && !link.producer.paused) {
          const report = await link.producer.getStats();
          report.forEach((s: Record<string, unknown>) => {
            if (s['type'] === 'candidate-pair' && s['nominated'] === true) {
              // ICE consent answers (every 2.5 s): a fresher round trip than RTCP's.
              const answers = Number(s['responsesReceived']);
              const rtt = Number(s['currentRoundTripTime']);
              if (answers > link.iceAnswers && Number.isFinite(rtt)) this.addRtt(rtt * 1000);
              if (answers > link.iceAnswers) link.iceAnswers = answers;
              return;
            }
            if (s['type'] !== 'remote-inbound-rtp') return;
            // The stats keep the last report (its time stamp) until the next arrives: feed each
            // once, as the WebSocket path does.
            const mark = Number(s['timestamp']);
            if (!(mark > link.lastReport)) return;
            link.lastReport = mark;
            const rtt = Number(s['roundTripTime']);
            if (Number.isFinite(rtt)) this.addRtt(rtt * 1000);
            // The SFU's uplink reports (several a second) take precedence over RTCP's (each ~5 s).
            if (now - this.lastUplinkReportAt < UPLINK_REPORT_STALE_MS) return;
            const lossPct = Math.max(0, Number(s['fractionLost'] ?? 0) * 100);
            const jitterMs = Math.max(0, Number(s['jitter'] ?? 0) * 1000);
            this.abr.update({ lossPct, rttMs: this.currentRttMs(), jitterMs }, now);
          });
        }
        for (const [id, c] of link.consumers) {
          const report = await c.consumer.getStats();
          report.forEach((s: Record<string, unknown>) => {
            if (s['type'] !== 'inbound-rtp') return;
            this.onInbound(link, id, c, s);
          });
        }
      } catch (err) {
        this.log.debug('webrtc stats failed', { err });
      }
    }
  }

  private onInbound(
    link: RoomLink,
    _id: string,
    c: { ssrc: number; userId: string },
    s: Record<string, unknown>,
  ): void {
    const lost = Number(s['packetsLost'] ?? 0);
    const received = Number(s['packetsReceived'] ?? 0);
    const prev = link.counters.get(c.userId) ?? { lost: 0, received: 0 };
    link.counters.set(c.userId, { lost, received });
    const dLost = Math.max(0, lost - prev.lost);
    const dReceived = Math.max(0, received - prev.received);
    const lossPct = dLost + dReceived > 0 ? (100 * dLost) / (dLost + dReceived) : 0;
    const jitterMs = Number(s['jitter'] ?? 0) * 1000;
    const emitted = Number(s['jitterBufferEmittedCount'] ?? 0);
    const jbDelayMs = emitted > 0 ? (Number(s['jitterBufferDelay'] ?? 0) / emitted) * 1000 : 0;
    const rttMs = this.host.rttMs();
    const score = networkScore({
      lossPct,
      rttMs: Number.isFinite(rttMs) ? rttMs : 0,
      jitterMs: Number.isFinite(jitterMs) ? jitterMs : 0,
    });
    let tracker = link.quality.get(c.userId);
    if (!tracker) {
      tracker = new ConnectionQualityTracker();
      const t = tracker;
      t.on('connectionQualityChanged', (q, previous) =>
        this.safeEmit('connectionQualityChanged', link.room, c.userId, q, previous),
      );
      link.quality.set(c.userId, t);
    }
    const quality = tracker.update(score, dReceived === 0 && received > 0);
    this.lastReceive.set(c.userId, {
      room: link.room,
      ssrc: c.ssrc,
      userId: c.userId,
      jitterMs,
      lossPct,
      jitterBufferDelayMs: jbDelayMs,
      concealedFrames: Math.round(Number(s['concealedSamples'] ?? 0) / 960),
      fecPackets: Number(s['fecPacketsReceived'] ?? 0),
      received,
      quality,
    });
  }
}

/**
 * How long (ms) nothing has arrived on the transport's selected ICE candidate pair, by the
 * stats' own clock; 0 before ICE selected one.
 */
async function silenceMs(transport: MsTransport): Promise<number> {
  const report = await transport.getStats();
  let pairId: string | undefined;
  const pairs = new Map<string, Record<string, unknown>>();
  report.forEach((s: Record<string, unknown>) => {
    if (s['type'] === 'transport' && typeof s['selectedCandidatePairId'] === 'string')
      pairId = s['selectedCandidatePairId'];
    else if (s['type'] === 'candidate-pair') pairs.set(String(s['id']), s);
  });
  const pair = pairId === undefined ? undefined : pairs.get(pairId);
  const last = Number(pair?.['lastPacketReceivedTimestamp']);
  const now = Number(pair?.['timestamp']);
  return Number.isFinite(last) && Number.isFinite(now) ? Math.max(0, now - last) : 0;
}
