import { timingSafeEqual } from 'node:crypto';
import {
  CloseCode,
  closeCodeName,
  FLAG_BATCH,
  FrameBatcher,
  FrameType,
  frameTypeOf,
  Op,
  PRE_AUTH_OPS,
  PROTOCOL_VERSION,
  ProtocolError,
  readMediaHeader,
  reconnectPolicy,
  type ClientMessage,
  type IdentifyMessage,
  type RefreshTokenMessage,
  type ResumeMessage,
  type ServerMessage,
  type SetMediaPathMessage,
  type WebRtcConnectMessage,
  type WebRtcConsumeMessage,
  type WebRtcProduceMessage,
} from '@concord/protocol';
import type { WebSocket } from 'ws';
import type { TokenGrant } from './auth/tokens.js';
import { OUTBOUND_BATCH_BYTES } from './config.js';
import { GatewayError } from './errors.js';
import type { GatewayContext } from './GatewayContext.js';
import { MediaRequestFailure } from './MediaRouter.js';
import type { MediaSendResult, Session, SessionSink } from './Session.js';
import { TokenBucket } from './TokenBucket.js';

/**
 * Connection states; each holds only what exists in that state. Deadlines (identify timeout,
 * heartbeats, token expiry, outbound age) are checked by the gateway's sweep
 * ({@link Connection.sweep}), not by timers per connection.
 */
export type ConnectionState =
  | { status: 'awaiting-identify' }
  | { status: 'authenticating' }
  | { status: 'ready'; session: Session }
  | { status: 'closed'; code: number };

const OP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k]),
);

const BINARY = { binary: true } as const;

/** Longest close reason, in UTF-8 bytes (RFC 6455 §5.5: 125-byte control payload − 2-byte code). */
const MAX_CLOSE_REASON_BYTES = 123;
/** How long a peer gets to answer our close frame before the socket is destroyed, in ms. */
const CLOSE_GRACE_MS = 5_000;
/** The same for a slow consumer, whose close frame waits behind its backlog, in ms. */
const SLOW_CLOSE_GRACE_MS = 1_000;

// `ws` throws on a longer reason, and reasons can carry client input (a room name of up to 128
// bytes): cut at a code point boundary so the UTF-8 stays within the limit.
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = '';
  for (const ch of reason.slice(0, MAX_CLOSE_REASON_BYTES)) {
    if (Buffer.byteLength(out + ch) > MAX_CLOSE_REASON_BYTES) break;
    out += ch;
  }
  return out;
}

const CONNECTION = Symbol('concord.connection');
type SocketWithConnection = WebSocket & { [CONNECTION]: Connection };
const connectionOf = (ws: WebSocket): Connection => (ws as SocketWithConnection)[CONNECTION];
function onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  connectionOf(this).onMessage(data, isBinary);
}
function onWsClose(this: WebSocket, code: number): void {
  connectionOf(this).onSocketClose(code);
}
function onWsError(this: WebSocket, err: Error): void {
  connectionOf(this).onSocketError(err);
}
function onWsPong(this: WebSocket): void {
  connectionOf(this).onPong();
}

/** Whether two secrets are equal, in time independent of where they differ. */
function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * One WebSocket connection: HELLO, authentication, heartbeats and zombie detection, the
 * pre-auth budget (one small IDENTIFY/RESUME frame), byte and message rate limits charged
 * before decoding, token expiry and refresh, a bounded outbound queue (bytes and age) and
 * micro-batched sending. Main thread.
 */
