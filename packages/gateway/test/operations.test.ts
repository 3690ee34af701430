// Operations against a real gateway process: /healthz, /metrics, graceful shutdown on SIGTERM.
import { CloseCode, Op } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  httpGet,
  metricValue,
  RawClient,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';

const token = (userId: string): Promise<string> => mintToken(TEST_SECRET, { userId });

describe('/healthz and /metrics', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  const metrics = async (): Promise<string> => {
    const res = await httpGet(gw, '/metrics');
    expect(res.status).toBe(200);
    return res.body;
  };

  it('/healthz reports status, connections and sessions as JSON', async () => {
    const c = await RawClient.identified(gw.url, await token('health'));
    clients.push(c);
    const res = await httpGet(gw, '/healthz');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { status: string; connections: number; sessions: number };
    expect(body.status).toBe('listening');
    expect(body.connections).toBeGreaterThanOrEqual(1);
    expect(body.sessions).toBeGreaterThanOrEqual(1);
  });

  it('/metrics tracks connections, messages and rejections by close code', async () => {
    const before = metricValue(await metrics(), 'concord_connections') ?? 0;
    const a = await RawClient.identified(gw.url, await token('metrics-a'));
    const b = await RawClient.identified(gw.url, await token('metrics-b'));
    clients.push(a, b);
    await a.join('m');
    await waitUntil(
      async () => (metricValue(await metrics(), 'concord_connections') ?? 0) >= before + 2,
    );
    const body = await metrics();
    expect(metricValue(body, 'concord_messages_in_total', 'type="Identify"')).toBeGreaterThan(0);
    expect(metricValue(body, 'concord_messages_out_total', 'type="ROOM_JOINED"')).toBeGreaterThan(
      0,
    );
    expect(metricValue(body, 'concord_bytes_in_total')).toBeGreaterThan(0);

    const forged = await RawClient.connect(gw.url);
    await forged.waitFor((m) => m.op === Op.Hello);
    forged.identify('not.a.token');
    expect(await forged.closed()).toBe(CloseCode.AUTHENTICATION_FAILED);
    const early = await RawClient.connect(gw.url);
    early.send({ op: Op.JoinRoom, d: { req: 1, room: 'm' } });
    expect(await early.closed()).toBe(CloseCode.NOT_AUTHENTICATED);
    const after = await metrics();
    expect(metricValue(after, 'concord_rejections_total', 'code="AUTHENTICATION_FAILED"')).toBe(1);
    expect(metricValue(after, 'concord_rejections_total', 'code="NOT_AUTHENTICATED"')).toBe(1);
  });

  it('/metrics observes the heartbeat round trip after a heartbeat', async () => {
    const c = await RawClient.identified(gw.url, await token('beat'));
    clients.push(c);
    c.send({ op: Op.Heartbeat, d: { nonce: 42, seq: 0 } });
    expect(await c.waitFor((m) => m.op === Op.HeartbeatAck)).toEqual({
      op: Op.HeartbeatAck,
      d: { nonce: 42 },
    });
    // The server pings after the heartbeat; ws answers with a pong, which is timed.
    await waitUntil(
      async () => (metricValue(await metrics(), 'concord_heartbeat_rtt_seconds_count') ?? 0) > 0,
    );
    expect(await metrics()).toMatch(/concord_heartbeat_rtt_seconds_bucket\{le="[0-9.]+"\} \d+/);
  });
});

describe('graceful shutdown', () => {
  const DRAIN_TIMEOUT_MS = 1_500;

  it('on SIGTERM sends RECONNECT, closes with 4013 and exits 0 without waiting out the drain', async () => {
    // Clients that answer the close let the process exit long before its drain timeout.
    const drainTimeoutMs = 20_000;
    const gw = await startGateway(['--drain-timeout-ms', String(drainTimeoutMs)]);
    const clients: RawClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await RawClient.identified(gw.url, await token(`drain-${i}`));
      await c.join('drain');
      clients.push(c);
    }
    const started = Date.now();
    const exit = gw.stop('SIGTERM');
    for (const c of clients) {
      expect(await c.closed()).toBe(CloseCode.SERVER_DRAINING);
      const last = c.received.at(-1);
      expect(last?.op).toBe(Op.Reconnect);
      // Nobody is told that the others left: their sessions stay resumable elsewhere.
      expect(c.dispatches().some((d) => d.t === 'PARTICIPANT_LEFT')).toBe(false);
    }
    expect(await exit).toBe(0);
    expect(Date.now() - started).toBeLessThan(drainTimeoutMs);
    await expect(RawClient.connect(gw.url)).rejects.toThrow();
  });

  it('exits 0 within the drain timeout even when a client never answers the close', async () => {
    const gw = await startGateway(['--drain-timeout-ms', String(DRAIN_TIMEOUT_MS)]);
    const polite = await RawClient.identified(gw.url, await token('polite'));
    const stuck = await RawClient.identified(gw.url, await token('stuck'));
    // Stop reading: the close frame is never processed, so the handshake never completes.
    (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const started = Date.now();
    const code = await gw.stop('SIGTERM');
    const elapsed = Date.now() - started;
    expect(code).toBe(0);
    expect(await polite.closed()).toBe(CloseCode.SERVER_DRAINING);
    expect(elapsed).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(DRAIN_TIMEOUT_MS + 3_000);
    stuck.cut();
  });
});
