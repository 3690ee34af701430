import {
  CloseCode,
  closeCodeName,
  FrameBatcher,
  FrameType,
  frameTypeOf,
  Op,
  PROTOCOL_VERSION,
  ProtocolError,
  readMediaHeader,
  reconnectPolicy,
  type ClientMessage,
  type IdentifyMessage,
  type ResumeMessage,
  type ServerMessage,
} from '@concord/protocol';
import type { WebSocket } from 'ws';
import { GatewayError } from './errors.js';
import type { GatewayContext } from './GatewayContext.js';
import type { MediaSendResult, Session, SessionSink } from './Session.js';
import { TokenBucket } from './TokenBucket.js';

/** Connection states; each holds only what exists in that state. */
export type ConnectionState =
  | { status: 'awaiting-identify'; timer: ReturnType<typeof setTimeout> }
  | { status: 'authenticating' }
  | { status: 'ready'; session: Session; zombieTimer: ReturnType<typeof setTimeout> }
  | { status: 'closed'; code: number };

const OP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k]),
);

const MEDIA_SEND_OPTIONS = { binary: true } as const;

/** Longest close reason, in UTF-8 bytes (RFC 6455 §5.5: 125-byte control payload − 2-byte code). */
const MAX_CLOSE_REASON_BYTES = 123;

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

/**
 * One WebSocket connection: HELLO, authentication, heartbeats and zombie detection, rate
 * limits, request handling and micro-batched sending. Main thread.
 */
