import { EventEmitter } from 'node:events';
import {
  CloseCode,
  FrameCodec,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type ServerMessage,
} from '@concord/protocol';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection } from './Connection.js';
import type { GatewayConfig } from './config.js';
import { Gateway } from './Gateway.js';
import { GatewayMetrics } from './metrics.js';

const HEARTBEAT_MS = 1_000;
const GRACE_MS = 500;
const IDENTIFY_TIMEOUT_MS = 2_000;
const RESUME_WINDOW_MS = 3_000;

/** Stands in for a `ws` socket: records what the server sends, closes when told to. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly codec = new FrameCodec();
  readonly received: ServerMessage[] = [];
  closeCode: number | undefined;
  closeReason = '';
  pings = 0;

  send(frame: Uint8Array): void {
    this.received.push(...this.codec.decodeServerFrame(frame));
  }
  ping(): void {
    this.pings++;
  }
  close(code: number, reason = ''): void {
    // Like ws: a close frame's reason holds at most 123 bytes.
    if (Buffer.byteLength(reason) > 123) throw new RangeError('close reason too long');
    this.closeReason = reason;
    this.end(code);
  }
  terminate(): void {
    this.end(1006);
  }
  /** The peer's side: a frame from the client. */
  deliver(messages: ClientMessage | ClientMessage[]): void {
    this.emit('message', Buffer.from(this.codec.encode(messages)), true);
  }
  private end(code: number): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.closeCode = code;
    this.emit('close', code);
  }
  ops(): number[] {
    return this.received.map((m) => m.op);
  }
}

const identify = (token: string): ClientMessage => ({
  op: Op.Identify,
  d: {
    protocolVersion: PROTOCOL_VERSION,
    token,
    capabilities: { transports: ['ws'], codecs: ['opus'], client: 'unit' },
  },
});