export class Connection implements SessionSink {
  private _state: ConnectionState = { status: 'awaiting-identify' };
  // Created with the first dispatch: HELLO, READY and ACKs go out at once, so an idle
  // connection never needs one.
  private batcher: FrameBatcher | undefined;
  // Created on first use: idle connections are what a gateway holds most of.
  private byteBucket: TokenBucket | undefined;
  /** The tail of the handler queue (none while idle). */
  private serial: Promise<void> | undefined;
  private firstPendingAt = 0;
  private pingSentAt = 0;
  /** `performance.now()` when the socket opened. */
  private readonly openedAt: number;
  /** `performance.now()` of the last heartbeat (or of READY). */
  private lastBeatAt = 0;
  /** Bytes handed to the socket so far (control and media). */
  private bytesWritten = 0;
  /** Outbound-age checkpoint: bytes written by `checkpointAt` must drain within the age bound. */
  private checkpointBytes = 0;
  private checkpointAt = 0;
  /**
   * Processing probe: at `at` (performance.now), the session had dispatched up to `seq`; a
   * heartbeat sent more than the age bound later must acknowledge at least that far.
   */
  private probeSeq = 0;
  private probeAt = 0;
  /** Close code the server chose, when the server closed. */
  private serverCloseCode: number | undefined;
  /** Destroys the socket if the peer never completes the close handshake. */
  private terminateTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** Client address (the peer, or from X-Forwarded-For behind a trusted proxy). */
    readonly ip: string,
    private readonly ctx: GatewayContext,
  ) {
    const { config } = ctx;
    this.openedAt = performance.now();
    // Shared listeners (`this` is the socket) rather than four closures per connection: idle
    // connections are what a gateway holds most of.
    (ws as SocketWithConnection)[CONNECTION] = this;
    ws.on('message', onWsMessage);
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
    ws.on('pong', onWsPong);
    this.sendNow({
      op: Op.Hello,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        limits: config.clientLimits,
        rateLimit: { messages: config.rateLimitMessages, windowMs: config.rateLimitWindowMs },
        maxRoomsPerSession: config.maxRoomsPerSession,
      },
    });
  }

  /** Current state. */
  get state(): ConnectionState {
    return this._state;
  }

  /** Whether the server has started closing this connection. */
  get closing(): boolean {
    return this.serverCloseCode !== undefined || this._state.status === 'closed';
  }

  /**
   * Checks this connection's deadlines; the gateway calls it about once a second (and more
   * often with short settings). `now` is `performance.now()`, `wallMs` is `Date.now()`.
   */
  sweep(now: number, wallMs: number): void {
    if (this.closing) return;
    const { config } = this.ctx;
    const s = this._state;
    if (s.status === 'awaiting-identify' || s.status === 'authenticating') {
      if (now - this.openedAt > config.identifyTimeoutMs)
        this.close(CloseCode.SESSION_TIMED_OUT, 'identify timeout');
      return;
    }
    if (s.status !== 'ready') return;
    if (now - this.lastBeatAt > config.heartbeatIntervalMs + config.heartbeatGraceMs) {
      this.close(CloseCode.SESSION_TIMED_OUT, 'heartbeat missed');
      return;
    }
    const expiresAt = s.session.record.expiresAt;
    if (wallMs > (expiresAt + config.tokenClockToleranceSec) * 1000) {
      this.close(CloseCode.TOKEN_EXPIRED, 'token expired: refresh it before it runs out');
      return;
    }
    this.checkOutboundAge(now);
  }

  /** Queues an encoded message; implements {@link SessionSink}. */
  enqueue(message: Uint8Array, type: string): void {
    if (this.closing) return;
    this.ctx.metrics.countOut(type);
    const batcher = (this.batcher ??= this.createBatcher());
    if (batcher.pendingCount === 0) this.firstPendingAt = performance.now();
    batcher.push(message);
  }

  private createBatcher(): FrameBatcher {
    const { ctx } = this;
    return new FrameBatcher(ctx.codec, (frame) => this.write(frame), {
      windowMs: ctx.config.batchWindowMs,
      maxPendingBytes: OUTBOUND_BATCH_BYTES,
      onError: (err) => {
        // A message that cannot be framed is a server bug; it is dropped, never thrown from
        // the batch timer (which would end the process). The client sees a seq gap.
        ctx.metrics.rejections.inc({ code: 'OUTBOUND_FRAME_ERROR' });
        ctx.logger.error({ err, ip: this.ip }, 'dropped an outgoing message that cannot be framed');
      },
    });
  }

  /**
   * Writes one media frame at once, bypassing the control batcher; drops it (`'slow'`) while
   * more than `maxBufferedMediaBytes` wait in the socket — `ws` cannot drop what it already
   * queued, so the newest media gives way. Implements {@link SessionSink}.
   */
  sendMedia(frame: Uint8Array): MediaSendResult {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN || this.serverCloseCode !== undefined) return 'closed';
    if (ws.bufferedAmount > this.ctx.config.maxBufferedMediaBytes) return 'slow';
    ws.send(frame, BINARY);
    this.bytesWritten += frame.length;
    return 'sent';
  }

  /** Sends a RECONNECT and closes with `SERVER_DRAINING` (graceful shutdown). */
  drain(reason: string): void {
    if (this.closing) return;
    this.enqueue(this.ctx.codec.encodeMessage({ op: Op.Reconnect, d: { reason } }), 'RECONNECT');
    this.close(CloseCode.SERVER_DRAINING, reason);
  }

  /**
   * Flushes what is queued and closes the socket with `code` (idempotent). Must-not-reconnect
   * codes end the session at once; may-resume codes keep it for the resume window.
   */
  close(code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (this.closing) return;
    this.serverCloseCode = code;
    if (code !== CloseCode.SLOW_CONSUMER) this.batcher?.flush();
    const name = closeCodeName(code);
    if (name) this.ctx.metrics.rejections.inc({ code: name });
    this.ctx.logger.info(
      { ip: this.ip, code, codeName: name, reason, userId: this.sessionOrUndefined()?.userId },
      'closing connection',
    );
    this.ws.close(code, closeReason(reason));
    // A peer that never answers the close handshake must not hold the socket.
    this.terminateTimer = setTimeout(() => this.ws.terminate(), graceMs);
    this.terminateTimer.unref();
  }

  private sessionOrUndefined(): Session | undefined {
    return this._state.status === 'ready' ? this._state.session : undefined;
  }

  /** @internal A WebSocket message arrived. */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    this.ctx.metrics.bytesIn.inc(data.length);
    if (!isBinary) {
      this.close(CloseCode.INVALID_FRAME, 'text frames are not accepted');
      return;
    }
    if (frameTypeOf(data) === FrameType.Media) {
      this.onMedia(data);
      return;
    }
    if (this._state.status === 'ready') this.onControl(data, this._state.session);
    else this.onPreAuth(data);
  }

  // Before the session exists a client may send exactly one small frame holding one IDENTIFY
  // or RESUME: nothing else costs the server work before the token is checked.
  private onPreAuth(data: Buffer): void {
    if (this._state.status !== 'awaiting-identify') {
      this.close(CloseCode.NOT_AUTHENTICATED, 'wait for READY before sending');
      return;
    }
    const { config, clientCodec } = this.ctx;
    if (data.length > config.preAuthMaxFrameBytes) {
      this.close(
        CloseCode.FRAME_TOO_LARGE,
        `a frame before READY may hold ${config.preAuthMaxFrameBytes} bytes, got ${data.length}`,
      );
      return;
    }
    if ((data[0]! & FLAG_BATCH) !== 0) {
      this.close(CloseCode.INVALID_FRAME, 'send IDENTIFY or RESUME alone, unbatched');
      return;
    }
    let m: ClientMessage;
    try {
      m = clientCodec.decodeClientFrame(data)[0]!;
    } catch (err) {
      this.closeForError(err);
      return;
    }
    this.ctx.metrics.countIn(OP_NAMES[m.op] ?? String(m.op));
    if (!PRE_AUTH_OPS.has(m.op)) {
      this.close(CloseCode.NOT_AUTHENTICATED, 'identify first');
      return;
    }
    const auth = m as IdentifyMessage | ResumeMessage;
    if (auth.d.protocolVersion !== PROTOCOL_VERSION) {
      this.close(
        CloseCode.UNSUPPORTED_VERSION,
        `protocol version ${auth.d.protocolVersion} is not supported (this gateway speaks ${PROTOCOL_VERSION})`,
      );
      return;
    }
    this.setState({ status: 'authenticating' });
    this.run(() => (auth.op === Op.Identify ? this.identify(auth) : this.resume(auth)));
  }

  private onControl(data: Buffer, session: Session): void {
    const { config, clientCodec } = this.ctx;
    // Charged on arrival, before any decoding: a flood of frames costs the sender its budget
    // first, whatever they contain.
    this.byteBucket ??= new TokenBucket(config.rateLimitBytes, config.rateLimitWindowMs);
    if (!this.byteBucket.take(data.length)) {
      this.close(CloseCode.RATE_LIMITED, 'byte rate limit');
      return;
    }
    let messages: ClientMessage[];
    try {
      messages = clientCodec.decodeClientFrame(data);
    } catch (err) {
      this.closeForError(err);
      return;
    }
    for (const m of messages) {
      this.ctx.metrics.countIn(OP_NAMES[m.op] ?? String(m.op));
      if (!this.bucketFor(session, m.op).take()) {
        this.close(CloseCode.RATE_LIMITED, 'rate limited');
        return;
      }
    }
    this.run(async () => {
      for (const m of messages) {
        if (this.closing) return;
        const req = (m.d as { req?: unknown } | undefined)?.req;
        if (typeof req === 'number' && req > session.lastReq) session.lastReq = req;
        await this.handle(session, m);
      }
    });
  }

  // Handlers may await the store: run them one after another, in arrival order. Nothing thrown
  // while handling a message may take the process down.
  private run(task: () => Promise<void>): void {
    const tail = (this.serial ?? Promise.resolve())
      .then(task)
      .catch((err: unknown) => {
        if (err instanceof GatewayError || err instanceof ProtocolError) {
          this.close(err.closeCode, err.message);
          return;
        }
        this.ctx.logger.error({ err }, 'request handler failed');
        this.close(CloseCode.UNKNOWN_ERROR, 'internal error');
      })
      .catch((err: unknown) => {
        this.ctx.logger.error({ err }, 'connection handler failed');
        this.ws.terminate();
      })
      .finally(() => {
        if (this.serial === tail) this.serial = undefined;
      });
    this.serial = tail;
  }

  /** @internal A pong arrived: the round trip of the ping sent on the last heartbeat. */
  onPong(): void {
    if (this.pingSentAt > 0)
      this.ctx.metrics.heartbeatRtt.observe((performance.now() - this.pingSentAt) / 1000);
    this.pingSentAt = 0;
  }

  /** @internal The socket reported an error (a close follows). */
  onSocketError(err: Error): void {
    this.ctx.logger.debug({ err, ip: this.ip }, 'socket error');
  }

  private closeForError(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.close(err.closeCode, err.message);
      return;
    }
    this.ctx.logger.error({ err }, 'frame decoding failed unexpectedly');
    this.close(CloseCode.UNKNOWN_ERROR, 'internal error');
  }

  // Media is relayed synchronously, outside the control queue and its rate limit (the relay
  // has its own per-stream frame-rate limit and frames are at most MAX_MEDIA_FRAME_BYTES).
  private onMedia(data: Buffer): void {
    const state = this._state;
    try {
      if (state.status === 'ready') {
        this.ctx.media.relayFrame(state.session, data);
        return;
      }
      // Malformed frames earn INVALID_FRAME whatever the state, as control frames do.
      readMediaHeader(data);
      if (state.status === 'authenticating') this.ctx.metrics.countMediaDrop('not_ready');
      else this.close(CloseCode.NOT_AUTHENTICATED, 'identify first');
    } catch (err) {
      if (err instanceof ProtocolError || err instanceof GatewayError) {
        this.close(err.closeCode, err.message);
        return;
      }
      this.ctx.logger.error({ err }, 'media relay failed');
      this.close(CloseCode.UNKNOWN_ERROR, 'internal error');
    }
  }

  private async handle(session: Session, m: ClientMessage): Promise<void> {
    const { rooms } = this.ctx;
    let error: string | undefined;
    switch (m.op) {
      case Op.Identify:
      case Op.Resume:
        this.close(CloseCode.ALREADY_AUTHENTICATED, 'already identified');
        return;
      case Op.Heartbeat: {
        const now = performance.now();
        this.lastBeatAt = now;
        // The client has processed every dispatch up to `seq`: the replay buffer lets them go.
        session.acknowledge(m.d.seq);
        // A client that beats but does not read hides behind the kernel's socket buffers (MBs
        // on loopback) long before our own queue grows: its acknowledged seq gives it away.
        if (m.d.seq >= this.probeSeq) {
          this.probeSeq = session.lastSeq;
          this.probeAt = now;
        } else if (now - this.probeAt > this.ctx.config.maxOutboundAgeMs) {
          this.slowConsumer('unread', session.lastSeq - m.d.seq);
          return;
        }
        this.sendNow({ op: Op.HeartbeatAck, d: { nonce: m.d.nonce } });
        if (this.pingSentAt === 0) {
          this.pingSentAt = performance.now();
          this.ws.ping();
        }
        return;
      }
      case Op.RefreshToken:
        await this.refreshToken(session, m);
        return;
      case Op.JoinRoom:
        if (!this.ctx.roomAllowed(session, m.d.room)) {
          error = 'ROOM_FORBIDDEN';
          break;
        }
        error = await rooms.join(session, m.d.req, m.d.room);
        break;
      case Op.LeaveRoom:
        error = await rooms.leave(session, m.d.req, m.d.room);
        break;
      case Op.UpdateVoiceState:
        error = await rooms.updateVoiceState(session, m.d.room, {
          muted: m.d.muted,
          deafened: m.d.deafened,
        });
        if (!error) rooms.send(session, 'REQUEST_ACK', { req: m.d.req });
        break;
      case Op.Speaking:
        await rooms.speaking(session, m.d.room, m.d.speaking);
        return;
      case Op.ReceiverReport:
        rooms.receiverReport(session, m.d.room, m.d.reports);
        return;
      case Op.SetMediaPath:
      case Op.WebRtcConnect:
      case Op.WebRtcProduce:
      case Op.WebRtcConsume:
        error = await this.mediaRequest(session, m);
        break;
      case Op.WebRtcResume:
        await this.ctx.media.resume(session, m.d.room, m.d.consumerId).catch((err: unknown) => {
          if (!(err instanceof MediaRequestFailure)) throw err;
        });
        return;
      default:
        return;
    }
    if (error)
      rooms.send(session, 'REQUEST_ERROR', {
        req: m.d.req,
        code: error,
        message: `${error.toLowerCase().replaceAll('_', ' ')}: ${m.d.room}`,
      });
  }

  // WebRTC signalling: each request is answered (its reply event, or REQUEST_ACK), or refused
  // with REQUEST_ERROR carrying the SFU's code; the connection stays either way.
  private async mediaRequest(
    session: Session,
    m: SetMediaPathMessage | WebRtcConnectMessage | WebRtcProduceMessage | WebRtcConsumeMessage,
  ): Promise<string | undefined> {
    const { media, rooms } = this.ctx;
    const { req, room } = m.d;
    if (!session.rooms.has(room)) return 'NOT_IN_ROOM';
    try {
      switch (m.op) {
        case Op.SetMediaPath: {
          const path = m.d.path;
          if (path !== 'webrtc' && path !== 'websocket') return 'INVALID_PARAMETERS';
          const reply = await media.setPath(session, room, path);
          if (reply) rooms.send(session, 'WEBRTC_TRANSPORTS', { req, ...reply });
          else rooms.send(session, 'REQUEST_ACK', { req });
          return undefined;
        }
        case Op.WebRtcConnect:
          await media.connect(session, room, m.d.transportId, m.d.dtlsParameters);
          rooms.send(session, 'REQUEST_ACK', { req });
          return undefined;
        case Op.WebRtcProduce: {
          const producerId = await media.produce(session, room, m.d.transportId, m.d.rtpParameters);
          rooms.send(session, 'WEBRTC_PRODUCED', { req, room, producerId });
          return undefined;
        }
        case Op.WebRtcConsume:
          rooms.send(session, 'REQUEST_ACK', { req });
          await media.consume(session, room, m.d.rtpCapabilities);
          return undefined;
      }
    } catch (err) {
      if (err instanceof MediaRequestFailure) {
        this.ctx.logger.debug({ code: err.code, room, userId: session.userId }, err.message);
        return err.code;
      }
      throw err;
    }
  }

  private async identify(m: IdentifyMessage): Promise<void> {
    const grant = await this.ctx.authenticate(m.d.token);
    if (this.closing) return;
    const session = await this.ctx.createSession(grant);
    // The store may be slow: a socket that closed meanwhile never learns of this session.
    if (this.closing) {
      await this.ctx.endSession(session);
      return;
    }
    this.becomeReady(session);
    this.sendNow({
      op: Op.Ready,
      d: {
        sessionId: session.id,
        user: { id: session.userId, name: session.record.name },
        resumeWindowMs: this.ctx.config.resumeWindowMs,
        resumeSecret: this.ctx.resumeSecretOf(session.id),
        tokenExpiresInMs: this.expiresInMs(session.record.expiresAt),
      },
    });
    this.ctx.logger.info(
      { ip: this.ip, userId: session.userId, client: m.d.capabilities.client },
      'session ready',
    );
    this.ctx.logger.debug({ sessionId: session.id }, 'session id');
  }

  private async resume(m: ResumeMessage): Promise<void> {
    const grant = await this.ctx.authenticate(m.d.token);
    if (this.closing) return;
    // Cluster: a session held (or left) by another node moves here with its replay buffer.
    const session =
      this.ctx.sessions.get(m.d.sessionId) ??
      (await this.ctx.claimSession?.(m.d.sessionId, grant, m.d.resumeSecret));
    if (this.closing) {
      // Claimed for a socket that closed meanwhile: resumable here for the window.
      if (session && !session.connection) this.ctx.scheduleExpiry(session);
      return;
    }
    const owned =
      session !== undefined &&
      session.userId === grant.userId &&
      secretsEqual(this.ctx.resumeSecretOf(session.id), m.d.resumeSecret);
    const replay = owned ? session.replaySince(m.d.seq) : undefined;
    if (!session || !owned || !replay || !replay.ok) {
      this.ctx.metrics.resumes.inc({ outcome: 'invalid' });
      const reason = !session
        ? 'unknown session'
        : !owned
          ? 'wrong user or resume secret'
          : replay && !replay.ok
            ? replay.reason
            : 'unknown';
      this.ctx.logger.info({ ip: this.ip, userId: grant.userId, reason }, 'resume refused');
      // Only the session's owner may end it: a wrong secret must not kill someone's session.
      if (session && owned) {
        // A session whose stream cannot be continued exactly is over: its rooms are left.
        const stale = session.connection;
        if (stale instanceof Connection && stale !== this)
          stale.close(CloseCode.SESSION_REPLACED, 'session ended');
        await this.ctx.endSession(session);
      }
      if (this.closing) return;
      this.setState({ status: 'awaiting-identify' });
      this.sendNow({ op: Op.InvalidSession, d: { resumable: false } });
      return;
    }
    const previous = session.connection;
    if (previous instanceof Connection && previous !== this)
      previous.close(CloseCode.SESSION_REPLACED, 'session resumed elsewhere');
    this.becomeReady(session);
    for (const message of replay.messages) this.enqueue(message, 'DISPATCH_REPLAY');
    this.sendNow({
      op: Op.Resumed,
      d: {
        replayed: replay.messages.length,
        tokenExpiresInMs: this.expiresInMs(grant.expiresAt),
        lastReq: session.lastReq,
      },
    });
    // The token presented now is the session's token from here on: its grants and expiry.
    await this.applyGrant(session, grant);
    this.ctx.metrics.resumes.inc({ outcome: 'resumed' });
    this.ctx.logger.info(
      { ip: this.ip, userId: session.userId, replayed: replay.messages.length },
      'session resumed',
    );
  }

  private async refreshToken(session: Session, m: RefreshTokenMessage): Promise<void> {
    let grant: TokenGrant;
    try {
      grant = await this.ctx.authenticate(m.d.token);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      const code = err.code === 'CONCORD_ERR_AUTH_EXPIRED' ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID';
      this.ctx.rooms.send(session, 'REQUEST_ERROR', { req: m.d.req, code, message: err.message });
      return;
    }
    if (grant.userId !== session.userId) {
      this.ctx.rooms.send(session, 'REQUEST_ERROR', {
        req: m.d.req,
        code: 'TOKEN_USER_MISMATCH',
        message: 'the new token names another user',
      });
      return;
    }
    await this.applyGrant(session, grant);
    this.ctx.rooms.send(session, 'TOKEN_REFRESHED', {
      req: m.d.req,
      tokenExpiresInMs: this.expiresInMs(grant.expiresAt),
    });
  }

  // A new token replaces the old one's expiry and room grants; rooms it no longer allows are
  // left at once.
  private async applyGrant(session: Session, grant: TokenGrant): Promise<void> {
    session.record.expiresAt = grant.expiresAt;
    session.record.allowedRooms = grant.rooms;
    for (const room of [...session.rooms]) {
      if (!this.ctx.roomAllowed(session, room))
        await this.ctx.rooms.leave(session, 0, room, 'forbidden');
    }
  }

  private expiresInMs(expiresAtSec: number): number {
    if (expiresAtSec >= Number.MAX_SAFE_INTEGER / 1000) return 0;
    return Math.max(1, expiresAtSec * 1000 - Date.now());
  }

  private becomeReady(session: Session): void {
    session.attach(this);
    this.lastBeatAt = performance.now();
    this.setState({ status: 'ready', session });
  }

  private setState(next: ConnectionState): void {
    this._state = next;
  }

  private bucketFor(session: Session, op: number): TokenBucket {
    const { config } = this.ctx;
    if (op === Op.Speaking) {
      return (session.speakingBucket ??= new TokenBucket(
        config.speakingRateLimitMessages,
        config.rateLimitWindowMs,
      ));
    }
    if (op === Op.ReceiverReport) {
      return (session.reportBucket ??= new TokenBucket(
        config.reportRateLimitMessages,
        config.rateLimitWindowMs,
      ));
    }
    return (session.controlBucket ??= new TokenBucket(
      config.rateLimitMessages,
      config.rateLimitWindowMs,
    ));
  }

  /**
   * Sends a non-dispatch message at once (HELLO, READY, ACKs are latency-critical), after
   * anything already queued.
   */
  private sendNow(message: ServerMessage): void {
    const encoded = this.ctx.codec.encodeMessage(message);
    const type = OP_NAMES[message.op] ?? String(message.op);
    if (this.batcher !== undefined && this.batcher.pendingCount > 0) {
      this.enqueue(encoded, type);
      this.batcher.flush();
      return;
    }
    if (this.closing) return;
    this.ctx.metrics.countOut(type);
    this.write(this.ctx.codec.frame([encoded]));
  }

  private write(frame: Uint8Array): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN || this.serverCloseCode === CloseCode.SLOW_CONSUMER) return;
    if (ws.bufferedAmount + frame.length > this.ctx.config.maxOutboundBytes) {
      this.slowConsumer('bytes', ws.bufferedAmount + frame.length);
      return;
    }
    ws.send(frame, BINARY);
    this.bytesWritten += frame.length;
    const { metrics } = this.ctx;
    metrics.bytesOut.inc(frame.length);
    metrics.framesOut.inc();
    if (this.firstPendingAt > 0)
      metrics.fanoutLatency.observe((performance.now() - this.firstPendingAt) / 1000);
    this.firstPendingAt = 0;
  }

  // Bytes handed to the socket by `checkpointAt` must have left it within the age bound: a
  // client that stops reading fills the kernel buffers, then ours, and is cut here.
  private checkOutboundAge(now: number): void {
    const buffered = this.ws.bufferedAmount;
    if (buffered === 0) {
      this.checkpointAt = 0;
      return;
    }
    const flushed = this.bytesWritten - buffered;
    if (this.checkpointAt === 0 || flushed >= this.checkpointBytes) {
      this.checkpointBytes = this.bytesWritten;
      this.checkpointAt = now;
    } else if (now - this.checkpointAt > this.ctx.config.maxOutboundAgeMs) {
      this.slowConsumer('age', buffered);
    }
  }

  /**
   * `bytes`: the socket's unsent bytes would pass `maxOutboundBytes`; `age`: bytes waited
   * unsent longer than `maxOutboundAgeMs`; `unread`: a heartbeat acknowledged less than the
   * session had sent more than `maxOutboundAgeMs` before. `amount` is bytes, or events behind.
   */
  private slowConsumer(bound: 'bytes' | 'age' | 'unread', amount: number): void {
    this.ctx.metrics.slowConsumers.inc({ bound });
    this.ctx.logger.info(
      { ip: this.ip, bound, amount, userId: this.sessionOrUndefined()?.userId },
      'slow consumer',
    );
    // What was queued is in the session's replay buffer: the client resumes and gets it.
    this.batcher?.clear();
    this.close(
      CloseCode.SLOW_CONSUMER,
      bound === 'unread'
        ? 'events sent long ago are still unread: resume and read faster'
        : `outbound queue over its ${bound} bound: resume and read faster`,
      SLOW_CLOSE_GRACE_MS,
    );
  }

  /** @internal The socket closed. */
  onSocketClose(code: number): void {
    const prev = this._state;
    if (prev.status === 'closed') return;
    // Closed in time: nothing may keep this connection alive any longer.
    if (this.terminateTimer !== undefined) clearTimeout(this.terminateTimer);
    this.batcher?.clear();
    this.setState({ status: 'closed', code: this.serverCloseCode ?? code });
    this.ctx.onConnectionClosed(this);
    if (prev.status !== 'ready') return;
    const session = prev.session;
    if (!session.detach(this)) return; // already resumed on another connection
    const serverCode = this.serverCloseCode;
    const clientLeft = serverCode === undefined && (code === 1000 || code === 1001);
    const mustEnd =
      serverCode !== undefined && reconnectPolicy(serverCode) === 'must-not-reconnect';
    if (clientLeft || mustEnd) {
      this.ctx
        .endSession(session)
        .catch((err: unknown) =>
          this.ctx.logger.error({ err, userId: session.userId }, 'ending a session failed'),
        );
    } else this.ctx.scheduleExpiry(session);
    this.ctx.logger.info(
      {
        ip: this.ip,
        userId: session.userId,
        code: this.serverCloseCode ?? code,
        resumable: !(clientLeft || mustEnd),
      },
      'connection closed',
    );
  }
}
