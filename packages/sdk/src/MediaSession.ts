import type { MediaFrame } from '@concord/protocol';
import {
  compileKernel,
  readOpusWasm,
  TimeStretcher,
  WasmOpusDecoder,
  WasmOpusEncoder,
  type OpusWasmSource,
} from '@concord/wasm-dsp';
import type { GatewayConnection } from './connection/GatewayConnection.js';
import { InvalidStateError } from './errors.js';
import { getLogger } from './logger.js';
import type { AbrDecision, AdaptiveBitrateOptions } from './send/AdaptiveBitrateController.js';
import { loadOpusWasm, loadTimeStretchWasm } from './media/AudioAssets.js';
import { ConnectionQualityTracker, type ConnectionQuality } from './stats/connectionQuality.js';
import type { JitterBufferOptions } from './receive/JitterBuffer.js';
import type { Room } from './room/Room.js';
import { TypedEmitter } from './TypedEmitter.js';
import type { IncomingReceiverReport, Transport } from './transport/Transport.js';
import {
  VoiceReceiver,
  type ParticipantMediaStats,
  type PlaybackSink,
  type StreamOwner,
} from './receive/VoiceReceiver.js';
import { inlineEncoder } from './send/inlineEncoder.js';
import {
  VoiceSender,
  type FrameSource,
  type SenderEncoder,
  type VoiceSenderStats,
} from './send/VoiceSender.js';
import { WorkerOpusEncoder, type CodecWorkerLike } from './send/WorkerOpusEncoder.js';
import { WebSocketMediaTransport } from './transport/WebSocketMediaTransport.js';
import {
  MediaPathController,
  type MediaPath,
  type MediaPathPolicy,
} from './transport/MediaPathController.js';
import { WebRtcTransport } from './transport/WebRtcTransport.js';

/** Media settings of a `VoiceClient` (`options.media`). */
export interface MediaOptions {
  /** Send and receive voice (default true); false keeps the client to signalling only. */
  enabled?: boolean;
  /**
   * Which path voice takes: `auto` (default) uses WebRTC (UDP, through the gateway's SFU) when
   * the gateway offers it and falls back to the WebSocket in place when ICE does not connect
   * within `webrtcConnectTimeoutMs` or fails later; `webrtc` insists on WebRTC (retrying instead
   * of falling back); `websocket` never uses WebRTC. Node clients always use the WebSocket.
   */
  path?: MediaPathPolicy;
  /** `auto`: ICE connect deadline before falling back, ms (default 3,000). */
  webrtcConnectTimeoutMs?: number;
  /** After a fallback, try WebRTC again after this long, ms (default 30,000). */
  webrtcRetryMs?: number;
  /** Opus packet duration on WebRTC, ms (default 20). */
  webrtcPtimeMs?: 10 | 20;
  /** Captured frames to send. Default: the client's `localAudio` (sends while it is live). */
  frameSource?: FrameSource;
  /**
   * Where decoded remote voices go. Default: `client.audio.playback` while the audio engine
   * runs (frames are decoded and dropped before that). Node apps pass their own sink.
   */
  playbackSink?: PlaybackSink;
  /**
   * The libopus wasm (bytes or compiled module, or a function resolving to one). Default: Node
   * reads the installed `@evan/opus` build; browsers fetch `opus-simd.wasm`/`opus.wasm` from the
   * audio assets URL.
   */
  opusWasm?: OpusWasmSource | (() => Promise<OpusWasmSource>);
  /** Jitter buffer settings. */
  jitterBuffer?: Omit<JitterBufferOptions, 'decoder' | 'timeStretcher'>;
  /**
   * Time-scale modification in the jitter buffers (default true): the delay moves by a pitch
   * period at a time inside speech (WSOLA, the `tsm` WASM kernel) instead of by whole frames.
   * When the kernel cannot be loaded, media runs without it (logged).
   */
  timeStretch?: boolean;
  /** Adaptive bitrate settings. */
  abr?: AdaptiveBitrateOptions;
  /**
   * Browsers: encode in the codec worker (default true); false encodes on the main thread.
   */
  codecWorker?: boolean;
  /** Receiver report period, ms (default 1,000). */
  reportIntervalMs?: number;
  /**
   * Test-only impairment: drop an incoming media frame when this returns true (loss injection).
   * @internal
   */
  dropIncoming?: (frame: MediaFrame) => boolean;
}

