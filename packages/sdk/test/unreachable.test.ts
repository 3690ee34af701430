// An unreachable gateway fails connect() within a few seconds, with the cause of the last
// attempt attached and the number of attempts it really made. Real sockets on loopback. The
// time taken is printed, not asserted (speed is measured, never timed in unit tests): the
// bound is structural — 3 attempts, backoff draws of at most 1 s and 2 s.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnectionError, VoiceClient } from '../src/index.js';
import { recordingWebSocket } from './helpers.js';

const servers: Array<Server | ReturnType<typeof createTcpServer>> = [];
const held: Socket[] = [];
afterAll(async () => {
  for (const s of held) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const portOf = (s: { address(): AddressInfo | string | null }) => (s.address() as AddressInfo).port;

/** connect() of a fresh client to `url`: the error, the sockets it opened and the time taken. */
async function failToConnect(url: string, options: { socketOpenTimeoutMs?: number } = {}) {
  const recorded = recordingWebSocket();
  const client = new VoiceClient({
    url,
    token: 'dev:x',
    WebSocket: recorded.WebSocket,
    ...options,
  });
  const t0 = performance.now();
  const error = await client.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  const elapsedMs = performance.now() - t0;
  await client.disconnect();
  return { error: error as ConnectionError, sockets: recorded.sockets.length, elapsedMs };
}

describe('unreachable gateway (real sockets)', () => {
  it('connection refused: 3 attempts, ECONNREFUSED attached', async () => {
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = portOf(probe);
    await new Promise((r) => probe.close(r)); // nothing listens there now
    const { error, sockets, elapsedMs } = await failToConnect(`ws://127.0.0.1:${port}/gateway`);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe('CONCORD_ERR_GATEWAY_UNREACHABLE');
    expect(error.message).toMatch(/^gateway unreachable after 3 attempts: .*ECONNREFUSED/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(sockets).toBe(3);
    console.log(`refused: failed after ${Math.round(elapsedMs)} ms`);
  });

  it('an HTTP server that refuses the upgrade: its status is in the error', async () => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no gateway here');
    });
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { error, sockets, elapsedMs } = await failToConnect(
      `ws://127.0.0.1:${portOf(http)}/wrong-path`,
    );
    expect(error.message).toMatch(/after 3 attempts: Unexpected server response: 404/);
    expect(sockets).toBe(3);
    console.log(`HTTP 404: failed after ${Math.round(elapsedMs)} ms`);
  });

  it('a host that accepts TCP but never answers fails each attempt at socketOpenTimeoutMs', async () => {
    const silent = createTcpServer((socket) => held.push(socket));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { error, sockets, elapsedMs } = await failToConnect(
      `ws://127.0.0.1:${portOf(silent)}/gateway`,
      { socketOpenTimeoutMs: 400 },
    );
    expect(error.message).toMatch(/after 3 attempts: no answer from .* within 400 ms/);
    expect(sockets).toBe(3);
    expect(elapsedMs).toBeGreaterThanOrEqual(3 * 400 - 50);
    console.log(`silent host: failed after ${Math.round(elapsedMs)} ms`);
  });
});
