import {
  DEFAULT_CLIENT_LIMITS,
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
  type Participant,
  type ServerMessage,
} from '@concord/protocol';
import { ConnectionError, InvalidStateError, RequestError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { ControlPacer } from './ControlPacer.js';
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

/** Shortest and longest heartbeat interval a HELLO may announce, in ms. */
export const HEARTBEAT_INTERVAL_RANGE_MS = [100, 3_600_000] as const;

/** Connection states; each holds only the resources that exist in it. */
export type ConnectionState =
  | { status: 'idle' }
  | { status: 'connecting'; socket: WebSocketLike; attempt: number }
  | { status: 'identifying'; socket: WebSocketLike; heartbeatIntervalMs: number }
  | { status: 'resuming'; socket: WebSocketLike; heartbeatIntervalMs: number }
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
  /** A heartbeat round trip, in ms (the first one right after READY/RESUMED). */
  heartbeat: [rttMs: number];
  /**
   * The session's token was replaced before it expired (`expiresInMs` 0: the new one never
   * expires), or refreshing failed (`error` set; retried until the token runs out).
   */
  tokenRefresh: [expiresInMs: number, error: Error | undefined];
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
  /**
   * Access token, or a function returning a fresh one for each (re)connect and for refreshing
   * the session's token before it expires (a fixed string cannot be refreshed: the gateway
   * closes the session with TOKEN_EXPIRED when it runs out).
   */
  token: string | (() => string | Promise<string>);
  /** WebSocket implementation: the global one by default; inject `ws` in Node < 22. */
  WebSocket?: WebSocketConstructor;
  /**
   * Reconnect backoff and attempt cap (default 10 consecutive failures once connected; the
   * first `connect()` gives up after `connectAttempts`).
   */
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /**
   * Attempts of the first `connect()` before it rejects as unreachable (default: 3, or
   * `reconnect.maxAttempts` when that is set). With the default backoff a gateway that refuses
   * fails `connect()` in about 1.5 s, one that does not answer in about 3 × `socketOpenTimeoutMs`.
   */
  connectAttempts?: number;
  /**
   * Time for a new socket to open (TCP and the WebSocket upgrade), ms (default 5,000): a host
   * that does not answer fails the attempt then instead of at `connectTimeoutMs`.
   */
  socketOpenTimeoutMs?: number;
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
  /** The request, kept to send again after a resume if the server never took it up. */
  message: ClientMessage;
  /** Whether it was handed to a socket (else it still waits in the pacer). */
  sent: boolean;
};

// Sent outside the pacer: the gateway budgets them on their own and the SDK sends them at a
// bounded rate itself (state changes; the report scheduler's budget).
const UNPACED_OPS: ReadonlySet<number> = new Set([Op.Speaking, Op.ReceiverReport]);