/** Media statistics of a client, for a stats panel; a snapshot. */
export interface MediaStats {
  /** Encoder bitrate the ABR set, bit/s. */
  bitrateBps: number;
  /** In-band FEC on. */
  fec: boolean;
  /** The encoder's expected loss, percent. */
  expectedLossPct: number;
  /** The ABR's network score 0–1 (from the receivers' reports and RTT). */
  score: number;
  /** Heartbeat round trip, ms (NaN before the first). */
  rttMs: number;
  /** This client's uplink quality, from the ABR's score (`good` until reports arrive). */
  quality: ConnectionQuality;
  /** Sender counters (frames, bytes, encode time). */
  sender: VoiceSenderStats | undefined;
  /** Per remote participant (user id): reception statistics and quality. */
  participants: Record<string, ParticipantMediaStats>;
}

/** Events of {@link MediaSession}. */
export type MediaSessionEvents = {
  /** The encoder's bitrate changed (bit/s). */
  bitrateChanged: [bitrateBps: number, previousBps: number, decision: AbrDecision];
  /** A participant's quality changed (remote: reception; local: uplink per the reports). */
  connectionQualityChanged: [
    owner: StreamOwner,
    quality: ConnectionQuality,
    previous: ConnectionQuality,
  ];
  /** The codec could not be loaded: no media this session. */
  error: [error: Error];
  /** A room's voice moved between WebRTC and the WebSocket (`reason`: why). */
  transportChanged: [room: string, path: MediaPath, reason: string];
};

/** What a {@link MediaSession} needs from its client. */
export interface MediaSessionHost {
  connection: GatewayConnection;
  /** Rooms this client is in. */
  rooms: () => Iterable<Room>;
  /** The user id of this client. */
  userId: () => string | undefined;
  /** Default frame source (the client's LocalAudio). */
  frameSource: FrameSource;
  /** Default sink (the running audio engine's playback). */
  sink: () => PlaybackSink | undefined;
  /** Heartbeat RTT, ms. */
  rttMs: () => number;
  /** The audio assets URL (browsers fetch libopus there). */
  assetsUrl: () => string;
  /** The processed microphone track (WebRTC produces it), while capture runs. */
  localTrack: () => MediaStreamTrack | undefined;
  /** Where remote WebRTC tracks play (the audio engine's playback, while it runs). */
  trackSink: () =>
    | { attachTrack(key: string, track: MediaStreamTrack): boolean; detachTrack(key: string): void }
    | undefined;
}

type SessionState =
  | { status: 'idle' }
  | { status: 'loading' }
  | {
      status: 'running';
      transport: Transport;
      sender: VoiceSender;
      receiver: VoiceReceiver;
      webrtc: WebRtcTransport | undefined;
      paths: MediaPathController;
      detach: () => void;
    }
  | { status: 'closed' };

/** The codec worker bundle's file name in the assets folder. */
export const CODEC_WORKER_ASSET = 'concord-codec-worker.js';

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * A client's media path: {@link WebSocketMediaTransport} on the gateway socket, one
 * {@link VoiceSender} (LocalAudio → Opus → media frames per joined room) and one
 * {@link VoiceReceiver} (media frames → jitter buffers → playback), the RECEIVER_REPORT feedback
 * into the sender's ABR and the heartbeat RTT. Started by the client at its first join (loads
 * libopus once), closed on disconnect. Main thread.
 */
export class MediaSession extends TypedEmitter<MediaSessionEvents> {
  private state: SessionState = { status: 'idle' };
  private readonly log = getLogger('concord:media');
  private readonly uplink = new ConnectionQualityTracker();

  constructor(
    private readonly host: MediaSessionHost,
    private readonly options: MediaOptions = {},
  ) {
    super();
  }

  /** `idle` → `loading` (libopus) → `running`; `closed` at the end. */
  get status(): SessionState['status'] {
    return this.state.status;
  }

