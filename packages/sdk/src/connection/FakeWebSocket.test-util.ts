// A fake WebSocket and the server end of it, for Node unit tests that need no network (the
// FakeHandler idea of mediasoup-client). The server side speaks the real wire format through
// FrameCodec, so the client under test decodes exactly the bytes a gateway would send.
import {
  DEFAULT_CLIENT_LIMITS,
  FrameCodec,
  FrameType,
  frameTypeOf,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type DispatchEvents,
  type EventName,
  type Participant,
  type ServerMessage,
} from '@concord/protocol';
import type { WebSocketConstructor, WebSocketLike } from './socket.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** One fake socket: the client holds it as a `WebSocketLike`, the test drives its server end. */
export class FakeWebSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = CONNECTING;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Every message the client sent, decoded, in order. */
  readonly received: ClientMessage[] = [];
  /** Every binary media frame the client sent, as sent. */
  readonly mediaReceived: Uint8Array[] = [];
  /** Number of frames the client sent (a batch counts once). */
  framesReceived = 0;
  /** The code the client closed with, once it called `close()`. */
  clientCloseCode: number | undefined;

  constructor(
    readonly url: string,
    private readonly codec: FrameCodec,
    /** Decodes what the client sends as a gateway does: client limits, no compression. */
    private readonly clientCodec: FrameCodec,
  ) {}

  // ---- the client's side (WebSocketLike) ----

  send(data: Uint8Array): void {
    if (this.readyState !== OPEN) throw new Error(`send() while readyState ${this.readyState}`);
    if (frameTypeOf(data) === FrameType.Media) {
      this.mediaReceived.push(data.slice());
      return;
    }
    this.framesReceived++;
    this.received.push(...this.clientCodec.decodeClientFrame(data));
  }

  close(code = 1000): void {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    this.clientCloseCode = code;
    this.readyState = CLOSING;
  }

  // ---- the server's side (driven by the test) ----

  /** Whether the client still listens to this socket (it detaches sockets it is done with). */
  get attached(): boolean {
    return this.onmessage !== null;
  }

  /** Completes the opening handshake. */
  open(): this {
    if (this.readyState === CONNECTING) {
      this.readyState = OPEN;
      this.onopen?.({});
    }
    return this;
  }

  /** Sends server messages in one frame (a batch when there are several). */
  serverSend(messages: ServerMessage | ServerMessage[]): this {
    this.open();
    this.serverSendRaw(this.codec.encode(messages));
    return this;
  }

  /** Sends raw bytes (or a text frame) as they are. */
  serverSendRaw(data: Uint8Array | string): this {
    if (typeof data === 'string') this.onmessage?.({ data });
    else this.onmessage?.({ data: data.slice().buffer });
    return this;
  }

  /** HELLO with `heartbeatIntervalMs`. */
  hello(heartbeatIntervalMs = 30_000): this {
    return this.serverSend({
      op: Op.Hello,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs,
        limits: { ...DEFAULT_CLIENT_LIMITS },
        rateLimit: { messages: 120, windowMs: 60_000 },
        maxRoomsPerSession: 4,
      },
    });
  }

  /** READY for `sessionId` as `user`, with resume secret `secret-<sessionId>`. */
  ready(
    sessionId = 'session-1',
    user = { id: 'u1', name: 'User One' },
    tokenExpiresInMs = 0,
  ): this {
    return this.serverSend({
      op: Op.Ready,
      d: {
        sessionId,
        user,
        resumeWindowMs: 60_000,
        resumeSecret: `secret-${sessionId}`,
        tokenExpiresInMs,
      },
    });
  }

  /** RESUMED after `replayed` events; the server handled requests up to `lastReq`. */
  resumed(replayed = 0, tokenExpiresInMs = 0, lastReq = 0): this {
    return this.serverSend({ op: Op.Resumed, d: { replayed, tokenExpiresInMs, lastReq } });
  }

  /** HELLO announcing a control rate limit of `messages` per `windowMs`. */
  helloWithRate(heartbeatIntervalMs: number, messages: number, windowMs: number): this {
    return this.serverSend({
      op: Op.Hello,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs,
        limits: { ...DEFAULT_CLIENT_LIMITS },
        rateLimit: { messages, windowMs },
        maxRoomsPerSession: 4,
      },
    });
  }

  /** INVALID_SESSION. */
  invalidSession(resumable = false): this {
    return this.serverSend({ op: Op.InvalidSession, d: { resumable } });
  }

  /** RECONNECT (e.g. the server is draining). */
  reconnect(reason = 'server shutting down'): this {
    return this.serverSend({ op: Op.Reconnect, d: { reason } });
  }

  /** HEARTBEAT_ACK for `nonce` (default: the last HEARTBEAT received). */
  heartbeatAck(nonce = this.lastOf(Op.Heartbeat)?.d.nonce ?? 0): this {
    return this.serverSend({ op: Op.HeartbeatAck, d: { nonce } });
  }

  /** DISPATCH `t` with `seq`. */
  dispatch<K extends EventName>(seq: number, t: K, d: DispatchEvents[K]): this {
    return this.serverSend({ op: Op.Dispatch, seq, t, d } as ServerMessage);
  }

  /** The server (or the network) closes the socket with `code`. */
  serverClose(code = 1006, reason = ''): this {
    if (this.readyState === CLOSED) return this;
    this.readyState = CLOSED;
    this.onclose?.({ code, reason });
    return this;
  }

  /** Messages with opcode `op` the client sent. */
  sentOf<O extends ClientMessage['op']>(op: O): Extract<ClientMessage, { op: O }>[] {
    return this.received.filter((m): m is Extract<ClientMessage, { op: O }> => m.op === op);
  }

  /** The last message with opcode `op` the client sent. */
  lastOf<O extends ClientMessage['op']>(op: O): Extract<ClientMessage, { op: O }> | undefined {
    return this.sentOf(op).at(-1);
  }
}

