import { Op, PROTOCOL_VERSION, type DispatchMessage } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionError, InvalidStateError, RequestError } from '../errors.js';
import { setLogHandler, setLogLevel, type LogLevel } from '../logger.js';
import { FakeGateway, participant } from './FakeWebSocket.test-util.js';
import {
  GatewayConnection,
  type ConnectionStatus,
  type GatewayConnectionOptions,
} from './GatewayConnection.js';

const URL = 'ws://gateway.test/gateway';
const TOKEN = 'token-1';
const INTERVAL_MS = 1_000;

/** Lets pending promise callbacks run (IDENTIFY goes out after an awaited token). */
const settle = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

function setup(options: Partial<GatewayConnectionOptions> = {}) {
  const gateway = new FakeGateway();
  const connection = new GatewayConnection({
    url: URL,
    token: TOKEN,
    WebSocket: gateway.WebSocket,
    batchWindowMs: 0,
    random: () => 0.5,
    ...options,
  });
  const statuses: ConnectionStatus[] = [connection.state.status];
  connection.on('stateChange', (_prev, next) => statuses.push(next.status));
  const dispatches: DispatchMessage[] = [];
  connection.on('dispatch', (m) => dispatches.push(m));
  const readies: boolean[] = [];
  connection.on('ready', (_s, resumed) => readies.push(resumed));
  return { gateway, connection, statuses, dispatches, readies };
}

/** Connects through HELLO → IDENTIFY → READY on the newest socket. */
async function connected(options: Partial<GatewayConnectionOptions> = {}) {
  const t = setup(options);
  const ready = t.connection.connect();
  t.gateway.socket.hello(INTERVAL_MS);
  await settle();
  t.gateway.socket.ready('session-1');
  await ready;
  return t;
}