  /** The sender, once running (bots may inspect it). */
  get sender(): VoiceSender | undefined {
    return this.state.status === 'running' ? this.state.sender : undefined;
  }

  /** The receiver, once running. */
  get receiver(): VoiceReceiver | undefined {
    return this.state.status === 'running' ? this.state.receiver : undefined;
  }

  /** The transport, once running. */
  get transport(): Transport | undefined {
    return this.state.status === 'running' ? this.state.transport : undefined;
  }

  /**
   * Loads the codec and starts sending/receiving (idempotent; resolves when running). Errors are
   * logged and emitted as `error`, and the promise rejects.
   * @throws {InvalidStateError} after `close()`.
   */
  async start(): Promise<void> {
    if (this.state.status === 'closed') throw new InvalidStateError('media session is closed');
    if (this.state.status !== 'idle' || this.options.enabled === false) return;
    this.state = { status: 'loading' };
    let source: OpusWasmSource;
    try {
      source = await this.loadCodec();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.log.error('codec load failed: no media', { err: error });
      if (this.state.status === 'loading') this.state = { status: 'idle' };
      this.safeEmit('error', error);
      throw error;
    }
    if (this.state.status !== 'loading') return; // closed meanwhile
    const [encoder, tsm] = await Promise.all([
      this.createEncoder(source),
      this.loadTimeStretcher(),
    ]);
    if (this.state.status !== 'loading') {
      encoder.destroy();
      return;
    }
    this.run(source, encoder, tsm);
  }

  /** Ends the streams of a participant who left `room` (or all of the room when no user). */
  participantLeft(room: string, userId?: string): void {
    if (this.state.status !== 'running') return;
    this.state.receiver.remove(room, userId);
    if (userId === undefined) this.state.paths.roomLeft(room);
  }

  /** A room was joined or rejoined: pick its media path (WebRTC when the policy allows). */
  roomJoined(room: string): void {
    if (this.state.status === 'running') this.state.paths.roomJoined(room);
  }

  /** The path `room`'s voice takes now. */
  pathOf(room: string): MediaPath {
    return this.state.status === 'running' && this.state.paths.isWebRtc(room)
      ? 'webrtc'
      : 'websocket';
  }

  /** This client's voice state in `room` changed: WebRTC pauses its producer or tracks. */
  voiceStateChanged(room: string, state: { muted: boolean; deafened: boolean }): void {
    if (this.state.status !== 'running') return;
    this.state.webrtc?.setMuted(room, state.muted);
    this.state.webrtc?.setDeafened(room, state.deafened);
  }

  /** Capture started or stopped: WebRTC produces the new track. */
  localTrackChanged(): void {
    if (this.state.status === 'running') void this.state.webrtc?.refreshTrack();
  }

  /** Statistics for a stats panel. */
  getStats(): MediaStats {
    const s = this.state;
    const participants: Record<string, ParticipantMediaStats> = {};
    if (s.status !== 'running') {
      return {
        bitrateBps: 0,
        fec: false,
        expectedLossPct: 0,
        score: 1,
        rttMs: this.host.rttMs(),
        quality: this.uplink.quality,
        sender: undefined,
        participants,
      };
    }
    const sender = s.sender.getStats();
    for (const [userId, st] of s.receiver.getStats()) participants[userId] = st;
    // WebRTC rooms: the same shape, from RTCP and the consumers' stats.
    for (const r of s.webrtc?.receiveStats() ?? []) {
      if (!s.paths.isWebRtc(r.room)) continue;
      participants[r.userId] = {
        room: r.room,
        ssrc: r.ssrc,
        jitterMs: r.jitterMs,
        lossPct: r.lossPct,
        jitterBufferDelayMs: r.jitterBufferDelayMs,
        targetDelayMs: r.jitterBufferDelayMs,
        concealed: r.concealedFrames,
        fecRecovered: r.fecPackets,
        // The browser's own NetEq stretches time; its counts are not exposed per operation here.
        timeStretch: true,
        accelerated: 0,
        expanded: 0,
        late: 0,
        received: r.received,
        quality: r.quality,
      };
    }
    const rooms = [...this.host.rooms()].map((r) => r.name);
    const onWebRtc = rooms.length > 0 && s.webrtc && rooms.every((r) => s.paths.isWebRtc(r));
    const decision = onWebRtc ? s.webrtc!.decision : undefined;
    return {
      bitrateBps: decision?.bitrateBps ?? sender.bitrateBps,
      fec: decision?.fec ?? sender.fec,
      expectedLossPct: decision?.expectedLossPct ?? sender.expectedLossPct,
      score: decision?.score ?? sender.score,
      rttMs: this.host.rttMs(),
      quality: this.uplink.quality,
      sender,
      participants,
    };
  }