/**
 * A fake gateway: hands the client a `WebSocket` constructor and records every socket it
 * opened, so tests can play the server on each and count reconnects.
 */
export class FakeGateway {
  readonly codec = new FrameCodec();
  readonly clientCodec = new FrameCodec({
    limits: DEFAULT_CLIENT_LIMITS,
    compressionThresholdBytes: 0,
    acceptCompressed: false,
  });
  /** Every socket the client opened, oldest first. */
  readonly sockets: FakeWebSocket[] = [];
  /** Pass as `options.WebSocket`. */
  readonly WebSocket: WebSocketConstructor;
  private seq = 0;

  constructor() {
    const { codec, clientCodec, sockets } = this;
    this.WebSocket = class extends FakeWebSocket {
      constructor(url: string) {
        super(url, codec, clientCodec);
        sockets.push(this);
      }
    };
  }

  /** The newest socket. @throws {Error} when the client opened none. */
  get socket(): FakeWebSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error('the client opened no socket');
    return s;
  }

  /** Next dispatch seq of the current session (reset by {@link newSession}). */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Starts counting seqs from 0 again (a new session). */
  newSession(): void {
    this.seq = 0;
  }

  /** Sends the next-seq DISPATCH on the newest socket. */
  dispatch<K extends EventName>(t: K, d: DispatchEvents[K]): number {
    const seq = this.nextSeq();
    this.socket.dispatch(seq, t, d);
    return seq;
  }
}

let nextSsrc = 1;

/** A wire participant with defaults (a fresh ssrc each call). */
export function participant(userId: string, patch: Partial<Participant> = {}): Participant {
  return {
    userId,
    name: userId.toUpperCase(),
    muted: false,
    deafened: false,
    speaking: false,
    ssrc: nextSsrc++,
    webrtc: false,
    ...patch,
  };
}
