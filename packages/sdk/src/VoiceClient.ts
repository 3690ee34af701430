import {
  GatewayConnection,
  type ConnectionState,
  type ConnectionStatus,
  type GatewayConnectionOptions,
  type SessionInfo,
} from './connection/GatewayConnection.js';
import { Op } from '@concord/protocol';
import type { ConnectionError } from './errors.js';
import { InvalidStateError } from './errors.js';
import { getLogger } from './logger.js';
import { AudioEngine, type AudioEngineOptions } from './media/AudioEngine.js';
import { defaultAssetsUrl } from './media/AudioAssets.js';
import type { AbrDecision } from './send/AdaptiveBitrateController.js';
import { LocalAudio } from './media/LocalAudio.js';
import { Room, type RoomAudioHooks } from './room/Room.js';
import { SpeakingHangover } from './room/SpeakingHangover.js';
import { MediaSession, type MediaOptions, type MediaStats } from './MediaSession.js';
import type { MediaPath, MediaPathPolicy } from './transport/MediaPathController.js';
import { TypedEmitter } from './TypedEmitter.js';

/** Options of a {@link VoiceClient}: the connection's, plus audio settings. */
export interface VoiceClientOptions extends GatewayConnectionOptions {
  /** Audio engine settings (assets URL, RNNoise model, context rate, remote voices). */
  audio?: AudioEngineOptions;
  /**
   * Media settings: the path (`'auto'` — WebRTC when the gateway offers it, else the WebSocket —,
   * `'webrtc'` or `'websocket'`), either alone or with the rest of {@link MediaOptions} (frame
   * source, playback sink, codec, jitter buffer, ABR).
   */
  media?: MediaPathPolicy | MediaOptions;
  /**
   * Silence that ends a speaking period of the local microphone, ms (default 600, range
   * 0–5000): the VAD's short dropouts inside a sentence do not flicker the speaking indicator
   * or send extra SPEAKING events. See {@link SpeakingHangover}.
   */
  speakingHangoverMs?: number;
}

/** Events of a {@link VoiceClient}. */
export type VoiceClientEvents = {
  /** Connection state transitions. */
  stateChange: [previous: ConnectionStatus, next: ConnectionStatus];
  /** The connection dropped and is being re-established. */
  reconnecting: [];
  /** Back online: `resumed` true when no event was lost, false when rooms were rejoined. */
  reconnected: [resumed: boolean];
  /** Closed for good; `error` is set unless `disconnect()` was called. */
  disconnected: [error: ConnectionError | undefined];
  /** Heartbeat round trip to the gateway, ms. */
  rtt: [rttMs: number];
  /** The adaptive bitrate moved the encoder's bitrate (bit/s). */
  bitrateChanged: [bitrateBps: number, previousBps: number, decision: AbrDecision];
  /** The media path could not start (e.g. the codec failed to load). */
  mediaError: [error: Error];
  /**
   * This client's voice in `room` moved to `path` (`webrtc` once ICE connected; `websocket`
   * after a fallback, with `reason` e.g. `ice-timeout`, `ice-failed`, `ice-disconnected`,
   * `media-timeout`: the SFU received nothing of this client for 2.2 s while it sent).
   */
  transportChanged: [room: string, path: MediaPath, reason: string];
};

const MAX_ROOM_NAME = 128;

/**
 * Concord's entry point: connects to a gateway and joins voice rooms.
 *
 * ```ts
 * const client = new VoiceClient({ url, token });
 * await client.connect();
 * const room = await client.join('lobby');
 * room.on('participantJoined', (p) => console.log(p.name));
 * await room.setMuted(true);
 * await client.disconnect();
 * ```
 * Main thread (browser or Node).
 */
export class VoiceClient extends TypedEmitter<VoiceClientEvents> {
  private readonly connection: GatewayConnection;
  private readonly joined = new Map<string, Room>();
  private readonly joining = new Map<string, Promise<Room>>();
  private readonly log = getLogger('concord:client');
  private everReady = false;
  private readonly speakingHangover: SpeakingHangover;