  /** Stops everything and frees the codecs (idempotent). */
  close(): void {
    const s = this.state;
    if (s.status === 'closed') return;
    this.state = { status: 'closed' };
    if (s.status === 'running') {
      s.detach();
      s.paths.close();
      s.webrtc?.close();
      s.receiver.close();
      s.sender.close();
      s.transport.close();
    }
    this.uplink.close();
    this.removeAllListeners();
  }

  private async loadCodec(): Promise<OpusWasmSource> {
    const o = this.options.opusWasm;
    if (o !== undefined) return typeof o === 'function' ? await o() : o;
    if (isNode()) return WebAssembly.compile(await readOpusWasm());
    return loadOpusWasm(this.host.assetsUrl());
  }

  /** The TSM kernel, compiled; undefined when turned off or unavailable (whole-frame moves). */
  private async loadTimeStretcher(): Promise<WebAssembly.Module | undefined> {
    if (this.options.timeStretch === false) return undefined;
    try {
      return isNode()
        ? await compileKernel('tsm')
        : await loadTimeStretchWasm(this.host.assetsUrl());
    } catch (err) {
      this.log.warn('time stretching unavailable: the jitter buffer moves by whole frames', {
        err,
      });
      return undefined;
    }
  }

  /**
   * Browsers: libopus in the codec worker (`concord-codec-worker.js` beside the other assets),
   * falling back to the main thread when the worker cannot start. Node: inline.
   */
  private async createEncoder(source: OpusWasmSource): Promise<SenderEncoder> {
    const settings = { complexity: 5 };
    if (!isNode() && typeof Worker !== 'undefined' && this.options.codecWorker !== false) {
      const url = new URL(CODEC_WORKER_ASSET, withSlash(this.host.assetsUrl())).href;
      try {
        return await WorkerOpusEncoder.create(
          () => new Worker(url, { type: 'module' }) as unknown as CodecWorkerLike,
          source,
          settings,
        );
      } catch (err) {
        this.log.warn('codec worker unavailable: encoding on the main thread', { err });
      }
    }
    return inlineEncoder(WasmOpusEncoder.createSync(source, settings));
  }