export class Connection implements SessionSink {
  private _state: ConnectionState;
  private readonly batcher: FrameBatcher;
  private readonly bucket: TokenBucket;
  // Created on first use: most connections never speak or report, and idle connections are
  // what a gateway holds most of (issue 2 measures bytes per idle connection).
  private speakingBucket: TokenBucket | undefined;
  private reportBucket: TokenBucket | undefined;
  private serial: Promise<void> = Promise.resolve();
  private firstPendingAt = 0;
  private pingSentAt = 0;
  /** Close code the server chose, when the server closed. */
  private serverCloseCode: number | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** Remote IP address. */
    readonly ip: string,
    private readonly ctx: GatewayContext,
  ) {
    const { config } = ctx;
    this.batcher = new FrameBatcher(ctx.codec, (frame) => this.write(frame), {
      windowMs: config.batchWindowMs,
    });
    this.bucket = new TokenBucket(config.rateLimitMessages, config.rateLimitWindowMs);
    this._state = {
      status: 'awaiting-identify',
      timer: setTimeout(
        () => this.close(CloseCode.SESSION_TIMED_OUT, 'identify timeout'),
        config.identifyTimeoutMs,
      ),
    };
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', (code) => this.onSocketClose(code));
    ws.on('error', (err) => ctx.logger.debug({ err, ip }, 'socket error'));
    ws.on('pong', () => {
      if (this.pingSentAt > 0)
        ctx.metrics.heartbeatRtt.observe((performance.now() - this.pingSentAt) / 1000);
      this.pingSentAt = 0;
    });
    this.sendNow({
      op: Op.Hello,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        limits: config.limits,
        rateLimit: { messages: config.rateLimitMessages, windowMs: config.rateLimitWindowMs },
        maxRoomsPerSession: config.maxRoomsPerSession,
      },
    });
  }

  /** Current state. */
  get state(): ConnectionState {
    return this._state;
  }

  private setState(next: ConnectionState): void {
    const prev = this._state;
    if (prev.status === 'awaiting-identify') clearTimeout(prev.timer);
    if (
      prev.status === 'ready' &&
      (next.status !== 'ready' || next.zombieTimer !== prev.zombieTimer)
    )
      clearTimeout(prev.zombieTimer);
    this._state = next;
  }

  /** Queues an encoded message; implements {@link SessionSink}. */
  enqueue(message: Uint8Array, type: string): void {
    if (this._state.status === 'closed') return;
    this.ctx.metrics.countOut(type);
    if (this.batcher.pendingCount === 0) this.firstPendingAt = performance.now();
    this.batcher.push(message);
  }

  /**
   * Writes one media frame at once, bypassing the control batcher; drops it (`'slow'`) while
   * more than `maxBufferedMediaBytes` wait in the socket — `ws` cannot drop what it already
   * queued, so the newest media gives way. Control messages are never dropped. Implements
   * {@link SessionSink}.
   */
  sendMedia(frame: Uint8Array): MediaSendResult {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN || this.serverCloseCode !== undefined) return 'closed';
    if (ws.bufferedAmount > this.ctx.config.maxBufferedMediaBytes) return 'slow';
    ws.send(frame, MEDIA_SEND_OPTIONS);
    return 'sent';
  }

  /** Sends a RECONNECT and closes with `SERVER_DRAINING` (graceful shutdown). */
  drain(reason: string): void {
    if (this._state.status === 'closed') return;
    this.enqueue(this.ctx.codec.encodeMessage({ op: Op.Reconnect, d: { reason } }), 'RECONNECT');
    this.close(CloseCode.SERVER_DRAINING, reason);
  }

  /**
   * Flushes what is queued and closes the socket with `code` (idempotent). Must-not-reconnect
   * codes end the session at once; may-resume codes keep it for the resume window.
   */
  close(code: number, reason: string): void {
    if (this._state.status === 'closed' || this.serverCloseCode !== undefined) return;
    this.serverCloseCode = code;
    this.batcher.flush();
    const name = closeCodeName(code);
    if (name) this.ctx.metrics.rejections.inc({ code: name });
    this.ctx.logger.info(
      { ip: this.ip, code, codeName: name, reason, userId: this.sessionOrUndefined()?.userId },
      'closing connection',
    );
    this.ws.close(code, closeReason(reason));
    // A peer that never answers the close handshake must not hold the socket.
    setTimeout(() => this.ws.terminate(), 5_000).unref();
  }

  private sessionOrUndefined(): Session | undefined {
    return this._state.status === 'ready' ? this._state.session : undefined;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this._state.status === 'closed' || this.serverCloseCode !== undefined) return;
    this.ctx.metrics.bytesIn.inc(data.length);
    if (!isBinary) {
      this.close(CloseCode.INVALID_FRAME, 'text frames are not accepted');
      return;
    }
    if (frameTypeOf(data) === FrameType.Media) {
      this.onMedia(data);
      return;
    }
    let messages: ClientMessage[];
    try {
      messages = this.ctx.codec.decodeClientFrame(data);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.close(err.closeCode, err.message);
        return;
      }
      throw err;
    }
    for (const m of messages) {
      this.ctx.metrics.countIn(OP_NAMES[m.op] ?? String(m.op));
      const bucket = this.bucketFor(m.op);
      if (!bucket.take()) {
        this.close(CloseCode.RATE_LIMITED, 'rate limited');
        return;
      }
    }
    // Handlers may await the store: run them one after another, in arrival order.
    this.serial = this.serial.then(async () => {
      for (const m of messages) {
        if (this._state.status === 'closed' || this.serverCloseCode !== undefined) return;
        try {
          await this.handle(m);
        } catch (err) {
          if (err instanceof GatewayError) this.close(err.closeCode, err.message);
          else {
            this.ctx.logger.error({ err }, 'request handler failed');
            this.close(CloseCode.UNKNOWN_ERROR, 'internal error');
          }
        }
      }
    });
    // Last line of defence: nothing thrown while handling a message may take the process down.
    this.serial = this.serial.catch((err: unknown) => {
      this.ctx.logger.error({ err }, 'connection handler failed');
      this.ws.terminate();
    });
  }

  // Media is relayed synchronously, outside the control queue and its rate limit.
  private onMedia(data: Buffer): void {
    const state = this._state;
    try {
      if (state.status === 'ready') {
        this.ctx.relay.relay(state.session, data);
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

  private async handle(m: ClientMessage): Promise<void> {
    const state = this._state;
    switch (m.op) {
      case Op.Identify:
      case Op.Resume:
        if (state.status !== 'awaiting-identify') {
          this.close(CloseCode.ALREADY_AUTHENTICATED, 'already identified');
          return;
        }
        if (m.d.protocolVersion !== PROTOCOL_VERSION) {
          this.close(
            CloseCode.UNSUPPORTED_VERSION,
            `protocol version ${m.d.protocolVersion} is not supported`,
          );
          return;
        }
        this.setState({ status: 'authenticating' });
        if (m.op === Op.Identify) await this.identify(m);
        else await this.resume(m);
        return;
      case Op.Heartbeat:
        // Clients beat from HELLO on (the first beat jittered, as Discord's gateway does), so
        // a beat may arrive before IDENTIFY or after INVALID_SESSION: acknowledge it too.
        // Restart the zombie deadline from this beat (refresh: no new timer per heartbeat).
        if (state.status === 'ready') state.zombieTimer.refresh();
        this.sendNow({ op: Op.HeartbeatAck, d: { nonce: m.d.nonce } });
        if (this.pingSentAt === 0) {
          this.pingSentAt = performance.now();
          this.ws.ping();
        }
        return;
      default:
        if (state.status !== 'ready') break;
        await this.request(state.session, m);
        return;
    }
    this.close(CloseCode.NOT_AUTHENTICATED, 'identify first');
  }

  private async identify(m: IdentifyMessage): Promise<void> {
    const grant = await this.ctx.authenticate(m.d.token);
    if (this._state.status === 'closed') return;
    const session = await this.ctx.createSession(grant);
    this.becomeReady(session);
    this.sendNow({
      op: Op.Ready,
      d: {
        sessionId: session.id,
        user: { id: session.userId, name: session.record.name },
        resumeWindowMs: this.ctx.config.resumeWindowMs,
      },
    });
    this.ctx.logger.info(
      {
        ip: this.ip,
        userId: session.userId,
        sessionId: session.id,
        client: m.d.capabilities.client,
      },
      'session ready',
    );
  }

  private async resume(m: ResumeMessage): Promise<void> {
    const grant = await this.ctx.authenticate(m.d.token);
    if (this._state.status === 'closed') return;
    const session = this.ctx.sessions.get(m.d.sessionId);
    const replay =
      session && session.userId === grant.userId ? session.replaySince(m.d.seq) : undefined;
    if (!session || !replay || !replay.ok) {
      this.ctx.metrics.resumes.inc({ outcome: 'invalid' });
      this.ctx.logger.info(
        {
          ip: this.ip,
          sessionId: m.d.sessionId,
          reason: !session
            ? 'unknown session'
            : replay && !replay.ok
              ? replay.reason
              : 'user mismatch',
        },
        'resume refused',
      );
      // A session whose stream cannot be continued exactly is over: its rooms are left.
      if (session && session.userId === grant.userId) {
        // An older socket still attached to that session must not outlive it.
        const stale = session.connection;
        if (stale instanceof Connection && stale !== this)
          stale.close(CloseCode.SESSION_REPLACED, 'session ended');
        await this.ctx.endSession(session);
      }
      this.setState({
        status: 'awaiting-identify',
        timer: setTimeout(
          () => this.close(CloseCode.SESSION_TIMED_OUT, 'identify timeout'),
          this.ctx.config.identifyTimeoutMs,
        ),
      });
      this.sendNow({ op: Op.InvalidSession, d: { resumable: false } });
      return;
    }
    const previous = session.connection;
    if (previous instanceof Connection && previous !== this)
      previous.close(CloseCode.SESSION_REPLACED, 'session resumed elsewhere');
    this.becomeReady(session);
    for (const message of replay.messages) this.enqueue(message, 'DISPATCH_REPLAY');
    this.sendNow({ op: Op.Resumed, d: { replayed: replay.messages.length } });
    this.ctx.metrics.resumes.inc({ outcome: 'resumed' });
    this.ctx.logger.info(
      {
        ip: this.ip,
        userId: session.userId,
        sessionId: session.id,
        replayed: replay.messages.length,
      },
      'session resumed',
    );
  }

  private becomeReady(session: Session): void {
    session.attach(this);
    this.setState({ status: 'ready', session, zombieTimer: this.zombieTimer() });
  }

  private bucketFor(op: number): TokenBucket {
    const { config } = this.ctx;
    if (op === Op.Speaking) {
      return (this.speakingBucket ??= new TokenBucket(
        config.speakingRateLimitMessages,
        config.rateLimitWindowMs,
      ));
    }
    if (op === Op.ReceiverReport) {
      return (this.reportBucket ??= new TokenBucket(
        config.reportRateLimitMessages,
        config.rateLimitWindowMs,
      ));
    }
    return this.bucket;
  }

  private zombieTimer(): ReturnType<typeof setTimeout> {
    const { heartbeatIntervalMs, heartbeatGraceMs } = this.ctx.config;
    return setTimeout(
      () => this.close(CloseCode.SESSION_TIMED_OUT, 'heartbeat missed'),
      heartbeatIntervalMs + heartbeatGraceMs,
    );
  }

  private async request(session: Session, m: ClientMessage): Promise<void> {
    const { rooms } = this.ctx;
    let error: string | undefined;
    switch (m.op) {
      case Op.JoinRoom:
        if (!this.ctx.roomAllowed(session, m.d.room)) {
          throw GatewayError.roomForbidden(m.d.room);
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

  /** Queues a non-dispatch message and flushes at once (HELLO, READY, ACKs are latency-critical). */
  private sendNow(message: ServerMessage): void {
    this.enqueue(this.ctx.codec.encodeMessage(message), OP_NAMES[message.op] ?? String(message.op));
    this.batcher.flush();
  }

  private write(frame: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(frame, { binary: true });
    const { metrics } = this.ctx;
    metrics.bytesOut.inc(frame.length);
    metrics.framesOut.inc();
    if (this.firstPendingAt > 0)
      metrics.fanoutLatency.observe((performance.now() - this.firstPendingAt) / 1000);
    this.firstPendingAt = 0;
  }

  private onSocketClose(code: number): void {
    const prev = this._state;
    if (prev.status === 'closed') return;
    this.batcher.clear();
    this.setState({ status: 'closed', code: this.serverCloseCode ?? code });
    this.ctx.onConnectionClosed(this);
    if (prev.status !== 'ready') return;
    const session = prev.session;
    if (!session.detach(this)) return; // already resumed on another connection
    const serverCode = this.serverCloseCode;
    const clientLeft = serverCode === undefined && (code === 1000 || code === 1001);
    const mustEnd =
      serverCode !== undefined && reconnectPolicy(serverCode) === 'must-not-reconnect';
    if (clientLeft || mustEnd) void this.ctx.endSession(session);
    else this.ctx.scheduleExpiry(session);
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
