import { RequestError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import type { WebRtcTransport } from './WebRtcTransport.js';

/** Which path a client's voice takes: WebRTC when possible (`auto`), always, or never. */
export type MediaPathPolicy = 'auto' | 'webrtc' | 'websocket';

/** Where a room's media goes now. */
export type MediaPath = 'webrtc' | 'websocket';

/** Events of a {@link MediaPathController}. */
export type MediaPathEvents = {
  /** `room`'s media moved to `path`; `reason` says why (e.g. `ice-timeout`, `ice-failed`). */
  transportChanged: [room: string, path: MediaPath, reason: string];
};

/** Options of a {@link MediaPathController}. */
export interface MediaPathOptions {
  /** The policy (default `auto`). */
  policy: MediaPathPolicy;
  /** `auto`: fall back to the WebSocket when ICE has not connected this long after it started, ms (default 3,000). */
  connectTimeoutMs?: number;
  /** After a fallback or an unavailable SFU, try WebRTC again after this long, ms (default 30,000). */
  retryMs?: number;
  /**
   * `auto`: a connected link that loses connectivity (ICE `disconnected`) and does not come
   * back within this long falls back to the WebSocket, ms (default 1,000; ICE's own `failed`
   * comes many seconds later).
   */
  interruptedGraceMs?: number;
}

type RoomPath =
  | { status: 'websocket'; retry: ReturnType<typeof setTimeout> | undefined }
  | { status: 'opening'; timer: ReturnType<typeof setTimeout> | undefined }
  | { status: 'webrtc'; grace: ReturnType<typeof setTimeout> | undefined };

/**
 * Decides per room whether voice goes over WebRTC or the WebSocket, and switches in place (no
 * rejoin): with `auto`, WebRTC when the gateway offers it, back to the WebSocket when ICE does
 * not connect within `connectTimeoutMs` of starting or fails later, and WebRTC again after
 * `retryMs`; after a gateway reset (media server restart) WebRTC is set up again at once. The
 * WebSocket path carries the room while it is not on WebRTC. Main thread.
 */
export class MediaPathController extends TypedEmitter<MediaPathEvents> {
  private readonly rooms = new Map<string, RoomPath>();
  private readonly log = getLogger('concord:media-path');
  private closed = false;

  constructor(
    private readonly webrtc: WebRtcTransport | undefined,
    private readonly options: MediaPathOptions,
  ) {
    super();
    webrtc?.on('linkState', (room, state) => {
      if (state === 'connected') this.onConnected(room);
      else if (state === 'failed') this.fallback(room, 'ice-failed');
    });
    webrtc?.on('iceStarted', (room) => this.onIceStarted(room));
    webrtc?.on('linkInterrupted', (room) => this.onInterrupted(room));
    // Nothing arrives although it should: no grace, the silence was the grace.
    webrtc?.on('linkSilent', (room) => {
      if (this.rooms.get(room)?.status === 'webrtc') this.fallback(room, 'media-timeout');
    });
    webrtc?.on('reset', (room) => {
      const r = this.rooms.get(room);
      if (r && r.status !== 'websocket') void this.open(room, 'reset');
    });
  }

  /** Rooms whose media goes over WebRTC now (connected). */
  isWebRtc(room: string): boolean {
    return this.rooms.get(room)?.status === 'webrtc';
  }

  /** Whether `room`'s media leaves the WebSocket (WebRTC connected or being set up). */
  offWebSocket(room: string): boolean {
    const s = this.rooms.get(room)?.status;
    return s === 'webrtc' || s === 'opening';
  }

  /** The room was joined (or rejoined): choose its path. */
  roomJoined(room: string): void {
    if (this.closed) return;
    this.clear(room);
    this.rooms.set(room, { status: 'websocket', retry: undefined });
    if (this.webrtc && this.options.policy !== 'websocket') void this.open(room, 'joined');
  }

  /** The room was left: forget it (the gateway drops its WebRTC objects). */
  roomLeft(room: string): void {
    this.clear(room);
    this.rooms.delete(room);
    void this.webrtc?.closeLink(room, false);
  }

  /** Stops (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const room of this.rooms.keys()) this.clear(room);
    this.rooms.clear();
    this.removeAllListeners();
  }

  private async open(room: string, why: string): Promise<void> {
    const webrtc = this.webrtc;
    if (!webrtc || this.closed) return;
    this.clear(room);
    this.rooms.set(room, { status: 'opening', timer: undefined });
    try {
      await webrtc.open(room);
      // Some browsers never leave ICE's `new` state when they may not use UDP at all: the
      // deadline starts once there is something to connect, whatever ICE reports.
      if (webrtc.expectsConnection(room)) this.onIceStarted(room);
    } catch (err) {
      if (this.rooms.get(room)?.status !== 'opening') return;
      const unavailable = err instanceof RequestError && err.reason === 'WEBRTC_UNAVAILABLE';
      this.log.info('webrtc not used', { room, why, unavailable, err });
      this.toWebSocket(room, unavailable ? 'webrtc-unavailable' : 'webrtc-setup-failed', false);
    }
  }

  private onIceStarted(room: string): void {
    const r = this.rooms.get(room);
    if (r?.status !== 'opening' || r.timer !== undefined) return;
    const ms = this.options.connectTimeoutMs ?? 3_000;
    r.timer = setTimeout(() => this.fallback(room, 'ice-timeout'), ms);
  }

  private onConnected(room: string): void {
    const r = this.rooms.get(room);
    if (r?.status !== 'opening') return;
    if (r.timer) clearTimeout(r.timer);
    this.rooms.set(room, { status: 'webrtc', grace: undefined });
    this.safeEmit('transportChanged', room, 'webrtc', 'ice-connected');
  }

  private onInterrupted(room: string): void {
    const r = this.rooms.get(room);
    if (r?.status !== 'webrtc' || r.grace !== undefined || this.options.policy !== 'auto') return;
    r.grace = setTimeout(() => {
      r.grace = undefined;
      if (this.rooms.get(room) === r && this.webrtc?.rooms.get(room) !== 'connected')
        this.fallback(room, 'ice-disconnected');
    }, this.options.interruptedGraceMs ?? 1_000);
  }

  private fallback(room: string, reason: string): void {
    const r = this.rooms.get(room);
    if (!r || r.status === 'websocket') return;
    if (this.options.policy === 'webrtc') {
      // No fallback: set WebRTC up again (after a pause).
      this.log.warn('webrtc failed: retrying', { room, reason });
      this.clear(room);
      this.rooms.set(room, { status: 'websocket', retry: undefined });
      this.scheduleRetry(room);
      void this.webrtc?.closeLink(room, true);
      return;
    }
    this.log.warn('webrtc failed: back to the websocket', { room, reason });
    void this.webrtc?.closeLink(room, true);
    this.toWebSocket(room, reason, r.status === 'webrtc' || r.status === 'opening');
  }

  private toWebSocket(room: string, reason: string, announce: boolean): void {
    this.clear(room);
    this.rooms.set(room, { status: 'websocket', retry: undefined });
    if (announce) this.safeEmit('transportChanged', room, 'websocket', reason);
    this.scheduleRetry(room);
  }

  private scheduleRetry(room: string): void {
    const r = this.rooms.get(room);
    if (r?.status !== 'websocket' || !this.webrtc || this.options.policy === 'websocket') return;
    r.retry = setTimeout(() => {
      r.retry = undefined;
      if (this.rooms.get(room) === r) void this.open(room, 'retry');
    }, this.options.retryMs ?? 30_000);
  }

  private clear(room: string): void {
    const r = this.rooms.get(room);
    if (r?.status === 'opening' && r.timer) clearTimeout(r.timer);
    if (r?.status === 'websocket' && r.retry) clearTimeout(r.retry);
    if (r?.status === 'webrtc' && r.grace) clearTimeout(r.grace);
  }
}
