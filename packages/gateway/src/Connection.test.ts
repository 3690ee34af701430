import { EventEmitter } from 'node:events';
import {
  CloseCode,
  FrameCodec,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type DispatchMessage,
  type ServerMessage,
} from '@concord/protocol';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mintToken } from './auth/tokens.js';
import type { GatewayConfig } from './config.js';
import { Connection } from './Connection.js';
import { Gateway } from './Gateway.js';
import { GatewayMetrics } from './metrics.js';
import { MemoryStateStore } from './state/MemoryStateStore.js';

const HEARTBEAT_MS = 1_000;
const GRACE_MS = 500;
const IDENTIFY_TIMEOUT_MS = 2_000;
const RESUME_WINDOW_MS = 3_000;
const SECRET = 'unit-secret-unit-secret-unit-secret-0123';

/** Stands in for a `ws` socket: records what the server sends, closes when told to. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  /** What `ws` reports as unsent; tests raise it to play a client that does not read. */
  bufferedAmount = 0;
  readonly codec = new FrameCodec();
  readonly received: ServerMessage[] = [];
  sentBytes = 0;
  closeCode: number | undefined;
  closeReason = '';
  terminated = false;
  pings = 0;

  send(frame: Uint8Array): void {
    this.sentBytes += frame.length;
    if (frame[0]! >> 6 === 1) return; // media
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
    this.terminated = true;
    this.end(1006);
  }
  /** The peer's side: a frame from the client, encoded as the SDK does (never compressed). */
  deliver(messages: ClientMessage | ClientMessage[]): void {
    this.deliverRaw(
      new FrameCodec({ compressionThresholdBytes: 0 }).encode(messages as ClientMessage[]),
    );
  }
  deliverRaw(bytes: Uint8Array): void {
    this.emit('message', Buffer.from(bytes), true);
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
  dispatches(): DispatchMessage[] {
    return this.received.filter((m): m is DispatchMessage => m.op === Op.Dispatch);
  }
  ready(): Extract<ServerMessage, { op: typeof Op.Ready }> {
    const r = this.received.find((m) => m.op === Op.Ready);
    if (r?.op !== Op.Ready) throw new Error('no READY');
    return r;
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
  let connections: Connection[];
  let sweeper: ReturnType<typeof setInterval>;

  function makeGateway(
    overrides: Partial<GatewayConfig> = {},
    store = new MemoryStateStore(),
  ): Gateway {
    return new Gateway(
      {
        port: 0,
        insecureDevAuth: true,
        secret: SECRET,
        heartbeatIntervalMs: HEARTBEAT_MS,
        heartbeatGraceMs: GRACE_MS,
        identifyTimeoutMs: IDENTIFY_TIMEOUT_MS,
        resumeWindowMs: RESUME_WINDOW_MS,
        batchWindowMs: 0,
        ...overrides,
      },
      {
        logger: pino({ level: 'silent' }),
        metrics: new GatewayMetrics({ processMetrics: false }),
        store,
      },
    );
  }

  function connect(): FakeSocket {
    const ws = new FakeSocket();
    connections.push(new Connection(ws as unknown as WebSocket, '10.0.0.1', gateway));
    return ws;
  }

  /** Lets real asynchronous work finish (JWT checks run on WebCrypto, outside fake timers). */
  async function settle(cond: () => boolean): Promise<void> {
    // Bounded in real time (process.hrtime is not faked): 5 s.
    const deadline = process.hrtime.bigint() + 5_000_000_000n;
    while (!cond() && process.hrtime.bigint() < deadline) {
      await vi.advanceTimersByTimeAsync(0);
      await new Promise((r) => setImmediate(r));
    }
  }

  async function identified(user = 'alice', token = `dev:${user}`): Promise<FakeSocket> {
    const ws = connect();
    ws.deliver(identify(token));
    await settle(() => ws.ops().length >= 2 || ws.closeCode !== undefined);
    if (ws.closeCode !== undefined) throw new Error(`closed ${ws.closeCode} ${ws.closeReason}`);
    expect(ws.ops()).toEqual([Op.Hello, Op.Ready]);
    return ws;
  }

  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
    });
    gateway = makeGateway();
    connections = [];
    // The gateway's sweep, every millisecond so deadlines can be checked to the ms.
    sweeper = setInterval(() => {
      for (const c of connections) c.sweep(performance.now(), Date.now());
    }, 1);
  });

  afterEach(() => {
    clearInterval(sweeper);
    vi.useRealTimers();
  });

  it('greets with HELLO stating the heartbeat interval, the client limits and the rate limit', () => {
    const ws = connect();
    const hello = ws.received[0];
    expect(hello?.op).toBe(Op.Hello);
    if (hello?.op !== Op.Hello) return;
    expect(hello.d.heartbeatIntervalMs).toBe(HEARTBEAT_MS);
    expect(hello.d.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(hello.d.rateLimit).toEqual({ messages: 120, windowMs: 60_000 });
    expect(hello.d.limits).toEqual(gateway.config.clientLimits);
  });

  describe('deadlines', () => {
    it('closes a connection that never identifies with 4006 after the identify timeout', async () => {
      const ws = connect();
      await vi.advanceTimersByTimeAsync(IDENTIFY_TIMEOUT_MS - 1);
      expect(ws.closeCode).toBeUndefined();
      await vi.advanceTimersByTimeAsync(2);
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
      await vi.advanceTimersByTimeAsync(2);
      expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
    });

    it('keeps a connection that heartbeats alive and measures the zombie deadline from the last beat', async () => {
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
      await vi.advanceTimersByTimeAsync(2);
      expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
    });

    it('keeps a zombie session resumable for the resume window, then ends it', async () => {
      const ws = await identified();
      const { sessionId } = ws.ready().d;
      await vi.advanceTimersByTimeAsync(HEARTBEAT_MS + GRACE_MS + 1);
      expect(ws.closeCode).toBe(CloseCode.SESSION_TIMED_OUT);
      expect(gateway.sessions.has(sessionId)).toBe(true);
      await vi.advanceTimersByTimeAsync(RESUME_WINDOW_MS - 2);
      expect(gateway.sessions.has(sessionId)).toBe(true);
      await vi.advanceTimersByTimeAsync(2);
      expect(gateway.sessions.has(sessionId)).toBe(false);
    });

    it('ends the session at once when the client closes normally', async () => {
      const ws = await identified();
      const { sessionId } = ws.ready().d;
      ws.emit('close', 1000);
      await vi.advanceTimersByTimeAsync(0);
      expect(gateway.sessions.has(sessionId)).toBe(false);
    });
  });

  describe('before READY', () => {
    it('closes with 4003 when a request or a heartbeat arrives before IDENTIFY', async () => {
      const join = connect();
      join.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } });
      const beat = connect();
      beat.deliver({ op: Op.Heartbeat, d: { nonce: 7, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(join.closeCode).toBe(CloseCode.NOT_AUTHENTICATED);
      expect(beat.closeCode).toBe(CloseCode.NOT_AUTHENTICATED);
      expect(beat.ops()).toEqual([Op.Hello]);
    });

    it('closes with 4003 for a second frame while the IDENTIFY is being checked', async () => {
      const ws = connect();
      ws.deliver(identify('dev:alice'));
      ws.deliver({ op: Op.Heartbeat, d: { nonce: 1, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBe(CloseCode.NOT_AUTHENTICATED);
      expect(ws.ops()).toEqual([Op.Hello]);
    });

    it('closes with 4010 for a frame over the pre-auth limit, before decoding it', async () => {
      const ws = connect();
      const big = new Uint8Array(gateway.config.preAuthMaxFrameBytes + 1); // garbage
      ws.deliverRaw(big);
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBe(CloseCode.FRAME_TOO_LARGE);
    });

    it('closes with 4001 for a batched or LZ4 IDENTIFY', async () => {
      const batched = connect();
      batched.deliver([identify('dev:alice'), identify('dev:alice')]);
      const lz4 = connect();
      lz4.deliverRaw(
        new FrameCodec({ compressionThresholdBytes: 16 }).encode(identify(`dev:${'a'.repeat(60)}`)),
      );
      await vi.advanceTimersByTimeAsync(0);
      expect(batched.closeCode).toBe(CloseCode.INVALID_FRAME);
      expect(lz4.closeCode).toBe(CloseCode.INVALID_FRAME);
      expect(gateway.sessions.size).toBe(0);
    });

    it('closes with 4002 for an IDENTIFY padded with trailing fields', async () => {
      const ws = connect();
      // [1, version, token, capabilities, "pad"]: one field more than IDENTIFY has.
      ws.deliverRaw(
        Buffer.concat([
          Buffer.from([0x00, 0x95, 0x01, PROTOCOL_VERSION, 0xa9]),
          Buffer.from('dev:alice'),
          Buffer.from([0x93, 0x90, 0x90, 0xa1, 0x78, 0xa3]),
          Buffer.from('pad'),
        ]),
      );
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBe(CloseCode.INVALID_PAYLOAD);
    });

    it('closes with 4015 for an unsupported protocol version', async () => {
      const ws = connect();
      const m = identify('dev:alice');
      if (m.op === Op.Identify) m.d.protocolVersion = PROTOCOL_VERSION - 1;
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

    it('ends a session whose socket closed while the store was creating it', async () => {
      let release!: () => void;
      const store = new MemoryStateStore();
      const putSession = store.putSession.bind(store);
      store.putSession = async (r) => {
        await new Promise<void>((resolve) => (release = resolve));
        return putSession(r);
      };
      gateway = makeGateway({}, store);
      const ws = connect();
      ws.deliver(identify('dev:slow'));
      await vi.advanceTimersByTimeAsync(0);
      expect(gateway.sessions.size).toBe(1);
      ws.emit('close', 1006);
      release();
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.ops()).toEqual([Op.Hello]);
      expect(gateway.sessions.size).toBe(0);
      expect(await store.getSession([...gateway.sessions.keys()][0] ?? 'none')).toBeUndefined();
    });

    it('refuses a user past maxSessionsPerUser with 4019, counting sessions waiting to resume', async () => {
      gateway = makeGateway({ maxSessionsPerUser: 2 });
      const a = await identified('dana');
      await identified('dana');
      a.emit('close', 1006); // a keeps its session for the resume window
      await vi.advanceTimersByTimeAsync(0);
      const third = connect();
      third.deliver(identify('dev:dana'));
      await vi.advanceTimersByTimeAsync(0);
      expect(third.closeCode).toBe(CloseCode.TOO_MANY_SESSIONS);
      await identified('erin'); // others are not affected
    });
  });

  describe('after READY', () => {
    it('closes with 4005 on a second IDENTIFY', async () => {
      const ws = await identified();
      ws.deliver(identify('dev:alice'));
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBe(CloseCode.ALREADY_AUTHENTICATED);
    });

    it('answers a forbidden room with REQUEST_ERROR ROOM_FORBIDDEN and keeps the connection', async () => {
      const ws = await identified('dev-user');
      gateway.roomAllowed = () => false;
      ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: '\u00e9'.repeat(64) } });
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBeUndefined();
      expect(ws.dispatches().at(-1)).toMatchObject({
        t: 'REQUEST_ERROR',
        d: { req: 1, code: 'ROOM_FORBIDDEN' },
      });
    });

    it('rate limits control messages with 4007 and refills over the window', async () => {
      gateway = makeGateway({ rateLimitMessages: 10, rateLimitWindowMs: 1_000 });
      const ok = await identified('bob');
      for (let i = 0; i < 10; i++) ok.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
      await vi.advanceTimersByTimeAsync(100); // refills one token
      ok.deliver({ op: Op.Heartbeat, d: { nonce: 99, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(ok.closeCode).toBeUndefined();

      const flood = await identified('carol');
      for (let i = 0; i < 11; i++) flood.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(flood.closeCode).toBe(CloseCode.RATE_LIMITED);
    });

    it('charges frame bytes before decoding: garbage past the byte budget earns 4007, not 4002', async () => {
      gateway = makeGateway({ rateLimitBytes: 20_000, rateLimitWindowMs: 60_000 });
      const junk = new Uint8Array(12_000); // header 0x00, then zeros: invalid MessagePack
      const fresh = await identified('mallory');
      fresh.deliverRaw(junk); // within the budget: decoded, and refused for what it is
      await vi.advanceTimersByTimeAsync(0);
      expect(fresh.closeCode).toBe(CloseCode.INVALID_PAYLOAD);

      const spent = await identified('mallory2');
      // ~10 KB of valid SPEAKING updates (room names of 128 three-byte characters)...
      const room = '\u20ac'.repeat(128);
      spent.deliver(
        Array.from({ length: 26 }, () => ({ op: Op.Speaking, d: { room, speaking: true } })),
      );
      await vi.advanceTimersByTimeAsync(0);
      expect(spent.closeCode).toBeUndefined();
      // ...then the same junk: over what is left, so it is refused unread.
      spent.deliverRaw(junk);
      await vi.advanceTimersByTimeAsync(0);
      expect(spent.closeCode).toBe(CloseCode.RATE_LIMITED);
    });

    it('closes with 4010 for a client frame over the client frame limit', async () => {
      const ws = await identified();
      ws.deliverRaw(new Uint8Array(gateway.config.clientLimits.maxFrameBytes + 1));
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBe(CloseCode.FRAME_TOO_LARGE);
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
      const dispatches = a.dispatches();
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

  describe('slow consumers', () => {
    it('closes a socket whose unsent bytes would pass maxOutboundBytes with 4018; the session stays resumable', async () => {
      const reader = await identified('reader');
      const slow = await identified('slow');
      const { sessionId } = slow.ready().d;
      slow.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'busy' } });
      reader.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'busy' } });
      await vi.advanceTimersByTimeAsync(0);
      slow.bufferedAmount = gateway.config.maxOutboundBytes - 5; // the client stopped reading
      reader.deliver({ op: Op.Speaking, d: { room: 'busy', speaking: true } });
      await vi.advanceTimersByTimeAsync(0);
      expect(slow.closeCode).toBe(CloseCode.SLOW_CONSUMER);
      expect(reader.closeCode).toBeUndefined();
      expect(gateway.sessions.has(sessionId)).toBe(true);
      // Its close frame waits behind the backlog: the socket is destroyed a second later.
      await vi.advanceTimersByTimeAsync(1_000);
      expect(slow.terminated || slow.closeCode !== undefined).toBe(true);
    });

    it('closes with 4018 when unsent bytes wait longer than maxOutboundAgeMs, and not before', async () => {
      gateway = makeGateway({ maxOutboundAgeMs: 800, heartbeatIntervalMs: 60_000 });
      const ws = await identified('stalled');
      const other = await identified('talker');
      ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'r' } });
      other.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'r' } });
      await vi.advanceTimersByTimeAsync(0);
      ws.bufferedAmount = 100; // stuck: nothing drains from here on
      await vi.advanceTimersByTimeAsync(800);
      expect(ws.closeCode).toBeUndefined();
      await vi.advanceTimersByTimeAsync(5);
      expect(ws.closeCode).toBe(CloseCode.SLOW_CONSUMER);
    });

    it('closes with 4018 a client whose heartbeats keep acknowledging events it was sent long ago', async () => {
      gateway = makeGateway({ maxOutboundAgeMs: 800, heartbeatIntervalMs: 60_000 });
      const deaf = await identified('deaf');
      const prompt = await identified('prompt');
      const talker = await identified('talker');
      for (const ws of [deaf, prompt, talker])
        ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'r' } });
      await vi.advanceTimersByTimeAsync(0);
      for (let i = 0; i < 10; i++) {
        talker.deliver({ op: Op.Speaking, d: { room: 'r', speaking: i % 2 === 0 } });
        await vi.advanceTimersByTimeAsync(0);
        // `deaf` beats with the seq of the events it had on joining; `prompt` with its latest.
        deaf.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 2 } });
        prompt.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: prompt.dispatches().at(-1)!.seq } });
        await vi.advanceTimersByTimeAsync(300);
      }
      expect(deaf.closeCode).toBe(CloseCode.SLOW_CONSUMER);
      expect(deaf.closeReason).toMatch(/unread/);
      expect(prompt.closeCode).toBeUndefined();
      expect(gateway.sessions.size).toBe(3); // deaf's session waits for its resume
    });

    it('keeps a socket whose backlog drains, however long it has been non-empty', async () => {
      gateway = makeGateway({ maxOutboundAgeMs: 800, heartbeatIntervalMs: 60_000 });
      const ws = await identified('busy');
      for (let i = 0; i < 30; i++) {
        // Always 100 bytes pending, but what was pending 100 ms ago has gone out.
        ws.bufferedAmount = 100;
        ws.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
        await vi.advanceTimersByTimeAsync(0);
        ws.bufferedAmount = 10;
        await vi.advanceTimersByTimeAsync(100);
      }
      expect(ws.closeCode).toBeUndefined();
    });
  });

  describe('tokens', () => {
    it('closes with 4008 when the token expires during the session (after the clock tolerance)', async () => {
      const token = await mintToken(SECRET, { userId: 'ttl', ttlSeconds: 3 });
      const ws = await identified('ttl', token);
      expect(ws.ready().d.tokenExpiresInMs).toBeGreaterThan(2_000);
      const tolMs = gateway.config.tokenClockToleranceSec * 1000;
      for (let t = 0; t < 3_000 + tolMs - 1_000; t += 500) {
        ws.deliver({ op: Op.Heartbeat, d: { nonce: t, seq: 0 } });
        await vi.advanceTimersByTimeAsync(500);
      }
      expect(ws.closeCode).toBeUndefined();
      ws.deliver({ op: Op.Heartbeat, d: { nonce: 1, seq: 0 } });
      await vi.advanceTimersByTimeAsync(1_500);
      expect(ws.closeCode).toBe(CloseCode.TOKEN_EXPIRED);
    });

    it('REFRESH_TOKEN extends the session; another user or an expired token is refused without closing', async () => {
      const first = await mintToken(SECRET, { userId: 'fred', ttlSeconds: 60 });
      const ws = await identified('fred', first);
      const fresh = await mintToken(SECRET, { userId: 'fred', ttlSeconds: 3600 });
      ws.deliver({ op: Op.RefreshToken, d: { req: 5, token: fresh } });
      await settle(() => ws.dispatches().length > 0);
      const refreshed = ws.dispatches().at(-1);
      expect(refreshed?.t).toBe('TOKEN_REFRESHED');
      if (refreshed?.t === 'TOKEN_REFRESHED') {
        expect(refreshed.d.req).toBe(5);
        expect(refreshed.d.tokenExpiresInMs).toBeGreaterThan(3_500_000);
      }
      const other = await mintToken(SECRET, { userId: 'george', ttlSeconds: 3600 });
      ws.deliver({ op: Op.RefreshToken, d: { req: 6, token: other } });
      ws.deliver({ op: Op.RefreshToken, d: { req: 7, token: 'garbage' } });
      await settle(() => ws.dispatches().length >= 3);
      expect(
        ws
          .dispatches()
          .slice(-2)
          .map((d) => d.t === 'REQUEST_ERROR' && d.d.code),
      ).toEqual(['TOKEN_USER_MISMATCH', 'TOKEN_INVALID']);
      // Well past the first token's expiry, the refreshed session lives on.
      for (let t = 0; t < 70; t++) {
        ws.deliver({ op: Op.Heartbeat, d: { nonce: t, seq: ws.dispatches().at(-1)!.seq } });
        await vi.advanceTimersByTimeAsync(1_000);
      }
      expect(ws.closeCode).toBeUndefined();
    });

    it('a refreshed token that no longer allows a room leaves that room at once', async () => {
      const wide = await mintToken(SECRET, { userId: 'hana', rooms: ['a', 'b'] });
      const ws = await identified('hana', wide);
      ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: 'a' } });
      ws.deliver({ op: Op.JoinRoom, d: { req: 2, room: 'b' } });
      await vi.advanceTimersByTimeAsync(0);
      const narrow = await mintToken(SECRET, { userId: 'hana', rooms: ['a'] });
      ws.deliver({ op: Op.RefreshToken, d: { req: 3, token: narrow } });
      await settle(() => ws.dispatches().some((d) => d.t === 'TOKEN_REFRESHED'));
      const left = ws.dispatches().find((d) => d.t === 'ROOM_LEFT');
      expect(left).toMatchObject({ d: { room: 'b', reason: 'forbidden', req: 0 } });
      expect(ws.dispatches().at(-1)?.t).toBe('TOKEN_REFRESHED');
    });
  });

  describe('resume', () => {
    it('needs the resume secret from READY: a wrong one gets INVALID_SESSION and the session survives', async () => {
      const ws = await identified('ivy');
      const { sessionId, resumeSecret } = ws.ready().d;
      ws.emit('close', 1006);
      await vi.advanceTimersByTimeAsync(0);
      const thief = connect();
      thief.deliver({
        op: Op.Resume,
        d: {
          protocolVersion: PROTOCOL_VERSION,
          sessionId,
          token: 'dev:ivy',
          seq: 0,
          resumeSecret: 'guess',
        },
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(thief.ops()).toEqual([Op.Hello, Op.InvalidSession]);
      expect(gateway.sessions.has(sessionId)).toBe(true);
      const owner = connect();
      owner.deliver({
        op: Op.Resume,
        d: { protocolVersion: PROTOCOL_VERSION, sessionId, token: 'dev:ivy', seq: 0, resumeSecret },
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(owner.ops()).toEqual([Op.Hello, Op.Resumed]);
    });

    it('RESUMED names the last request taken up; the rate budget is the session’s, not the socket’s', async () => {
      gateway = makeGateway({ rateLimitMessages: 10, rateLimitWindowMs: 60_000 });
      const ws = await identified('kim');
      const { sessionId, resumeSecret } = ws.ready().d;
      for (let i = 0; i < 3; i++) ws.deliver({ op: Op.JoinRoom, d: { req: i + 1, room: `k${i}` } });
      for (let i = 0; i < 6; i++) ws.deliver({ op: Op.Heartbeat, d: { nonce: i, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(ws.closeCode).toBeUndefined(); // 9 of 10 spent
      ws.emit('close', 1006);
      await vi.advanceTimersByTimeAsync(0);
      const back = connect();
      back.deliver({
        op: Op.Resume,
        d: { protocolVersion: PROTOCOL_VERSION, sessionId, token: 'dev:kim', seq: 0, resumeSecret },
      });
      await vi.advanceTimersByTimeAsync(0);
      const resumedMsg = back.received.find((m) => m.op === Op.Resumed);
      expect(resumedMsg).toMatchObject({ d: { lastReq: 3 } });
      // One message left in the budget, not a fresh ten.
      back.deliver({ op: Op.Heartbeat, d: { nonce: 7, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(back.closeCode).toBeUndefined();
      back.deliver({ op: Op.Heartbeat, d: { nonce: 8, seq: 0 } });
      await vi.advanceTimersByTimeAsync(0);
      expect(back.closeCode).toBe(CloseCode.RATE_LIMITED);
    });

    it('heartbeat seqs release acknowledged events from the replay buffer', async () => {
      const ws = await identified('jay');
      const { sessionId, resumeSecret } = ws.ready().d;
      for (let i = 0; i < 5; i++) ws.deliver({ op: Op.JoinRoom, d: { req: i + 1, room: `r${i}` } });
      await vi.advanceTimersByTimeAsync(0);
      ws.deliver({ op: Op.Heartbeat, d: { nonce: 1, seq: 3 } });
      await vi.advanceTimersByTimeAsync(0);
      ws.emit('close', 1006);
      await vi.advanceTimersByTimeAsync(0);
      const again = (seq: number): FakeSocket => {
        const s = connect();
        s.deliver({
          op: Op.Resume,
          d: { protocolVersion: PROTOCOL_VERSION, sessionId, token: 'dev:jay', seq, resumeSecret },
        });
        return s;
      };
      // From seq 3 on: events 4 and 5 are still there.
      const ok = again(3);
      await vi.advanceTimersByTimeAsync(0);
      expect(ok.dispatches().map((d) => d.seq)).toEqual([4, 5]);
      ok.emit('close', 1006);
      await vi.advanceTimersByTimeAsync(0);
      // Events 1–3 were acknowledged and are gone: a resume from seq 1 cannot be served.
      const late = again(1);
      await vi.advanceTimersByTimeAsync(0);
      expect(late.ops()).toEqual([Op.Hello, Op.InvalidSession]);
    });
  });
});