  /**
   * @throws {TypeError} for a bad `url`/`token` or no WebSocket implementation.
   * @throws {RangeError} for a `speakingHangoverMs` outside [0, 5000].
   */
  constructor(options: VoiceClientOptions) {
    super();
    // The VAD drives the speaking indicator of every room this client is in, through the
    // hangover so that one sentence is one speaking period.
    this.speakingHangover = new SpeakingHangover((speaking) => {
      for (const room of this.joined.values()) {
        if (room.state === 'joined' && !(speaking && room.localParticipant.muted))
          room.setSpeaking(speaking);
      }
    }, options.speakingHangoverMs);
    this.connection = new GatewayConnection(options);
    this.audio = new AudioEngine(options.audio);
    this.localAudio = new LocalAudio(this.audio);
    this.media = new MediaSession(
      {
        connection: this.connection,
        rooms: () => this.joined.values(),
        userId: () => this.user?.id,
        frameSource: this.localAudio,
        sink: () => (this.audio.state.status === 'running' ? this.audio.playback : undefined),
        rttMs: () => this.rttMs,
        assetsUrl: () => options.audio?.assetsUrl ?? defaultAssetsUrl(),
        localTrack: () => this.localAudio.processedTrack,
        trackSink: () => (this.audio.state.status === 'running' ? this.audio.playback : undefined),
      },
      typeof options.media === 'string' ? { path: options.media } : options.media,
    );
    this.media.on('transportChanged', (room, path, reason) =>
      this.safeEmit('transportChanged', room, path, reason),
    );
    this.localAudio.on('stateChange', () => this.media.localTrackChanged());
    this.media.on('bitrateChanged', (bps, prev, d) =>
      this.safeEmit('bitrateChanged', bps, prev, d),
    );
    this.media.on('error', (err) => this.safeEmit('mediaError', err));
    this.media.on('connectionQualityChanged', (owner, quality) =>
      this.joined.get(owner.room)?.setConnectionQuality(owner.userId, quality),
    );
    this.localAudio.on('speakingChanged', (speaking) => this.speakingHangover.update(speaking));
    this.connection.on('stateChange', (prev, next) => this.onStateChange(prev, next));
    this.connection.on('ready', (session, resumed) => this.onReady(session, resumed));
    this.connection.on('heartbeat', (rtt) => this.safeEmit('rtt', rtt));
    this.connection.on('dispatch', (m) => {
      if (m.t === 'SPEAKING' || m.t === 'VOICE_STATE_UPDATE' || m.t === 'MEDIA_PATH_UPDATE') {
        // These name the member by its ssrc, unique per membership: it also picks the room.
        const room = this.roomOfSsrc(m.d.ssrc);
        if (room) room.handleDispatch(m);
        else this.log.debug('event for an unknown ssrc ignored', { t: m.t, ssrc: m.d.ssrc });
      } else if ('room' in m.d) this.joined.get(m.d.room)?.handleDispatch(m);
    });
  }

  /**
   * The audio engine: one AudioContext, remote voices (`audio.playback`), output device,
   * `resume()` after an autoplay block. Nothing starts until capture starts or `audio.start()`.
   */
  readonly audio: AudioEngine;
  /** The local microphone and its processing chain. */
  readonly localAudio: LocalAudio;
  /**
   * The media path (transport, sender, receiver); starts at the first join. Sends while
   * `localAudio` is live, plays into `audio.playback` while the engine runs.
   */
  readonly media: MediaSession;

  private readonly roomAudio: RoomAudioHooks = {
    setCaptureMuted: (muted) => this.localAudio.setMuted(muted),
    setVolume: (userId, volume) => {
      if (this.audio.state.status === 'running') this.audio.playback.setVolume(userId, volume);
    },
    released: (userId) => {
      this.audio.setSourcePosition(userId, undefined);
      if (this.audio.state.status === 'running') this.audio.playback.detach(userId);
    },
    setPosition: (userId, position) => this.audio.setSourcePosition(userId, position),
    voiceStateChanged: (room, state) => this.media.voiceStateChanged(room, state),
  };

  /** Connection status. */
  get state(): ConnectionStatus {
    return this.connection.state.status;
  }

  /** The authenticated user, once connected. */
  get user(): SessionInfo['user'] | undefined {
    return this.connection.sessionInfo?.user;
  }

  /** Rooms joined, by name. */
  get rooms(): ReadonlyMap<string, Room> {
    return this.joined;
  }

  /** Last heartbeat round trip in ms (NaN before the first). */
  get rttMs(): number {
    const s = this.connection.state;
    return 'heartbeat' in s ? s.heartbeat.rttMs : Number.NaN;
  }

  /**
   * Media statistics for a stats panel: the encoder's bitrate/FEC/expected loss and network
   * score, the RTT, and per remote participant jitter, loss, jitter-buffer delay, concealment and
   * quality.
   */
  getStats(): MediaStats {
    return this.media.getStats();
  }