describe('Connection', () => {
  let gateway: Gateway;

  function makeGateway(overrides: Partial<GatewayConfig> = {}): Gateway {
    return new Gateway(
      {
        port: 0,
        insecureDevAuth: true,
        heartbeatIntervalMs: HEARTBEAT_MS,
        heartbeatGraceMs: GRACE_MS,
        identifyTimeoutMs: IDENTIFY_TIMEOUT_MS,
        resumeWindowMs: RESUME_WINDOW_MS,
        batchWindowMs: 0,
        ...overrides,
      },
      { logger: pino({ level: 'silent' }), metrics: new GatewayMetrics({ processMetrics: false }) },
    );
  }

  function connect(): FakeSocket {
    const ws = new FakeSocket();
    new Connection(ws as unknown as WebSocket, '10.0.0.1', gateway);
    return ws;
  }

  async function identified(user = 'alice'): Promise<FakeSocket> {
    const ws = connect();
    ws.deliver(identify(`dev:${user}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.ops()).toEqual([Op.Hello, Op.Ready]);
    return ws;
  }

  beforeEach(() => {
    vi.useFakeTimers();
    gateway = makeGateway();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('greets with HELLO stating the heartbeat interval and the rate limit', () => {
    const ws = connect();
    const hello = ws.received[0];
    expect(hello?.op).toBe(Op.Hello);
    if (hello?.op !== Op.Hello) return;
    expect(hello.d.heartbeatIntervalMs).toBe(HEARTBEAT_MS);
    expect(hello.d.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(hello.d.rateLimit).toEqual({ messages: 120, windowMs: 60_000 });
  });

  it('closes a connection that never identifies with 4006 after the identify timeout', async () => {
    const ws = connect();
    await vi.advanceTimersByTimeAsync(IDENTIFY_TIMEOUT_MS - 1);
    expect(ws.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
  });

  it('does not time out an identified connection on the identify timer', async () => {
    const ws = await identified();
    for (let t = 0; t < IDENTIFY_TIMEOUT_MS * 3; t += HEARTBEAT_MS) {
      ws.deliver({ op: Op.Heartbeat, d: { nonce: t, seq: 0 } });
      await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
    }
    expect(ws.closeCode).toBeUndefined();
  });

  it('closes a zombie with 4006 after interval + grace without a heartbeat', async () => {
    const ws = await identified();
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS + GRACE_MS - 1);
    expect(ws.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
  });

  it('keeps a connection that heartbeats alive and measures the zombie timer from the last beat', async () => {
    const ws = await identified();
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
      ws.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(ws.closeCode).toBeUndefined();
    const acks = ws.received.filter((m) => m.op === Op.HeartbeatAck);
    expect(acks.map((m) => m.d)).toEqual(Array.from({ length: 20 }, (_, i) => ({ nonce: i })));
    expect(ws.pings).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS + GRACE_MS - 1);
    expect(ws.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
  });

  it('keeps a zombie session resumable for the resume window, then ends it', async () => {
    const ws = await identified();
    const ready = ws.received[1];
    if (ready?.op !== Op.Ready) throw new Error('no READY');
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS + GRACE_MS);
    expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
    expect(gateway.sessions.has(ready.d.sessionId)).toBe(true);
    await vi.advanceTimersByTimeAsync(RESUME_WINDOW_MS - 1);
    expect(gateway.sessions.has(ready.d.sessionId)).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(gateway.sessions.has(ready.d.sessionId)).toBe(false);
  });

  it('ends the session at once when the client closes normally', async () => {
    const ws = await identified();
    const ready = ws.received[1];
    if (ready?.op !== Op.Ready) throw new Error('no READY');
    ws.emit('close', 1000);
    await vi.advanceTimersByTimeAsync(0);
    expect(gateway.sessions.has(ready.d.sessionId)).toBe(false);
  });

  it('closes with 4003 when a request arrives before IDENTIFY', async () => {
    const ws = connect();
    ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.closeCode).toBe(CloseCode.NOT_AUTHENTICATED);
  });

  it('acknowledges a heartbeat sent before IDENTIFY (jittered first beat) without extending the identify timeout', async () => {
    const ws = connect();
    await vi.advanceTimersByTimeAsync(IDENTIFY_TIMEOUT_MS / 2);
    ws.deliver({ op: Op.Heartbeat, d: { nonce: 7, seq: 0 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.received.at(-1)).toEqual({ op: Op.HeartbeatAck, d: { nonce: 7 } });
    expect(ws.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(IDENTIFY_TIMEOUT_MS / 2);
    expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
  });

  it('closes with 4005 on a second IDENTIFY', async () => {
    const ws = await identified();
    ws.deliver(identify('dev:alice'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.closeCode).toBe(CloseCode.ALREADY_AUTHENTICATED);
  });

  it('closes with 4015 for an unsupported protocol version', async () => {
    const ws = connect();
    const m = identify('dev:alice');
    if (m.op === Op.Identify) m.d.protocolVersion = PROTOCOL_VERSION + 1;
    ws.deliver(m);
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.closeCode).toBe(CloseCode.UNSUPPORTED_VERSION);
  });

  it('closes with 4004 for a token it cannot verify', async () => {
    const ws = connect();
    ws.deliver(identify('not-a-token'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('closes with 4001 for a text frame and with 4001/4002 for garbage', async () => {
    const text = connect();
    text.emit('message', Buffer.from('{"op":1}'), false);
    expect(text.closeCode).toBe(CloseCode.INVALID_FRAME);
    const garbage = connect();
    garbage.emit('message', Buffer.from([0x00, 0xc1, 0xc1]), true);
    expect(garbage.closeCode).toBe(CloseCode.INVALID_PAYLOAD);
    const reserved = connect();
    reserved.emit('message', Buffer.from([0x3c, 0x90]), true);
    expect(reserved.closeCode).toBe(CloseCode.INVALID_FRAME);
  });

  it('closes with 4009 for a forbidden room whose name overflows a close frame’s reason', async () => {
    const ws = await identified('dev-user');
    gateway.roomAllowed = () => false;
    ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: '\u00e9'.repeat(64) } });
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.closeCode).toBe(CloseCode.ROOM_FORBIDDEN);
    expect(Buffer.byteLength(ws.closeReason)).toBeLessThanOrEqual(123);
    expect(ws.closeReason).toMatch(/^token does not allow room "\u00e9+$/);
  });

  it('rate limits control messages with 4007 and refills over the window', async () => {
    gateway = makeGateway({ rateLimitMessages: 10, rateLimitWindowMs: 1_000 });
    const ok = await identified('bob'); // IDENTIFY took one token
    for (let i = 0; i < 9; i++) ok.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
    await vi.advanceTimersByTimeAsync(100); // refills one token
    ok.deliver({ op: Op.Heartbeat, d: { nonce: 99, seq: 0 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(ok.closeCode).toBeUndefined();

    const flood = await identified('carol');
    for (let i = 0; i < 10; i++) flood.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(flood.closeCode).toBe(CloseCode.RATE_LIMITED);
  });

  it('sends every room event with seqs contiguous from 1', async () => {
    const a = await identified('alice');
    const b = await identified('bob');
    a.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } });
    await vi.advanceTimersByTimeAsync(0);
    b.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } });
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) {
      b.deliver({ op: Op.Speaking, d: { room: 'lobby', speaking: i % 2 === 0 } });
      await vi.advanceTimersByTimeAsync(0);
    }
    const dispatches = a.received.filter((m) => m.op === Op.Dispatch);
    expect(dispatches.map((m) => m.t)).toEqual([
      'ROOM_JOINED',
      'PARTICIPANT_JOINED',
      'SPEAKING',
      'SPEAKING',
      'SPEAKING',
      'SPEAKING',
      'SPEAKING',
    ]);
    expect(dispatches.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