// Client-side close code for "keep my session": anything but 1000/1001, which end it.
const CLOSE_KEEP_SESSION = 4000;
/** Retry delay after a failed token refresh, ms. */
const REFRESH_RETRY_MS = 5_000;
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
  // Clients send within the gateway's client limits and never compress (the gateway refuses LZ4).
  private readonly sendCodec = new FrameCodec({
    limits: DEFAULT_CLIENT_LIMITS,
    compressionThresholdBytes: 0,
  });
  private session: (SessionInfo & { seq: number; resumeSecret: string }) | undefined;
  /** Pages of a large room's member list (ROOM_PARTICIPANTS) until its ROOM_JOINED. */
  private readonly participantPages = new Map<string, Participant[]>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private nextReq = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** Keeps control messages within the gateway's announced rate limit. */
  private readonly pacer = new ControlPacer(() => this._state.status === 'ready');
  private failures = 0;
  /** Why the current attempt failed, when known (the socket's error, a timeout, the token). */
  private attemptCause: Error | undefined;
  private everReady = false;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
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
    if (url.protocol === 'ws:' && !isLoopbackHostname(url.hostname))
      this.log.warn('ws:// to a non-loopback host sends tokens and voice unencrypted: use wss://', {
        host: url.hostname,
      });
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
    return this.publicSession();
  }

  // The resume secret stays inside this object: it is never handed to app code or logged.
  private publicSession(): SessionInfo | undefined {
    const s = this.session;
    return s && { sessionId: s.sessionId, user: s.user, resumeWindowMs: s.resumeWindowMs };
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
    return this.publicSession()!;
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
      this.pending.set(req, { resolve, reject, timer, message: build(req), sent: false });
      this.submitRequest(req);
    });
  }

  /** Hands a pending request to the pacer; refuses it when too many wait already. */
  private submitRequest(req: number): void {
    const queued = this.pacer.submit(this.sender(req));
    if (queued) return;
    const p = this.pending.get(req);
    if (!p) return;
    this.pending.delete(req);
    clearTimeout(p.timer);
    p.reject(
      new RequestError(
        'RATE_LIMITED',
        `${this.pacer.maxQueued} messages are already waiting for the gateway's rate limit`,
      ),
    );
  }

  /**
   * Sends a message that expects no reply (e.g. SPEAKING). Dropped silently when not ready:
   * such updates are state, and the next one supersedes it.
   */
  send(message: ClientMessage): void {
    // The gateway accepts nothing but IDENTIFY/RESUME before READY (they are sent directly).
    if (this._state.status !== 'ready') return;
    if (UNPACED_OPS.has(message.op)) {
      this.push(message);
      return;
    }
    if (!this.pacer.submit(() => this.push(message)))
      this.log.warn('dropped a message: too many waiting for the rate limit', { op: message.op });
  }

  /** Queues `message` on the current socket's batcher (ready and open only). */
  private push(message: ClientMessage): void {
    const s = this._state;
    if (s.status === 'ready' && s.socket.readyState === WS_OPEN)
      this.batcher?.push(this.sendCodec.encodeMessage(message));
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
    if (next.status !== 'ready' && this.refreshTimer !== undefined) {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = undefined;
    }
    if (prev.status === 'reconnecting') clearTimeout(prev.timer);
    if (prevSocket && prevSocket !== nextSocket) {
      this.detachSocket(prevSocket, next.status === 'closed' ? 1000 : CLOSE_KEEP_SESSION);
    }
    if (next.status === 'ready' || next.status === 'closed' || next.status === 'reconnecting') {
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      clearTimeout(this.openTimer);
      this.openTimer = undefined;
    }
    if (next.status === 'closed') {
      this.pacer.clear();
      const error = next.error ?? ConnectionError.closed('a request was pending');
      for (const [req, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(error);
        this.pending.delete(req);
      }
      this.session = undefined;
      this.participantPages.clear();
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
    // A close event always follows an error and carries the decision; the error only says why
    // (Node's `ws`: ECONNREFUSED, "Unexpected server response: 404"; browsers say nothing).
    this.attemptCause = undefined;
    socket.onerror = (ev) => {
      if (this.current(socket)) this.attemptCause ??= socketErrorCause(ev);
    };
    socket.onopen = () => {
      clearTimeout(this.openTimer);
      this.openTimer = undefined;
    };
    this.batcher = new FrameBatcher(
      this.sendCodec,
      (frame) => {
        if (socket.readyState === WS_OPEN) socket.send(frame);
      },
      {
        windowMs: this.options.batchWindowMs ?? 5,
        onError: (err) => this.log.error('dropped a message over the client limits', { err }),
      },
    );
    this.setState({ status: 'connecting', socket, attempt });
    const openTimeoutMs = this.options.socketOpenTimeoutMs ?? 5_000;
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      this.openTimer = undefined;
      if (!this.current(socket) || socket.readyState === WS_OPEN) return;
      this.log.warn('socket did not open in time', { openTimeoutMs });
      this.attemptCause ??= new Error(
        `no answer from ${this.options.url} within ${openTimeoutMs} ms (host down or filtered?)`,
      );
      this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'open timeout');
    }, openTimeoutMs);
    const timeoutMs = this.options.connectTimeoutMs ?? 15_000;
    this.connectTimer = setTimeout(() => {
      this.log.warn('connect attempt timed out', { timeoutMs });
      this.attemptCause ??= ConnectionError.timeout('waiting for READY', timeoutMs);
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
    clearTimeout(this.openTimer);
    this.openTimer = undefined;
    if (s.status !== 'ready') this.failures++;
    // Consecutive failures drive the backoff, also when the socket opened but failed before
    // READY/RESUMED (e.g. closed while identifying): otherwise the delay never grows.
    const attempt = this.failures;
    const maxAttempts = this.everReady
      ? (this.options.reconnect?.maxAttempts ?? 10)
      : (this.options.connectAttempts ?? this.options.reconnect?.maxAttempts ?? 3);
    const cause =
      this.attemptCause ??
      new Error(
        s.status === 'connecting'
          ? `the WebSocket to ${this.options.url} closed (${code}) before it opened: connection refused, wrong URL or a refused upgrade (browsers do not say which)`
          : `the gateway closed the connection (${code}${reason ? `: ${reason}` : ''}) before READY`,
      );
    this.attemptCause = undefined;
    if (this.failures >= maxAttempts) {
      this.setState({
        status: 'closed',
        error: ConnectionError.unreachable(this.failures, cause),
      });
      return;
    }
    const delayMs = backoffDelayMs(attempt, this.options.reconnect, this.random);
    this.log.info('reconnecting', {
      code,
      reason,
      cause: cause.message,
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
        const intervalMs = m.d.heartbeatIntervalMs;
        const [lo, hi] = HEARTBEAT_INTERVAL_RANGE_MS;
        if (!(intervalMs >= lo && intervalMs <= hi)) {
          this.fail(
            socket,
            ProtocolError.invalidPayload(
              `HELLO heartbeat interval ${intervalMs} ms is outside ${lo}–${hi} ms`,
            ),
          );
          return;
        }
        this.pacer.configure(m.d.rateLimit.messages, m.d.rateLimit.windowMs);
        this.authenticate(socket, intervalMs).catch((err: unknown) =>
          this.tokenFailed(socket, err),
        );
        return;
      }
      case Op.Ready:
        if (s.status !== 'identifying') return;
        this.session = {
          sessionId: m.d.sessionId,
          user: m.d.user,
          resumeWindowMs: m.d.resumeWindowMs,
          resumeSecret: m.d.resumeSecret,
          seq: 0,
        };
        this.failures = 0;
        this.everReady = true;
        // A new session: the server's budget is full, and nothing queued for the old one stands.
        this.pacer.clear();
        this.pacer.reset();
        this.becomeReady(socket, s.heartbeatIntervalMs, m.d.tokenExpiresInMs);
        this.safeEmit('ready', this.publicSession()!, false);
        return;
      case Op.Resumed:
        if (s.status !== 'resuming' || !this.session) return;
        this.failures = 0;
        this.becomeReady(socket, s.heartbeatIntervalMs, m.d.tokenExpiresInMs);
        this.resendUnhandled(m.d.lastReq);
        this.safeEmit('ready', this.publicSession()!, true);
        return;
      case Op.InvalidSession:
        this.invalidateSession();
        if (s.status === 'resuming' || s.status === 'ready') {
          const intervalMs = s.status === 'ready' ? s.heartbeat.intervalMs : s.heartbeatIntervalMs;
          this.setState({ status: 'identifying', socket, heartbeatIntervalMs: intervalMs });
          this.sendIdentify(socket).catch((err: unknown) => this.tokenFailed(socket, err));
        }
        return;
      case Op.Reconnect:
        this.log.info('server asked to reconnect', { reason: m.d.reason });
        this.onSocketClose(socket, CLOSE_KEEP_SESSION, m.d.reason);
        return;
      case Op.HeartbeatAck:
        if (s.status === 'ready') s.heartbeat.onAck(m.d.nonce);
        return;
      case Op.Dispatch:
        this.onDispatch(m);
        return;
    }
  }

  private onDispatch(message: DispatchMessage): void {
    const session = this.session;
    if (!session) return;
    if (message.seq <= session.seq) return; // already seen (replayed twice): exactly once
    if (message.seq !== session.seq + 1)
      this.log.warn('dispatch seq gap', { expected: session.seq + 1, got: message.seq });
    session.seq = message.seq;
    let m = message;
    // A large room's member list arrives in pages, completed by ROOM_JOINED: apps and
    // requests only ever see the whole list.
    if (m.t === 'ROOM_PARTICIPANTS') {
      const pages = this.participantPages.get(m.d.room) ?? [];
      pages.push(...m.d.participants);
      this.participantPages.set(m.d.room, pages);
      return;
    }
    if (m.t === 'ROOM_JOINED') {
      const pages = this.participantPages.get(m.d.room);
      if (pages) {
        this.participantPages.delete(m.d.room);
        m = { ...m, d: { ...m.d, participants: [...pages, ...m.d.participants] } };
      }
    }
    if ('req' in m.d && m.d.req > 0) {
      const p = this.pending.get(m.d.req);
      if (
        p &&
        (m.t === 'ROOM_JOINED' ||
          m.t === 'ROOM_LEFT' ||
          m.t === 'REQUEST_ACK' ||
          m.t === 'REQUEST_ERROR' ||
          m.t === 'TOKEN_REFRESHED' ||
          m.t === 'WEBRTC_TRANSPORTS' ||
          m.t === 'WEBRTC_PRODUCED')
      ) {
        this.pending.delete(m.d.req);
        clearTimeout(p.timer);
        if (m.t === 'REQUEST_ERROR') p.reject(new RequestError(m.d.code, m.d.message));
        else p.resolve(m);
      }
    }
    this.safeEmit('dispatch', m);
  }

  /** Sends pending request `req` unless it was answered, timed out or rejected meanwhile. */
  private sender(req: number): () => void {
    return () => {
      const p = this.pending.get(req);
      if (!p || p.sent) return;
      p.sent = true;
      this.push(p.message);
    };
  }

  /**
   * After RESUMED (whose replay answered every request the server handled): requests sent on
   * the old socket above `lastReq` never reached a handler, so they go again, in order; then
   * whatever waited in the pacer.
   */
  private resendUnhandled(lastReq: number): void {
    const again = [...this.pending]
      .filter(([req, p]) => p.sent && req > lastReq)
      .map(([req]) => req)
      .sort((a, b) => a - b);
    if (again.length > 0)
      this.log.info('sending requests again after resume', { count: again.length });
    // Ahead of anything still waiting: those came later.
    this.pacer.prepend(
      again.map((req) => {
        this.pending.get(req)!.sent = false;
        return this.sender(req);
      }),
    );
    this.pacer.drain();
  }

  private becomeReady(socket: WebSocketLike, intervalMs: number, tokenExpiresInMs: number): void {
    const heartbeat = new Heartbeat(
      intervalMs,
      {
        send: (nonce) => {
          // Never waits behind the pacer (a late beat looks like a zombie); charged to it.
          this.pacer.charge();
          this.push({ op: Op.Heartbeat, d: { nonce, seq: this.lastSeq } });
          this.batcher?.flush();
        },
        zombie: () => {
          this.log.warn('heartbeat not acknowledged: zombie connection');
          this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'zombie');
        },
        ack: (rttMs) => this.safeEmit('heartbeat', rttMs),
      },
      { firstBeatMs: 0 },
    );
    this.setState({ status: 'ready', socket, heartbeat, session: this.publicSession()! });
    this.scheduleRefresh(tokenExpiresInMs);
  }

  // Refresh well before expiry (a fifth of the lifetime, at most a minute, ahead) when the
  // token option is a function; a fixed string cannot be refreshed.
  private scheduleRefresh(expiresInMs: number): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (expiresInMs <= 0) return;
    if (typeof this.options.token === 'string') {
      this.log.warn('the token expires and cannot be refreshed: pass a token function', {
        expiresInMs,
      });
      return;
    }
    const delayMs = Math.max(0, expiresInMs - Math.min(60_000, expiresInMs * 0.2));
    this.refreshTimer = setTimeout(() => void this.refresh(expiresInMs - delayMs), delayMs);
  }

  private async refresh(leftMs: number): Promise<void> {
    this.refreshTimer = undefined;
    const startedAt = Date.now();
    try {
      const token = await this.token();
      const reply = await this.request((req) => ({ op: Op.RefreshToken, d: { req, token } }));
      if (reply.t !== 'TOKEN_REFRESHED') return;
      this.log.info('token refreshed', { expiresInMs: reply.d.tokenExpiresInMs });
      this.safeEmit('tokenRefresh', reply.d.tokenExpiresInMs, undefined);
      this.scheduleRefresh(reply.d.tokenExpiresInMs);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.log.warn('token refresh failed', { message: error.message });
      this.safeEmit('tokenRefresh', 0, error);
      const left = leftMs - (Date.now() - startedAt);
      if (this._state.status === 'ready' && left > REFRESH_RETRY_MS)
        this.refreshTimer = setTimeout(
          () => void this.refresh(left - REFRESH_RETRY_MS),
          REFRESH_RETRY_MS,
        );
    }
  }

  private invalidateSession(): void {
    if (!this.session) return;
    this.session = undefined;
    this.pacer.clear();
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
  private tokenFailed(socket: WebSocketLike, err: unknown): void {
    this.log.warn('token function failed', { err });
    if (this.current(socket))
      this.attemptCause = new Error(
        `the token function failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    this.onSocketClose(socket, CLOSE_KEEP_SESSION, 'token function failed');
  }

  /** Whether `socket` is still the current one (a token callback may outlive it). */
  private current(socket: WebSocketLike): boolean {
    return 'socket' in this._state && this._state.socket === socket;
  }

  private async authenticate(socket: WebSocketLike, heartbeatIntervalMs: number): Promise<void> {
    if (this.session) {
      const token = await this.token();
      const session = this.session;
      if (!this.current(socket) || !session) return;
      this.setState({ status: 'resuming', socket, heartbeatIntervalMs });
      this.sendDirect(socket, {
        op: Op.Resume,
        d: {
          protocolVersion: PROTOCOL_VERSION,
          sessionId: session.sessionId,
          token,
          seq: session.seq,
          resumeSecret: session.resumeSecret,
        },
      });
    } else {
      if (!this.current(socket)) return;
      this.setState({ status: 'identifying', socket, heartbeatIntervalMs });
      await this.sendIdentify(socket);
    }
  }

  private async sendIdentify(socket: WebSocketLike): Promise<void> {
    const token = await this.token();
    // The token callback may take long: IDENTIFY goes only to the socket that asked for it.
    if (!this.current(socket) || this._state.status !== 'identifying') return;
    this.sendDirect(socket, {
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

  // IDENTIFY and RESUME go out alone and at once: the gateway takes one unbatched frame before READY.
  private sendDirect(socket: WebSocketLike, message: ClientMessage): void {
    if (socket.readyState === WS_OPEN) socket.send(this.sendCodec.encode(message));
  }

  private async token(): Promise<string> {
    const t = this.options.token;
    return typeof t === 'string' ? t : await t();
  }
}

function isLoopbackHostname(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '::1';
}

/**
 * What a WebSocket `error` event says about the failure: `ws` passes an ErrorEvent whose `error`
 * has the system error (ECONNREFUSED, ENOTFOUND) or the refused upgrade's HTTP status; browsers
 * pass a bare Event (undefined here: the close that follows explains).
 */
function socketErrorCause(ev: unknown): Error | undefined {
  const e = ev as { error?: unknown; message?: unknown } | null;
  if (e?.error instanceof Error) return e.error;
  if (typeof e?.message === 'string' && e.message.length > 0) return new Error(e.message);
  return undefined;
}