/** Waits out the reconnect backoff and answers HELLO on the new socket. */
async function nextSocketHello(gateway: FakeGateway, delayMs: number) {
  const before = gateway.sockets.length;
  await vi.advanceTimersByTimeAsync(delayMs);
  expect(gateway.sockets).toHaveLength(before + 1);
  gateway.socket.hello(INTERVAL_MS);
  await settle();
  return gateway.socket;
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('GatewayConnection', () => {
  describe('constructor', () => {
    it('rejects a bad url, an empty token and a missing WebSocket with TypeError', () => {
      const WebSocket = new FakeGateway().WebSocket;
      expect(() => new GatewayConnection({ url: 'nope', token: 't', WebSocket })).toThrow(
        TypeError,
      );
      expect(() => new GatewayConnection({ url: 'http://x/', token: 't', WebSocket })).toThrow(
        /ws: or wss:/,
      );
      expect(() => new GatewayConnection({ url: URL, token: '', WebSocket })).toThrow(TypeError);
      const g = globalThis as { WebSocket?: unknown };
      const saved = g.WebSocket;
      g.WebSocket = undefined;
      try {
        expect(() => new GatewayConnection({ url: URL, token: 't' })).toThrow(/options.WebSocket/);
      } finally {
        g.WebSocket = saved;
      }
    });
  });

  describe('connect', () => {
    it('goes idle → connecting → identifying → ready and sends IDENTIFY with the token', async () => {
      const { gateway, connection, statuses, readies } = setup({ clientName: 'unit-test' });
      const ready = connection.connect();
      expect(gateway.sockets).toHaveLength(1);
      expect(gateway.socket.url).toBe(URL);
      expect(gateway.socket.binaryType).toBe('arraybuffer');
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      expect(gateway.socket.received).toEqual([
        {
          op: Op.Identify,
          d: {
            protocolVersion: PROTOCOL_VERSION,
            token: TOKEN,
            capabilities: { transports: ['ws'], codecs: ['opus'], client: 'unit-test' },
          },
        },
      ]);
      gateway.socket.ready('s-42', { id: 'alice', name: 'Alice' });
      const session = await ready;
      expect(session).toMatchObject({ sessionId: 's-42', user: { id: 'alice', name: 'Alice' } });
      expect(statuses).toEqual(['idle', 'connecting', 'identifying', 'ready']);
      expect(readies).toEqual([false]);
      expect(connection.sessionInfo?.sessionId).toBe('s-42');
    });

    it('calls a token function on every (re)connect', async () => {
      let n = 0;
      const token = vi.fn(async () => `fresh-${++n}`);
      const { gateway } = await connected({ token });
      expect(gateway.socket.lastOf(Op.Identify)?.d.token).toBe('fresh-1');
      gateway.socket.serverClose(1006);
      const s2 = await nextSocketHello(gateway, 250);
      expect(s2.lastOf(Op.Resume)?.d.token).toBe('fresh-2');
      expect(token).toHaveBeenCalledTimes(2);
    });

    it('a failing token function counts as a failed attempt, not an unhandled rejection', async () => {
      const token = vi.fn(async (): Promise<string> => {
        throw new Error('token service down');
      });
      const { gateway, connection } = setup({ token, reconnect: { maxAttempts: 2 } });
      const ready = connection.connect();
      const rejected = expect(ready).rejects.toMatchObject({
        code: 'CONCORD_ERR_GATEWAY_UNREACHABLE',
      });
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      expect(connection.state.status).toBe('reconnecting');
      expect(gateway.sockets[0]!.attached).toBe(false);
      await vi.advanceTimersByTimeAsync(500);
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      await rejected;
      expect(token).toHaveBeenCalledTimes(2);
      expect(gateway.sockets.every((s) => s.sentOf(Op.Heartbeat).length === 0)).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('a second connect() while connecting opens no second socket', async () => {
      const { gateway, connection } = setup();
      const a = connection.connect();
      const b = connection.connect();
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      gateway.socket.ready();
      await expect(Promise.all([a, b])).resolves.toHaveLength(2);
      expect(gateway.sockets).toHaveLength(1);
    });

    it('retries when no HELLO/READY arrives within connectTimeoutMs', async () => {
      const { gateway, connection, statuses } = setup({ connectTimeoutMs: 2_000 });
      void connection.connect();
      await vi.advanceTimersByTimeAsync(1_999);
      expect(connection.state.status).toBe('connecting');
      await vi.advanceTimersByTimeAsync(1);
      expect(statuses.slice(-1)).toEqual(['reconnecting']);
      expect(gateway.sockets[0]!.clientCloseCode).toBe(4000);
    });
  });

  describe('heartbeats', () => {
    it('beats at once after READY (round trip known at once), then every interval, carrying the last seq', async () => {
      const t = setup({ random: () => 0.25 });
      const ready = t.connection.connect();
      t.gateway.socket.hello(INTERVAL_MS);
      await settle();
      // Nothing but IDENTIFY before READY: the gateway accepts no heartbeat before it.
      await vi.advanceTimersByTimeAsync(2 * INTERVAL_MS);
      expect(t.gateway.socket.received.map((m) => m.op)).toEqual([Op.Identify]);
      t.gateway.socket.ready('session-1');
      await ready;
      const { gateway } = t;
      const s = gateway.socket;
      await vi.advanceTimersByTimeAsync(0);
      expect(s.sentOf(Op.Heartbeat)).toEqual([{ op: Op.Heartbeat, d: { nonce: 1, seq: 0 } }]);
      s.heartbeatAck(1);
      gateway.dispatch('REQUEST_ACK', { req: 99 });
      gateway.dispatch('REQUEST_ACK', { req: 98 });
      await vi.advanceTimersByTimeAsync(INTERVAL_MS - 1);
      expect(s.sentOf(Op.Heartbeat)).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(s.lastOf(Op.Heartbeat)).toEqual({ op: Op.Heartbeat, d: { nonce: 2, seq: 2 } });
      s.heartbeatAck(2);
      await vi.advanceTimersByTimeAsync(INTERVAL_MS);
      expect(s.sentOf(Op.Heartbeat).map((m) => m.d.nonce)).toEqual([1, 2, 3]);
    });

    it.each([0, 50, 3_600_001])(
      'a HELLO heartbeat interval of %s ms closes the connection for good',
      async (interval) => {
        const t = setup();
        const ready = t.connection.connect();
        t.gateway.socket.hello(interval);
        await expect(ready).rejects.toThrow(/heartbeat interval/);
        expect(t.connection.state.status).toBe('closed');
        expect(t.gateway.socket.sentOf(Op.Identify)).toHaveLength(0);
      },
    );

    it('emits the heartbeat round trip on ACK', async () => {
      const { gateway, connection } = await connected();
      const rtts: number[] = [];
      connection.on('heartbeat', (rtt) => rtts.push(rtt));
      await vi.advanceTimersByTimeAsync(500);
      gateway.socket.heartbeatAck();
      expect(rtts).toHaveLength(1);
      expect(rtts[0]).toBeGreaterThanOrEqual(0);
    });

    it('a missing ACK makes a zombie: reconnect, RESUME with the last seq, ready(resumed)', async () => {
      const { gateway, connection, statuses, readies, dispatches } = await connected();
      const first = gateway.socket;
      gateway.dispatch('REQUEST_ACK', { req: 7 });
      gateway.dispatch('REQUEST_ACK', { req: 8 });
      gateway.dispatch('REQUEST_ACK', { req: 9 });
      await vi.advanceTimersByTimeAsync(0); // first beat, never acknowledged
      expect(first.sentOf(Op.Heartbeat)).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(INTERVAL_MS); // next beat finds it unacknowledged
      expect(connection.state.status).toBe('reconnecting');
      expect(first.clientCloseCode).toBe(4000); // keep the session
      expect(first.sentOf(Op.Heartbeat)).toHaveLength(1);

      // attempt 0: full jitter over [0, 500) with random 0.5 → 250 ms.
      const second = await nextSocketHello(gateway, 250);
      expect(second.received).toEqual([
        {
          op: Op.Resume,
          d: {
            protocolVersion: PROTOCOL_VERSION,
            sessionId: 'session-1',
            token: TOKEN,
            seq: 3,
            resumeSecret: 'secret-session-1',
          },
        },
      ]);
      // The server replays seq 3 (already seen) and 4 (missed), then RESUMED.
      second.dispatch(3, 'REQUEST_ACK', { req: 9 });
      second.dispatch(4, 'REQUEST_ACK', { req: 10 });
      second.resumed(1);
      expect(statuses).toEqual([
        'idle',
        'connecting',
        'identifying',
        'ready',
        'reconnecting',
        'connecting',
        'resuming',
        'ready',
      ]);
      expect(readies).toEqual([false, true]);
      expect(dispatches.map((d) => d.seq)).toEqual([1, 2, 3, 4]);
      expect(connection.lastSeq).toBe(4);
    });

    it('stops beating on the socket it left', async () => {
      const { gateway } = await connected();
      const first = gateway.socket;
      first.serverClose(1006);
      await vi.advanceTimersByTimeAsync(10 * INTERVAL_MS);
      expect(first.sentOf(Op.Heartbeat)).toHaveLength(0);
    });
  });

  describe('reconnect', () => {
    it.each([1006, 1001, 4000, 4006, 4007, 4012, 4013])(
      'close %i may resume: reconnects and sends RESUME',
      async (code) => {
        const { gateway, connection } = await connected();
        gateway.socket.serverClose(code, 'bye');
        expect(connection.state).toMatchObject({ status: 'reconnecting', lastCloseCode: code });
        const s2 = await nextSocketHello(gateway, 250);
        expect(s2.lastOf(Op.Resume)?.d.sessionId).toBe('session-1');
      },
    );

    it.each([4001, 4002, 4004, 4005, 4008, 4009, 4014, 4015, 4016])(
      'close %i must not reconnect: closed with ConnectionError.rejected, no new socket',
      async (code) => {
        const { gateway, connection, statuses } = await connected();
        const disconnected = connection.entersState('closed', Number.POSITIVE_INFINITY);
        gateway.socket.serverClose(code, 'no');
        const state = await disconnected;
        expect(state.status).toBe('closed');
        const error = state.status === 'closed' ? state.error : undefined;
        expect(error).toBeInstanceOf(ConnectionError);
        expect(error).toMatchObject({ code: 'CONCORD_ERR_GATEWAY_REJECTED', closeCode: code });
        await vi.advanceTimersByTimeAsync(120_000);
        expect(gateway.sockets).toHaveLength(1);
        expect(statuses.at(-1)).toBe('closed');
        expect(statuses.filter((s) => s === 'reconnecting')).toHaveLength(0);
      },
    );

    it('connect() rejects with the close code when the gateway refuses the token', async () => {
      const { gateway, connection } = setup();
      const ready = connection.connect();
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      gateway.socket.serverClose(4004, 'authentication failed');
      await expect(ready).rejects.toMatchObject({
        name: 'ConnectionError',
        code: 'CONCORD_ERR_GATEWAY_REJECTED',
        closeCode: 4004,
      });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(gateway.sockets).toHaveLength(1);
    });

    it('backoff waits random × min(max, base × 2^attempt): full jitter, capped', async () => {
      const { gateway, connection } = setup({
        random: () => 0.5,
        reconnect: { baseDelayMs: 100, maxDelayMs: 1_000, maxAttempts: 100 },
      });
      void connection.connect().catch(() => undefined);
      gateway.socket.serverClose(1006); // attempt 0 failed: attempt 1 waits 0.5 × 200
      const expected = [100, 200, 400, 500, 500, 500];
      for (const delayMs of expected) {
        const before = gateway.sockets.length;
        await vi.advanceTimersByTimeAsync(delayMs - 1);
        expect(gateway.sockets).toHaveLength(before);
        await vi.advanceTimersByTimeAsync(1);
        expect(gateway.sockets).toHaveLength(before + 1);
        gateway.socket.serverClose(1006);
      }
      connection.close();
    });

    it('backoff keeps growing when sockets open but fail before READY', async () => {
      const { gateway, connection } = setup({
        random: () => 0.5,
        reconnect: { baseDelayMs: 100, maxDelayMs: 10_000, maxAttempts: 100 },
      });
      void connection.connect().catch(() => undefined);
      // Each socket opens and fails while identifying: attempt n waits 0.5 × 100 × 2^n.
      for (const delayMs of [100, 200, 400, 800, 1_600]) {
        gateway.socket.hello(INTERVAL_MS);
        await settle();
        gateway.socket.serverClose(4007, 'rate limited');
        const before = gateway.sockets.length;
        await vi.advanceTimersByTimeAsync(delayMs - 1);
        expect(gateway.sockets).toHaveLength(before);
        await vi.advanceTimersByTimeAsync(1);
        expect(gateway.sockets).toHaveLength(before + 1);
      }
      connection.close();
    });

    it('closes as unreachable after maxAttempts consecutive failures', async () => {
      const { gateway, connection } = setup({ reconnect: { maxAttempts: 3 } });
      const ready = connection.connect();
      const rejected = expect(ready).rejects.toMatchObject({
        code: 'CONCORD_ERR_GATEWAY_UNREACHABLE',
      });
      gateway.socket.serverClose(1006);
      await vi.advanceTimersByTimeAsync(30_000);
      gateway.socket.serverClose(1006);
      await vi.advanceTimersByTimeAsync(30_000);
      gateway.socket.serverClose(1006);
      await rejected;
      expect(gateway.sockets).toHaveLength(3);
      expect(connection.state.status).toBe('closed');
      await vi.advanceTimersByTimeAsync(120_000);
      expect(gateway.sockets).toHaveLength(3);
    });

    it('the first connect() gives up after 3 attempts with the last attempt’s cause attached', async () => {
      const { gateway, connection } = setup();
      const ready = connection.connect();
      let error: unknown;
      ready.catch((e: unknown) => (error = e));
      const refused = new Error('connect ECONNREFUSED 127.0.0.1:1');
      for (let i = 0; i < 3; i++) {
        // What `ws` does: an error event with the system error, then the close.
        gateway.socket.onerror?.({ error: refused, message: refused.message });
        gateway.socket.serverClose(1006);
        await vi.advanceTimersByTimeAsync(2_000); // backoff ≤ 500 × 2^attempt × 0.5
      }
      expect(gateway.sockets).toHaveLength(3);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({ code: 'CONCORD_ERR_GATEWAY_UNREACHABLE', cause: refused });
      expect((error as Error).message).toBe(
        'gateway unreachable after 3 attempts: connect ECONNREFUSED 127.0.0.1:1',
      );
    });

    it('a socket that never opens fails its attempt after socketOpenTimeoutMs', async () => {
      const { gateway, connection } = setup({ socketOpenTimeoutMs: 2_000, connectAttempts: 1 });
      let error: Error | undefined;
      connection.connect().catch((e: Error) => (error = e));
      await vi.advanceTimersByTimeAsync(1_999);
      expect(connection.state.status).toBe('connecting');
      await vi.advanceTimersByTimeAsync(1);
      expect(error?.message).toMatch(/after 1 attempt: no answer from .* within 2000 ms/);
      expect(gateway.sockets).toHaveLength(1);
      expect(gateway.socket.readyState).not.toBe(1);
    });

    it('a close without an error event (browsers) still says what may have happened', async () => {
      const { gateway, connection } = setup({ connectAttempts: 1 });
      let error: Error | undefined;
      connection.connect().catch((e: Error) => (error = e));
      gateway.socket.serverClose(1006);
      await vi.advanceTimersByTimeAsync(0);
      expect(error?.message).toMatch(
        /after 1 attempt: the WebSocket to .* closed \(1006\) before it opened: connection refused, wrong URL or a refused upgrade/,
      );
    });

    it('once connected, reconnects keep trying reconnect.maxAttempts (10) times', async () => {
      // Sockets that never open would also fail by timeout: only the closes count here.
      const { gateway, connection } = await connected({
        socketOpenTimeoutMs: 1e9,
        connectTimeoutMs: 1e9,
      });
      const before = gateway.sockets.length;
      // The drop from ready, then 9 failed reconnect attempts: still trying.
      for (let i = 0; i < 10; i++) {
        gateway.socket.serverClose(1006);
        await vi.advanceTimersByTimeAsync(30_000);
      }
      expect(connection.state.status).toBe('connecting');
      gateway.socket.serverClose(1006); // the 10th attempt fails
      await vi.advanceTimersByTimeAsync(0);
      expect(connection.state.status).toBe('closed');
      expect(gateway.sockets.length - before).toBe(10);
      const closed = connection.state as { error?: Error };
      expect(closed.error?.message).toMatch(/^gateway unreachable after 10 attempts: /);
    });

    it('a successful READY resets the failure count', async () => {
      const { gateway, connection } = await connected({ reconnect: { maxAttempts: 2 } });
      for (let i = 0; i < 3; i++) {
        gateway.socket.serverClose(1006);
        const s = await nextSocketHello(gateway, 250);
        s.resumed();
        expect(connection.state.status).toBe('ready');
      }
    });

    it('RECONNECT from the server reconnects and resumes', async () => {
      const { gateway, connection } = await connected();
      const first = gateway.socket;
      first.reconnect('draining');
      expect(connection.state.status).toBe('reconnecting');
      expect(first.attached).toBe(false);
      first.serverClose(4013); // the server's close after RECONNECT is not a second failure
      const s2 = await nextSocketHello(gateway, 250);
      expect(s2.lastOf(Op.Resume)?.d.sessionId).toBe('session-1');
      s2.resumed();
      expect(connection.state.status).toBe('ready');
    });
  });

  describe('invalid session', () => {
    it('rejects pending requests, emits sessionInvalidated and identifies again', async () => {
      const { gateway, connection, statuses, readies } = await connected();
      gateway.dispatch('REQUEST_ACK', { req: 100 });
      const pending = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'a' } }));
      const rejected = expect(pending).rejects.toMatchObject({
        name: 'ConnectionError',
        code: 'CONCORD_ERR_SESSION_INVALIDATED',
      });
      const invalidated = vi.fn();
      connection.on('sessionInvalidated', invalidated);
      gateway.socket.serverClose(1006);
      const s2 = await nextSocketHello(gateway, 250);
      expect(s2.lastOf(Op.Resume)?.d.seq).toBe(1);
      s2.invalidSession(false);
      await rejected;
      expect(invalidated).toHaveBeenCalledTimes(1);
      await settle();
      expect(s2.received.map((m) => m.op)).toEqual([Op.Resume, Op.Identify]);
      expect(connection.state.status).toBe('identifying');
      gateway.newSession();
      s2.ready('session-2');
      expect(readies).toEqual([false, false]);
      expect(connection.sessionInfo?.sessionId).toBe('session-2');
      expect(connection.lastSeq).toBe(0);
      // The new session's seq 1 is new, not a duplicate of the old session's seq 1.
      const seen: number[] = [];
      connection.on('dispatch', (m) => seen.push(m.seq));
      gateway.dispatch('REQUEST_ACK', { req: 1 });
      expect(seen).toEqual([1]);
      expect(statuses.slice(-4)).toEqual(['connecting', 'resuming', 'identifying', 'ready']);
    });

    it('INVALID_SESSION while ready re-identifies on the same socket', async () => {
      const { gateway, connection } = await connected();
      gateway.socket.invalidSession();
      await settle();
      expect(gateway.sockets).toHaveLength(1);
      expect(gateway.socket.sentOf(Op.Identify)).toHaveLength(2);
      expect(connection.state.status).toBe('identifying');
    });
  });

  describe('dispatch', () => {
    it('delivers each seq exactly once, in order, ignoring duplicates', async () => {
      const { gateway, dispatches } = await connected();
      const s = gateway.socket;
      s.dispatch(1, 'REQUEST_ACK', { req: 101 });
      s.dispatch(2, 'REQUEST_ACK', { req: 102 });
      s.dispatch(2, 'REQUEST_ACK', { req: 102 });
      s.dispatch(1, 'REQUEST_ACK', { req: 101 });
      s.dispatch(3, 'REQUEST_ACK', { req: 103 });
      expect(dispatches.map((d) => d.seq)).toEqual([1, 2, 3]);
    });

    it('decodes batched and LZ4-compressed frames', async () => {
      const { gateway, dispatches } = await connected();
      const participants = Array.from({ length: 60 }, (_, i) => participant(`user-${i}`));
      const frame = gateway.codec.encode([
        { op: Op.Dispatch, seq: 1, t: 'ROOM_JOINED', d: { req: 0, room: 'big', participants } },
        { op: Op.Dispatch, seq: 2, t: 'REQUEST_ACK', d: { req: 5 } },
      ]);
      expect(frame[0]! & 0x03).toBe(0x03); // batch + LZ4
      gateway.socket.serverSendRaw(frame);
      expect(dispatches.map((d) => d.t)).toEqual(['ROOM_JOINED', 'REQUEST_ACK']);
    });

    it('a text frame or undecodable bytes close the connection for good', async () => {
      const { gateway, connection } = await connected();
      gateway.socket.serverSendRaw('{"op":0}');
      expect(connection.state).toMatchObject({
        status: 'closed',
        error: { code: 'CONCORD_ERR_GATEWAY_REJECTED', closeCode: 4001 },
      });
      const t2 = await connected();
      t2.gateway.socket.serverSendRaw(new Uint8Array([0x00, 0xc1]));
      expect(t2.connection.state.status).toBe('closed');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(gateway.sockets).toHaveLength(1);
      expect(t2.gateway.sockets).toHaveLength(1);
    });
  });

  describe('protocol 3 client duties', () => {
    it('sends IDENTIFY only on the socket that asked for it, even when the token arrives late', async () => {
      let release: ((t: string) => void) | undefined;
      const token = vi.fn(() => new Promise<string>((r) => (release = r)));
      const { gateway, connection } = setup({ token, connectTimeoutMs: 1_000 });
      void connection.connect().catch(() => undefined);
      const first = gateway.socket;
      first.hello(INTERVAL_MS);
      await settle();
      // The attempt times out while the token function is still busy; a new socket opens.
      await vi.advanceTimersByTimeAsync(1_000);
      const lateRelease = release!;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(gateway.sockets.length).toBeGreaterThanOrEqual(2);
      lateRelease('late-token');
      await settle();
      expect(first.sentOf(Op.Identify)).toHaveLength(0);
      const second = gateway.socket;
      expect(second.sentOf(Op.Identify)).toHaveLength(0);
      second.hello(INTERVAL_MS);
      await settle();
      release!('fresh-token');
      await settle();
      expect(second.sentOf(Op.Identify).map((m) => m.d.token)).toEqual(['fresh-token']);
      connection.close();
    });

    it('warns about ws:// to a non-loopback host, not to localhost', () => {
      const warnings: string[] = [];
      setLogLevel('warn');
      setLogHandler((level: LogLevel, _name, message) => {
        if (level === 'warn') warnings.push(message);
      });
      try {
        const WebSocket = new FakeGateway().WebSocket;
        new GatewayConnection({ url: 'ws://localhost:8080/gateway', token: 't', WebSocket });
        new GatewayConnection({ url: 'ws://127.0.0.1:8080/gateway', token: 't', WebSocket });
        new GatewayConnection({ url: 'wss://voice.example.com/gateway', token: 't', WebSocket });
        expect(warnings).toEqual([]);
        new GatewayConnection({ url: 'ws://voice.example.com/gateway', token: 't', WebSocket });
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/wss:/);
      } finally {
        setLogLevel('silent');
        setLogHandler(() => undefined);
      }
    });

    it('refreshes the token before it expires, through the token function', async () => {
      let n = 0;
      const token = vi.fn(async () => `token-${++n}`);
      const t = setup({ token });
      const ready = t.connection.connect();
      t.gateway.socket.hello(3_600_000); // no zombie check within this test
      await settle();
      t.gateway.socket.ready('s-1', { id: 'u1', name: 'U' }, 100_000);
      await ready;
      await settle();
      t.gateway.socket.heartbeatAck();
      const refreshes: Array<[number, Error | undefined]> = [];
      t.connection.on('tokenRefresh', (ms, err) => refreshes.push([ms, err]));
      // 100 s lifetime: refresh 20 s before expiry, at 80 s.
      await vi.advanceTimersByTimeAsync(79_000);
      expect(t.gateway.socket.sentOf(Op.RefreshToken)).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1_000);
      await settle();
      const [refresh] = t.gateway.socket.sentOf(Op.RefreshToken);
      expect(refresh?.d.token).toBe('token-2');
      t.gateway.dispatch('TOKEN_REFRESHED', { req: refresh!.d.req, tokenExpiresInMs: 3_600_000 });
      await settle();
      expect(refreshes).toEqual([[3_600_000, undefined]]);
      // The next refresh is scheduled from the new lifetime (a minute ahead of it).
      await vi.advanceTimersByTimeAsync(3_500_000);
      t.gateway.socket.heartbeatAck();
      await vi.advanceTimersByTimeAsync(40_000 - 1);
      expect(t.gateway.socket.sentOf(Op.RefreshToken)).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      await settle();
      expect(t.gateway.socket.sentOf(Op.RefreshToken)).toHaveLength(2);
      t.connection.close();
    });

    it('a refused refresh is retried while the token still lives', async () => {
      const token = vi.fn(async () => 'tok');
      const t = setup({ token });
      const ready = t.connection.connect();
      t.gateway.socket.hello(3_600_000);
      await settle();
      t.gateway.socket.ready('s-1', { id: 'u1', name: 'U' }, 60_000);
      await ready;
      const errors: string[] = [];
      t.connection.on(
        'tokenRefresh',
        (_ms, err) => err && errors.push((err as RequestError).reason),
      );
      await vi.advanceTimersByTimeAsync(48_000);
      await settle();
      const [first] = t.gateway.socket.sentOf(Op.RefreshToken);
      t.gateway.dispatch('REQUEST_ERROR', {
        req: first!.d.req,
        code: 'TOKEN_INVALID',
        message: 'no',
      });
      await settle();
      expect(errors).toEqual(['TOKEN_INVALID']);
      await vi.advanceTimersByTimeAsync(5_000);
      await settle();
      expect(t.gateway.socket.sentOf(Op.RefreshToken)).toHaveLength(2);
      t.connection.close();
    });

    it('merges ROOM_PARTICIPANTS pages into the ROOM_JOINED that completes them', async () => {
      const { gateway, connection, dispatches } = await connected();
      const joining = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'big' } }));
      await settle();
      const req = gateway.socket.lastOf(Op.JoinRoom)!.d.req;
      const a = participant('a');
      const b = participant('b');
      const c = participant('c');
      gateway.dispatch('ROOM_PARTICIPANTS', { room: 'big', participants: [a] });
      gateway.dispatch('ROOM_PARTICIPANTS', { room: 'big', participants: [b] });
      gateway.dispatch('ROOM_JOINED', { req, room: 'big', participants: [c] });
      const reply = await joining;
      expect(reply.t === 'ROOM_JOINED' && reply.d.participants.map((p) => p.userId)).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(dispatches.map((d) => d.t)).toEqual(['ROOM_JOINED']);
    });
  });

  describe('requests', () => {
    it('resolve with their reply and reject with RequestError on REQUEST_ERROR', async () => {
      const { gateway, connection } = await connected();
      const join = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'lobby' } }));
      const leave = connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: 'x' } }));
      const [j, l] = gateway.socket.received.slice(-2);
      expect(j).toEqual({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } });
      expect(l).toEqual({ op: Op.LeaveRoom, d: { req: 2, room: 'x' } });
      gateway.dispatch('REQUEST_ERROR', { req: 2, code: 'NOT_IN_ROOM', message: 'not in room' });
      gateway.dispatch('ROOM_JOINED', { req: 1, room: 'lobby', participants: [] });
      await expect(join).resolves.toMatchObject({ t: 'ROOM_JOINED', d: { req: 1 } });
      const error = await leave.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RequestError);
      expect(error).toMatchObject({ reason: 'NOT_IN_ROOM', code: 'CONCORD_ERR_REQUEST_REFUSED' });
    });

    it('time out after requestTimeoutMs; a late reply is ignored', async () => {
      const { gateway, connection } = await connected({ requestTimeoutMs: 1_000 });
      const p = connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: 'x' } }));
      const rejected = expect(p).rejects.toMatchObject({ code: 'CONCORD_ERR_GATEWAY_TIMEOUT' });
      await vi.advanceTimersByTimeAsync(999);
      gateway.socket.heartbeatAck(); // keep the socket alive
      await vi.advanceTimersByTimeAsync(1);
      await rejected;
      expect(() =>
        gateway.dispatch('ROOM_LEFT', { req: 1, room: 'x', reason: 'requested' }),
      ).not.toThrow();
      expect(connection.state.status).toBe('ready');
    });

    it('wait for READY while reconnecting, then go out on the new socket', async () => {
      const { gateway, connection } = await connected();
      gateway.socket.serverClose(1006);
      const p = connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: 'x' } }));
      const s2 = await nextSocketHello(gateway, 250);
      s2.resumed();
      await settle();
      expect(s2.lastOf(Op.LeaveRoom)?.d.room).toBe('x');
      gateway.dispatch('ROOM_LEFT', { req: s2.lastOf(Op.LeaveRoom)!.d.req, room: 'x', reason: '' });
      await expect(p).resolves.toMatchObject({ t: 'ROOM_LEFT' });
    });
  });

  describe('resume and the rate limit', () => {
    it('requests the server never handled go again after RESUMED, in order, once', async () => {
      const { gateway, connection } = await connected();
      const first = gateway.socket;
      const a = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'a' } }));
      const b = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'b' } }));
      const c = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'c' } }));
      expect(first.sentOf(Op.JoinRoom).map((m) => m.d.req)).toEqual([1, 2, 3]);
      // The server handled 1 (its reply is lost with the socket), then the socket dropped.
      first.serverClose(1006);
      const s2 = await nextSocketHello(gateway, 250);
      s2.dispatch(1, 'ROOM_JOINED', { req: 1, room: 'a', participants: [] }); // replayed
      s2.resumed(1, 0, 1);
      await settle();
      await expect(a).resolves.toMatchObject({ d: { room: 'a' } });
      expect(s2.sentOf(Op.JoinRoom).map((m) => m.d.req)).toEqual([2, 3]);
      s2.dispatch(2, 'ROOM_JOINED', { req: 2, room: 'b', participants: [] });
      s2.dispatch(3, 'ROOM_JOINED', { req: 3, room: 'c', participants: [] });
      await expect(b).resolves.toMatchObject({ d: { room: 'b' } });
      await expect(c).resolves.toMatchObject({ d: { room: 'c' } });
    });

    it('a request the server already handled is not sent again (its reply may still come)', async () => {
      const { gateway, connection } = await connected();
      const p = connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: 'slow' } }));
      gateway.socket.serverClose(1006);
      const s2 = await nextSocketHello(gateway, 250);
      s2.resumed(0, 0, 1); // taken up, still being handled
      await settle();
      expect(s2.sentOf(Op.JoinRoom)).toEqual([]);
      s2.dispatch(1, 'ROOM_JOINED', { req: 1, room: 'slow', participants: [] });
      await expect(p).resolves.toMatchObject({ d: { room: 'slow' } });
    });

    it("paces control messages within 90 % of HELLO's rate limit instead of getting closed", async () => {
      const t = setup();
      const ready = t.connection.connect();
      t.gateway.socket.helloWithRate(60_000, 10, 1_000);
      await settle();
      t.gateway.socket.ready('session-1');
      await ready;
      const s = t.gateway.socket;
      await settle(); // the first heartbeat goes out (and is charged)
      expect(s.sentOf(Op.Heartbeat)).toHaveLength(1);
      const charged = () => s.sentOf(Op.JoinRoom).length + s.sentOf(Op.Heartbeat).length;
      const joins = Array.from({ length: 20 }, (_, i) =>
        t.connection.request((req) => ({ op: Op.JoinRoom, d: { req, room: `r${i}` } })),
      );
      // Capacity 9 (90 % of 10) at once, then 9 a second.
      expect(charged()).toBe(9);
      await vi.advanceTimersByTimeAsync(500);
      expect(charged()).toBeGreaterThanOrEqual(13);
      expect(charged()).toBeLessThanOrEqual(14);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(s.sentOf(Op.JoinRoom).map((m) => m.d.room)).toEqual(
        Array.from({ length: 20 }, (_, i) => `r${i}`),
      );
      for (const [i, m] of s.sentOf(Op.JoinRoom).entries())
        t.gateway.dispatch('ROOM_JOINED', { req: m.d.req, room: `r${i}`, participants: [] });
      await expect(Promise.all(joins)).resolves.toHaveLength(20);
    });

    it('refuses a request with RATE_LIMITED when 256 already wait', async () => {
      const t = setup();
      const ready = t.connection.connect();
      t.gateway.socket.helloWithRate(60_000, 2, 60_000);
      await settle();
      t.gateway.socket.ready('session-1');
      await ready;
      const waiting = Array.from({ length: 300 }, (_, i) =>
        t.connection
          .request((req) => ({ op: Op.LeaveRoom, d: { req, room: `r${i}` } }))
          .catch((e: unknown) => e),
      );
      const refused = (await Promise.race([
        waiting[299]!,
        vi.advanceTimersByTimeAsync(0).then(() => 'pending'),
      ])) as unknown;
      expect(refused).toBeInstanceOf(RequestError);
      expect(refused).toMatchObject({ reason: 'RATE_LIMITED' });
      t.connection.close();
      await Promise.all(waiting);
    });
  });

  describe('entersState', () => {
    it('resolves at once when already in the state, and when the state is entered', async () => {
      const { gateway, connection } = setup();
      await expect(connection.entersState('idle', 10)).resolves.toMatchObject({ status: 'idle' });
      const ready = connection.entersState('ready', 5_000);
      void connection.connect();
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      gateway.socket.ready();
      await expect(ready).resolves.toMatchObject({ status: 'ready' });
    });

    it('rejects with a timeout error after the timeout', async () => {
      const { connection } = setup();
      const p = connection.entersState('ready', 3_000);
      const rejected = expect(p).rejects.toMatchObject({
        name: 'ConnectionError',
        code: 'CONCORD_ERR_GATEWAY_TIMEOUT',
      });
      await vi.advanceTimersByTimeAsync(3_000);
      await rejected;
      expect(connection.listenerCount('stateChange')).toBe(1); // only the test's own
    });

    it('rejects with the signal reason on abort (also when already aborted)', async () => {
      const { connection } = setup();
      const ac = new AbortController();
      const p = connection.entersState('ready', ac.signal);
      ac.abort(new Error('user gave up'));
      await expect(p).rejects.toThrow('user gave up');
      await expect(connection.entersState('ready', AbortSignal.abort())).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(connection.listenerCount('stateChange')).toBe(1);
    });

    it('rejects when the connection closes first, resolves when waiting for closed', async () => {
      const { connection } = setup();
      void connection.connect().catch(() => undefined);
      const ready = connection.entersState('ready', 5_000);
      const closed = connection.entersState('closed', 5_000);
      connection.close();
      await expect(ready).rejects.toMatchObject({ code: 'CONCORD_ERR_GATEWAY_CLOSED' });
      await expect(closed).resolves.toMatchObject({ status: 'closed' });
    });

    it('rejects at once when the connection is already closed', async () => {
      const { connection } = setup();
      connection.close();
      await expect(
        connection.entersState('ready', Number.POSITIVE_INFINITY),
      ).rejects.toBeInstanceOf(ConnectionError);
    });
  });

  describe('close', () => {
    it('is idempotent, closes the socket with 1000 and rejects pending requests', async () => {
      const { gateway, connection, statuses } = await connected();
      const p = connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: 'x' } }));
      const rejected = expect(p).rejects.toMatchObject({ code: 'CONCORD_ERR_GATEWAY_CLOSED' });
      connection.close();
      connection.close();
      await rejected;
      expect(statuses.filter((s) => s === 'closed')).toHaveLength(1);
      expect(gateway.socket.clientCloseCode).toBe(1000);
      expect(connection.state).toEqual({ status: 'closed', error: undefined });
      await vi.advanceTimersByTimeAsync(120_000);
      expect(gateway.sockets).toHaveLength(1);
    });

    it('afterwards, connect() and request() throw InvalidStateError', async () => {
      const { connection } = await connected();
      connection.close();
      await expect(connection.connect()).rejects.toBeInstanceOf(InvalidStateError);
      await expect(
        connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: 'x' } })),
      ).rejects.toBeInstanceOf(InvalidStateError);
    });

    it('while reconnecting cancels the pending attempt', async () => {
      const { gateway, connection } = await connected();
      gateway.socket.serverClose(1006);
      connection.close();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(gateway.sockets).toHaveLength(1);
    });

    it('while connecting closes the new socket', async () => {
      const { gateway, connection } = setup();
      void connection.connect().catch(() => undefined);
      connection.close();
      expect(gateway.socket.clientCloseCode).toBe(1000);
      expect(gateway.socket.attached).toBe(false);
    });
  });

  describe('media frames', () => {
    const frame = Uint8Array.of(0x40, 0, 0, 0, 7, 0, 1, 0, 0, 3, 0xc0, 0x01, 0x14, 0xf8, 0xff);

    it('sendMedia sends the bytes as one message, outside the batcher, only when ready', async () => {
      const { gateway, connection } = setup();
      void connection.connect();
      gateway.socket.hello(INTERVAL_MS);
      expect(connection.sendMedia(frame)).toBe(false);
      await settle();
      gateway.socket.ready('session-1');
      expect(connection.sendMedia(frame)).toBe(true);
      expect(gateway.socket.mediaReceived).toEqual([frame]);
      connection.close();
      expect(connection.sendMedia(frame)).toBe(false);
    });

    it('incoming media is emitted raw when ready and never decoded as control', async () => {
      const { gateway, connection, dispatches, statuses } = await connected();
      const media: Uint8Array[] = [];
      connection.on('media', (bytes) => media.push(bytes));
      gateway.socket.serverSendRaw(frame);
      expect(media).toHaveLength(1);
      expect([...media[0]!]).toEqual([...frame]);
      expect(dispatches).toHaveLength(0);
      expect(statuses.at(-1)).toBe('ready');
    });

    it('media arriving before READY is ignored without closing the socket', async () => {
      const { gateway, connection, statuses } = setup();
      const media: Uint8Array[] = [];
      connection.on('media', (bytes) => media.push(bytes));
      void connection.connect();
      gateway.socket.hello(INTERVAL_MS);
      await settle();
      gateway.socket.serverSendRaw(frame);
      expect(media).toHaveLength(0);
      expect(statuses.at(-1)).toBe('identifying');
    });
  });
});