  private run(
    source: OpusWasmSource,
    encoder: SenderEncoder,
    tsm: WebAssembly.Module | undefined,
  ): void {
    const { host, options } = this;
    const connection = host.connection;
    const transport = new WebSocketMediaTransport(
      connection,
      options.dropIncoming ? { dropIncoming: options.dropIncoming } : {},
    );
    const sender = new VoiceSender({
      source: options.frameSource ?? host.frameSource,
      transport,
      encoder,
      targets: () => this.targets(),
      ...(options.abr ? { abr: options.abr } : {}),
    });
    const receiver = new VoiceReceiver({
      transport,
      createDecoder: () => WasmOpusDecoder.createSync(source),
      ...(tsm && { createTimeStretcher: () => TimeStretcher.createSync(tsm) }),
      resolve: (ssrc) => this.resolve(ssrc),
      sink: () => options.playbackSink ?? host.sink(),
      rttMs: host.rttMs,
      ...(options.jitterBuffer ? { jitterBuffer: options.jitterBuffer } : {}),
      ...(options.reportIntervalMs !== undefined
        ? { reportIntervalMs: options.reportIntervalMs }
        : {}),
    });
    sender.on('bitrateChanged', (bps, prev, d) => this.safeEmit('bitrateChanged', bps, prev, d));
    sender.on('decision', (d) => this.uplink.update(d.score, !transport.ready));
    receiver.on('connectionQualityChanged', (owner, q, prev) =>
      this.safeEmit('connectionQualityChanged', owner, q, prev),
    );
    this.uplink.on('connectionQualityChanged', (q, prev) => {
      const userId = host.userId();
      if (userId === undefined) return;
      for (const room of host.rooms())
        this.safeEmit('connectionQualityChanged', { room: room.name, userId }, q, prev);
    });
    const policy = options.path ?? 'auto';
    const webrtc =
      policy !== 'websocket' && WebRtcTransport.supported() && !isNode()
        ? new WebRtcTransport(
            {
              connection,
              localTrack: host.localTrack,
              isMuted: (room) => this.localOf(room)?.muted ?? false,
              isDeafened: (room) => this.localOf(room)?.deafened ?? false,
              ownerOf: (room, ssrc) => this.resolve(ssrc)?.userId ?? this.localUser(room, ssrc),
              playback: host.trackSink,
              rttMs: host.rttMs,
            },
            {
              ...(options.abr ? { abr: options.abr } : {}),
              ...(options.webrtcPtimeMs ? { opus: { ptimeMs: options.webrtcPtimeMs } } : {}),
            },
          )
        : undefined;
    const paths = new MediaPathController(webrtc, {
      policy,
      ...(options.webrtcConnectTimeoutMs !== undefined
        ? { connectTimeoutMs: options.webrtcConnectTimeoutMs }
        : {}),
      ...(options.webrtcRetryMs !== undefined ? { retryMs: options.webrtcRetryMs } : {}),
    });
    paths.on('transportChanged', (room, path, reason) => {
      this.log.info('media path', { room, path, reason });
      this.safeEmit('transportChanged', room, path, reason);
    });
    webrtc?.on('bitrateChanged', (bps, prev, d) => this.safeEmit('bitrateChanged', bps, prev, d));
    webrtc?.on('connectionQualityChanged', (room, userId, q, prev) =>
      this.safeEmit('connectionQualityChanged', { room, userId }, q, prev),
    );
    // Listeners' reports and the round trip drive the WebSocket sender's ABR (a WebRTC room's
    // stream is measured by the SFU: the WebRTC transport handles that itself).
    const report = (r: IncomingReceiverReport): void => {
      if (!paths.isWebRtc(r.room)) sender.handleReceiverReport(r);
    };
    const rtt = (rttMs: number): void => sender.handleRtt(rttMs);
    transport.on('receiverReport', report);
    transport.on('rtt', rtt);
    const detach = (): void => {
      transport.off('receiverReport', report);
      transport.off('rtt', rtt);
    };
    this.state = {
      status: 'running',
      transport,
      sender,
      receiver,
      webrtc,
      paths,
      detach,
    };
    this.log.info('media running', { transport: transport.kind, webrtc: webrtc !== undefined });
    for (const room of host.rooms()) if (room.state === 'joined') paths.roomJoined(room.name);
  }

  private localOf(room: string): { muted: boolean; deafened: boolean } | undefined {
    for (const r of this.host.rooms()) if (r.name === room) return r.localParticipant;
    return undefined;
  }

  private localUser(room: string, ssrc: number): string | undefined {
    for (const r of this.host.rooms())
      if (r.name === room)
        for (const p of r.participants.values()) if (p.ssrc === ssrc) return p.userId;
    return undefined;
  }

  private *targets(): Iterable<{ room: string; ssrc: number; muted: boolean }> {
    const paths = this.state.status === 'running' ? this.state.paths : undefined;
    for (const room of this.host.rooms()) {
      if (room.state !== 'joined') continue;
      // Its voice goes over WebRTC: the WebSocket sender leaves it alone.
      if (paths?.offWebSocket(room.name)) continue;
      const local = room.localParticipant;
      yield { room: room.name, ssrc: local.ssrc, muted: local.muted };
    }
  }

  private resolve(ssrc: number): StreamOwner | undefined {
    for (const room of this.host.rooms()) {
      if (room.state !== 'joined') continue;
      for (const p of room.participants.values())
        if (p.ssrc === ssrc && !p.isLocal) return { room: room.name, userId: p.userId };
    }
    return undefined;
  }
}