  /** The underlying connection (advanced use: `entersState`, raw events). */
  get gateway(): GatewayConnection {
    return this.connection;
  }

  /**
   * Connects and authenticates.
   * @throws {ConnectionError} when the gateway refuses (e.g. `CONCORD_ERR_GATEWAY_REJECTED`
   * with `closeCode` 4004 for a bad token) or stays unreachable.
   * @throws {InvalidStateError} after `disconnect()`.
   */
  async connect(): Promise<void> {
    await this.connection.connect();
  }

  /**
   * Joins a room and resolves with it once the participant list has arrived.
   * @throws {TypeError}/{RangeError} for a bad room name. @throws {RequestError} when the
   * server refuses (`ROOM_FORBIDDEN`: the token does not allow the room; `ALREADY_IN_ROOM`,
   * `TOO_MANY_ROOMS`, `ROOM_FULL`); the connection and the other rooms stay.
   * @throws {ConnectionError} on timeout or when the connection closes for good meanwhile.
   */
  async join(name: string): Promise<Room> {
    if (typeof name !== 'string') throw new TypeError('room name must be a string');
    if (name.length === 0 || name.length > MAX_ROOM_NAME)
      throw new RangeError(`room name must be 1–${MAX_ROOM_NAME} characters, got ${name.length}`);
    const status = this.connection.state.status;
    if (status === 'closed' || status === 'idle')
      throw new InvalidStateError(`cannot join while ${status}: call connect() first`);
    const existing = this.joined.get(name);
    if (existing) return existing;
    // A second join() of the same room while the first is in flight shares its outcome.
    let pending = this.joining.get(name);
    if (!pending) {
      pending = this.requestJoin(name).finally(() => this.joining.delete(name));
      this.joining.set(name, pending);
    }
    return pending;
  }

  private async requestJoin(name: string): Promise<Room> {
    const reply = await this.connection.request((req) => ({
      op: Op.JoinRoom,
      d: { req, room: name },
    }));
    if (reply.t !== 'ROOM_JOINED') throw new InvalidStateError(`unexpected reply ${reply.t}`);
    const userId = this.connection.sessionInfo?.user.id ?? '';
    const room = new Room(
      name,
      this.connection,
      userId,
      reply.d.participants,
      (r) => this.joined.delete(r.name),
      this.roomAudio,
    );
    this.joined.set(name, room);
    room.on('participantLeft', (p) => this.media.participantLeft(name, p.userId));
    // A voice that moved to WebRTC arrives as a track: end its WebSocket stream at once (its
    // concealment would otherwise play for a few seconds).
    room.on('mediaPathChanged', (p, path) => {
      if (path === 'webrtc' && !p.isLocal) this.media.participantLeft(name, p.userId);
    });
    room.on('left', () => this.media.participantLeft(name));
    // Media starts with the first room. A codec failure is logged and emitted as `mediaError`
    // by the session (and retried at the next join); the room works without media.
    this.media.start().catch(() => undefined);
    this.media.roomJoined(name);
    room.on('stateChange', (_prev, next) => {
      if (next === 'joined') this.media.roomJoined(name); // rejoined with a new membership
    });
    return room;
  }

  /** Leaves every room and closes the connection (idempotent). */
  async disconnect(): Promise<void> {
    this.speakingHangover.reset();
    this.connection.close();
    this.media.close();
    this.localAudio.stop();
    await this.audio.close();
  }

  /** The joined room with a participant whose membership has stream id `ssrc`. */
  private roomOfSsrc(ssrc: number): Room | undefined {
    for (const room of this.joined.values()) if (room.participantBySsrc(ssrc)) return room;
    return undefined;
  }

  private onStateChange(prev: ConnectionState, next: ConnectionState): void {
    this.safeEmit('stateChange', prev.status, next.status);
    if (next.status === 'reconnecting' && prev.status === 'ready') this.safeEmit('reconnecting');
    if (next.status === 'closed') {
      for (const room of [...this.joined.values()]) room.markLeft('disconnected');
      this.safeEmit('disconnected', next.error);
    }
  }

  private onReady(_session: SessionInfo, resumed: boolean): void {
    if (!this.everReady) {
      this.everReady = true;
      return;
    }
    this.log.info('reconnected', { resumed, rooms: this.joined.size });
    if (!resumed) for (const room of this.joined.values()) void room.rejoin();
    this.safeEmit('reconnected', resumed);
  }
}
