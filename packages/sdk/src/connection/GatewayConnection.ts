import {
  FrameBatcher,
  FrameCodec,
  FrameType,
  frameTypeOf,
  Op,
  PROTOCOL_VERSION,
  ProtocolError,
  reconnectPolicy,
  type ClientMessage,
  type DispatchMessage,
  type ServerMessage,
} from '@concord/protocol';
import { ConnectionError, InvalidStateError, RequestError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { Heartbeat } from './Heartbeat.js';
import {
  defaultWebSocket,
  WS_OPEN,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket.js';

/** The session the gateway granted. */
export interface SessionInfo {
  sessionId: string;
  user: { id: string; name: string };
  /** How long the server keeps the session after a disconnect, in ms. */
  resumeWindowMs: number;
}

/** Connection states; each holds only the resources that exist in it. */
export type ConnectionState =
  | { status: 'idle' }
  | { status: 'connecting'; socket: WebSocketLike; attempt: number }
  | { status: 'identifying'; socket: WebSocketLike; heartbeat: Heartbeat }
  | { status: 'resuming'; socket: WebSocketLike; heartbeat: Heartbeat }
  | { status: 'ready'; socket: WebSocketLike; heartbeat: Heartbeat; session: SessionInfo }
  | {
      status: 'reconnecting';
      attempt: number;
      timer: ReturnType<typeof setTimeout>;
      lastCloseCode: number;
    }
  | { status: 'closed'; error: ConnectionError | undefined };

/** A connection status. */
export type ConnectionStatus = ConnectionState['status'];

/** Events of a {@link GatewayConnection}. */
export type GatewayConnectionEvents = {
  /** Every state transition. */
  stateChange: [previous: ConnectionState, next: ConnectionState];
  /** READY (`resumed` false: a new session) or RESUMED (`resumed` true). */
  ready: [session: SessionInfo, resumed: boolean];
  /** The previous session could not be resumed; a new one is being identified. */
  sessionInvalidated: [];
  /** Every server event, in seq order, exactly once. */
  dispatch: [message: DispatchMessage];
  /** A heartbeat round trip, in ms. */
  heartbeat: [rttMs: number];
  /**
   * A binary media frame from the server (first byte `0x40`), undecoded, while ready; media
   * arriving in any other state is ignored. The bytes are a fresh view per frame: keep them.
   */
  media: [frame: Uint8Array];
};

/** Options of a {@link GatewayConnection}. */
export interface GatewayConnectionOptions {
  /** Gateway WebSocket URL, e.g. `wss://voice.example.com/gateway`. */
  url: string;
  /** Access token, or a function returning a fresh one for each (re)connect. */
  token: string | (() => string | Promise<string>);
  /** WebSocket implementation: the global one by default; inject `ws` in Node < 22. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff and attempt cap (default 10 consecutive failures). */
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /** Time from opening a socket to READY/RESUMED before the attempt counts as failed, ms. */
  connectTimeoutMs?: number;
  /** Time a request waits for its reply, ms (default 10,000). */
  requestTimeoutMs?: number;
  /** Client micro-batching window, ms (default 5; 0 = off). */
  batchWindowMs?: number;
  /** Client name sent in IDENTIFY. */
  clientName?: string;
  /** Randomness for jitter (tests). */
  random?: () => number;
}

type PendingRequest = {
  resolve: (m: DispatchMessage) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
};

// Client-side close code for "keep my session": anything but 1000/1001, which end it.
const CLOSE_KEEP_SESSION = 4000;
const SDK_CLIENT = 'concord-sdk/0.1.0';
/** Unsent bytes above which {@link GatewayConnection.sendMedia} drops frames (~0.5 s at 128 kbit/s). */
export const MEDIA_MAX_BUFFERED_BYTES = 8_192;

/**
 * The SDK's gateway connection: a state machine (idle → connecting → identifying → ready →
 * reconnecting/resuming → closed) with heartbeats and zombie detection, auto-reconnect with
 * capped exponential backoff and full jitter, resume with the last seq, re-identify when the
 * session is invalid, and no reconnect after a must-not-reconnect close code. Main thread.
 */
export class GatewayConnection extends TypedEmitter<GatewayConnectionEvents> {
  private _state: ConnectionState = { status: 'idle' };
  private readonly codec = new FrameCodec();
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly log = getLogger('concord:connection');
  private readonly random: () => number;
  private batcher: FrameBatcher | undefined;
  private session: (SessionInfo & { seq: number }) | undefined;
  private nextReq = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private failures = 0;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @throws {TypeError} when `url` is not a ws:/wss: URL, `token` is empty, or no WebSocket
   * implementation is available.
   */
  constructor(private readonly options: GatewayConnectionOptions) {
    super();
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TypeError(`url must be an absolute ws:// or wss:// URL, got "${options.url}"`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
      throw new TypeError(`url must use ws: or wss:, got "${url.protocol}"`);
    if (
      typeof options.token === 'string'
        ? options.token.length === 0
        : typeof options.token !== 'function'
    ) {
      throw new TypeError('token must be a non-empty string or a function returning one');
    }
    const impl = options.WebSocket ?? defaultWebSocket();
    if (!impl)
      throw new TypeError(
        'no global WebSocket: pass options.WebSocket (e.g. the `ws` package in Node)',
      );
    this.WebSocketImpl = impl;
    this.random = options.random ?? Math.random;
  }

  /** Current state. */
  get state(): ConnectionState {
    return this._state;
  }

  /** The current session, once READY. */
  get sessionInfo(): SessionInfo | undefined {
    return this.session;
  }

  /** Seq of the last dispatch received. */
  get lastSeq(): number {
    return this.session?.seq ?? 0;
  }

  /**
   * Connects and resolves at READY.
   * @throws {ConnectionError} when the connection closes for good first.
   * @throws {InvalidStateError} after `close()`.
   */
  async connect(): Promise<SessionInfo> {
    if (this._state.status === 'closed') throw new InvalidStateError('connection is closed');
    if (this._state.status === 'idle') this.open(0);
    await this.entersState('ready', Number.POSITIVE_INFINITY);
    return this.session!;
  }

  /**
   * Resolves when the state becomes `status`; rejects on timeout/abort or when the connection
   * closes first (unless waiting for `closed`).
   */
  entersState(
    status: ConnectionStatus,
    timeoutOrSignal: number | AbortSignal,
  ): Promise<ConnectionState> {
    if (this._state.status === status) return Promise.resolve(this._state);
    // `closed` is final: no stateChange will ever come to settle the wait.
    if (this._state.status === 'closed')
      return Promise.reject(this._state.error ?? ConnectionError.closed(`waiting for ${status}`));
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const signal = typeof timeoutOrSignal === 'number' ? undefined : timeoutOrSignal;
      const cleanup = (): void => {
        this.off('stateChange', onChange);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onChange = (_prev: ConnectionState, next: ConnectionState): void => {
        if (next.status === status) {
          cleanup();
          resolve(next);
        } else if (next.status === 'closed') {
          cleanup();
          reject(next.error ?? ConnectionError.closed(`waiting for ${status}`));
        }
      };
      const onAbort = (): void => {
        cleanup();
        reject(
          signal?.reason instanceof Error
            ? signal.reason
            : ConnectionError.timeout(`waiting for ${status}`, 0),
        );
      };
      this.on('stateChange', onChange);
      if (typeof timeoutOrSignal === 'number') {
        if (Number.isFinite(timeoutOrSignal))
          timer = setTimeout(() => {
            cleanup();
            reject(ConnectionError.timeout(`waiting for ${status}`, timeoutOrSignal));
          }, timeoutOrSignal);
      } else if (timeoutOrSignal.aborted) onAbort();
      else timeoutOrSignal.addEventListener('abort', onAbort);
    });
  }

  /**
   * Sends a request carrying a fresh `req` id and resolves with its reply (ROOM_JOINED,
   * ROOM_LEFT or REQUEST_ACK). Waits for READY first when reconnecting.
   * @throws {RequestError} when the server refuses; {@link ConnectionError} on timeout/close.
   */
  async request(build: (req: number) => ClientMessage): Promise<DispatchMessage> {
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    if (this._state.status === 'closed' || this._state.status === 'idle')
      throw new InvalidStateError(`cannot send while ${this._state.status}`);
    if (this._state.status !== 'ready') await this.entersState('ready', timeoutMs);
    const req = this.nextReq++;
    return new Promise<DispatchMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        reject(ConnectionError.timeout(`request ${req}`, timeoutMs));
      }, timeoutMs);
      this.pending.set(req, { resolve, reject, timer });
      this.send(build(req));
    });
  }

  /**
   * Sends a message that expects no reply (e.g. SPEAKING). Dropped silently when not ready:
   * such updates are state, and the next one supersedes it.
   */
  send(message: ClientMessage): void {
    const s = this._state;
    if (
      (s.status === 'ready' || s.status === 'identifying' || s.status === 'resuming') &&
      s.socket.readyState === WS_OPEN
    ) {
      this.batcher?.push(this.codec.encodeMessage(message));
    }
  }

  /**
   * Sends one binary media frame as its own WebSocket message, bypassing the batcher and
   * MessagePack. Returns false (frame dropped) unless ready with an open socket, or when the
   * socket has more than {@link MEDIA_MAX_BUFFERED_BYTES} unsent: old audio is worth nothing, so
   * a backed-up socket drops media rather than queueing it. Main thread; allocates nothing.
   */
  sendMedia(frame: Uint8Array): boolean {
    const s = this._state;
    if (s.status !== 'ready' || s.socket.readyState !== WS_OPEN) return false;
    const buffered = s.socket.bufferedAmount ?? 0;
    if (buffered > MEDIA_MAX_BUFFERED_BYTES) return false;
    s.socket.send(frame);
    return true;
  }

  /** Closes for good (idempotent): the server ends the session; pending requests reject. */
  close(): void {
    if (this._state.status === 'closed') return;
    this.setState({ status: 'closed', error: undefined });
  }

  // ---- state machine ----

  private setState(next: ConnectionState): void {
    const prev = this._state;
    // Tear down what the previous state held and the next does not.
    const prevSocket = 'socket' in prev ? prev.socket : undefined;
    const nextSocket = 'socket' in next ? next.socket : undefined;
    if ('heartbeat' in prev && (!('heartbeat' in next) || next.heartbeat !== prev.heartbeat))
      prev.heartbeat.stop();
    if (prev.status === 'reconnecting') clearTimeout(prev.timer);
    if (prevSocket && prevSocket !== nextSocket) {
      this.detachSocket(prevSocket, next.status === 'closed' ? 1000 : CLOSE_KEEP_SESSION);
    }
    if (next.status === 'ready' || next.status === 'closed' || next.status === 'reconnecting') {
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    if (next.status === 'closed') {
      const error = next.error ?? ConnectionError.closed('a request was pending');
      for (const [req, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(error);
        this.pending.delete(req);
      }
      this.session = undefined;
    }
    this._state = next;
    this.log.info('state', {
      from: prev.status,
      to: next.status,
      ...(next.status === 'closed' && next.error ? { code: next.error.code } : {}),
    });
    this.safeEmit('stateChange', prev, next);
  }

  private open(attempt: number): void {
    const socket = new this.WebSocketImpl(this.options.url);
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (ev) => this.onFrame(socket, ev.data);
    socket.onclose = (ev) => this.onSocketClose(socket, ev.code, ev.reason);
    socket.onerror = () => undefined; // a close event always follows; it carries the decision
    this.batcher = new FrameBatcher(
      this.codec,
      (frame) => {
        if (socket.readyState === WS_OPEN) socket.send(frame);
      },
      { windowMs: this.options.batchWindowMs ?? 5 },
    );
    this.setState({ status: 'connecting', socket, attempt });
    const timeoutMs = this.options.connectTimeoutMs ?? 15_000;
    this.connectTimer = setTimeout(() => {
      this.log.warn('connect attempt timed out', { timeoutMs });
      this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'connect timeout');
    }, timeoutMs);
  }

  private detachSocket(socket: WebSocketLike, code: number): void {
    socket.onmessage = null;
    socket.onclose = null;
    socket.onopen = null;
    try {
      // Flush what is queued (e.g. a last voice-state update) before closing.
      if (socket.readyState === WS_OPEN) this.batcher?.flush();
      socket.close(code);
    } catch {
      // A socket still CONNECTING can refuse close() in some implementations; it is dropped anyway.
    }
  }

  private onSocketClose(socket: WebSocketLike, code: number, reason: string): void {
    const s = this._state;
    if (!('socket' in s) || s.socket !== socket) return;
    if (reconnectPolicy(code) === 'must-not-reconnect') {
      this.setState({ status: 'closed', error: ConnectionError.rejected(code, reason) });
      return;
    }
    if (s.status !== 'ready') this.failures++;
    // Consecutive failures drive the backoff, also when the socket opened but failed before
    // READY/RESUMED (e.g. closed while identifying): otherwise the delay never grows.
    const attempt = this.failures;
    const maxAttempts = this.options.reconnect?.maxAttempts ?? 10;
    if (this.failures >= maxAttempts) {
      this.setState({ status: 'closed', error: ConnectionError.unreachable(this.failures) });
      return;
    }
    const delayMs = backoffDelayMs(attempt, this.options.reconnect, this.random);
    this.log.info('reconnecting', {
      code,
      reason,
      attempt,
      delayMs,
      resume: this.session !== undefined,
    });
    const timer = setTimeout(() => this.open(attempt), delayMs);
    this.setState({ status: 'reconnecting', attempt, timer, lastCloseCode: code });
  }

  private onFrame(socket: WebSocketLike, data: unknown): void {
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data))
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      this.fail(socket, ProtocolError.invalidFrame('text frame from the server'));
      return;
    }
    // Media bypasses the control codec; it only means something on a ready session.
    if (frameTypeOf(bytes) === FrameType.Media) {
      if (this._state.status === 'ready' && this._state.socket === socket)
        this.safeEmit('media', bytes);
      return;
    }
    let messages: ServerMessage[];
    try {
      messages = this.codec.decodeServerFrame(bytes);
    } catch (err) {
      this.fail(
        socket,
        err instanceof ProtocolError ? err : ProtocolError.invalidFrame('undecodable frame', err),
      );
      return;
    }
    for (const m of messages) {
      if (
        this._state.status === 'closed' ||
        !('socket' in this._state) ||
        this._state.socket !== socket
      )
        return;
      this.onMessage(socket, m);
    }
  }

  // A server that sends bytes we cannot read is not one to reconnect to blindly.
  private fail(socket: WebSocketLike, err: ProtocolError): void {
    this.log.error('protocol error from the server', { message: err.message });
    socket.close(err.closeCode);
    this.setState({
      status: 'closed',
      error: new ConnectionError('CONCORD_ERR_GATEWAY_REJECTED', err.message, {
        cause: err,
        closeCode: err.closeCode,
      }),
    });
  }

  private onMessage(socket: WebSocketLike, m: ServerMessage): void {
    const s = this._state;
    switch (m.op) {
      case Op.Hello: {
        if (s.status !== 'connecting') return;
        const heartbeat = new Heartbeat(
          m.d.heartbeatIntervalMs,
          {
            send: (nonce) => {
              this.send({ op: Op.Heartbeat, d: { nonce, seq: this.lastSeq } });
              this.batcher?.flush();
            },
            zombie: () => {
              this.log.warn('heartbeat not acknowledged: zombie connection');
              this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'zombie');
            },
            ack: (rttMs) => this.safeEmit('heartbeat', rttMs),
          },
          this.random,
        );
        this.authenticate(socket, heartbeat).catch((err: unknown) =>
          this.tokenFailed(socket, heartbeat, err),
        );
        return;
      }
      case Op.Ready:
        if (s.status !== 'identifying') return;
        this.session = { ...m.d, seq: 0 };
        this.failures = 0;
        this.setState({ status: 'ready', socket, heartbeat: s.heartbeat, session: m.d });
        this.safeEmit('ready', m.d, false);
        return;
      case Op.Resumed:
        if (s.status !== 'resuming' || !this.session) return;
        this.failures = 0;
        this.setState({ status: 'ready', socket, heartbeat: s.heartbeat, session: this.session });
        this.safeEmit('ready', this.session, true);
        return;
      case Op.InvalidSession:
        this.invalidateSession();
        if (s.status === 'resuming' || s.status === 'ready') {
          this.setState({ status: 'identifying', socket, heartbeat: s.heartbeat });
          this.sendIdentify().catch((err: unknown) => this.tokenFailed(socket, s.heartbeat, err));
        }
        return;
      case Op.Reconnect:
        this.log.info('server asked to reconnect', { reason: m.d.reason });
        this.onSocketClose(socket, CLOSE_KEEP_SESSION, m.d.reason);
        return;
      case Op.HeartbeatAck:
        if ('heartbeat' in s) s.heartbeat.onAck(m.d.nonce);
        return;
      case Op.Dispatch:
        this.onDispatch(m);
        return;
    }
  }

  private onDispatch(m: DispatchMessage): void {
    const session = this.session;
    if (!session) return;
    if (m.seq <= session.seq) return; // already seen (replayed twice): exactly once
    if (m.seq !== session.seq + 1)
      this.log.warn('dispatch seq gap', { expected: session.seq + 1, got: m.seq });
    session.seq = m.seq;
    if ('req' in m.d && m.d.req > 0) {
      const p = this.pending.get(m.d.req);
      if (
        p &&
        (m.t === 'ROOM_JOINED' ||
          m.t === 'ROOM_LEFT' ||
          m.t === 'REQUEST_ACK' ||
          m.t === 'REQUEST_ERROR')
      ) {
        this.pending.delete(m.d.req);
        clearTimeout(p.timer);
        if (m.t === 'REQUEST_ERROR') p.reject(new RequestError(m.d.code, m.d.message));
        else p.resolve(m);
      }
    }
    this.safeEmit('dispatch', m);
  }

  private invalidateSession(): void {
    if (!this.session) return;
    this.session = undefined;
    const error = ConnectionError.sessionInvalidated();
    for (const [req, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this.pending.delete(req);
    }
    this.safeEmit('sessionInvalidated');
  }

  // A token function that throws (e.g. its backend is down) fails this attempt like a dropped
  // socket would: retry with backoff, up to maxAttempts.
  private tokenFailed(socket: WebSocketLike, heartbeat: Heartbeat, err: unknown): void {
    heartbeat.stop();
    this.log.warn('token function failed', { err });
    this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'token function failed');
  }

  private async authenticate(socket: WebSocketLike, heartbeat: Heartbeat): Promise<void> {
    if (this.session) {
      const token = await this.token();
      if (!('socket' in this._state) || this._state.socket !== socket) return heartbeat.stop();
      this.setState({ status: 'resuming', socket, heartbeat });
      this.send({
        op: Op.Resume,
        d: {
          protocolVersion: PROTOCOL_VERSION,
          sessionId: this.session.sessionId,
          token,
          seq: this.session.seq,
        },
      });
    } else {
      if (!('socket' in this._state) || this._state.socket !== socket) return heartbeat.stop();
      this.setState({ status: 'identifying', socket, heartbeat });
      await this.sendIdentify();
    }
  }

  private async sendIdentify(): Promise<void> {
    const token = await this.token();
    this.send({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token,
        capabilities: {
          transports: ['ws'],
          codecs: ['opus'],
          client: this.options.clientName ?? SDK_CLIENT,
        },
      },
    });
  }

  private async token(): Promise<string> {
    const t = this.options.token;
    return typeof t === 'string' ? t : await t();
  }
}
