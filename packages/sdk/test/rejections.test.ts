// What the gateway refuses ends the connection for good (must-not-reconnect close codes);
// a draining gateway only sends the client reconnecting. Real gateway processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/src/auth/tokens.js';
import { startGateway, TEST_SECRET, type GatewayProcess } from '../../gateway/test/harness.js';
import { ConnectionError, RequestError, VoiceClient } from '../src/index.js';
import { delay, recordingWebSocket, waitFor } from './helpers.js';

// Retries, if any were (wrongly) scheduled, would happen within 20 ms.
const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 20 };

describe('rejections (real gateway)', () => {
  let gw: GatewayProcess;
  const clients: VoiceClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--insecure-dev-auth', '--secret', TEST_SECRET]);
  });

  afterAll(async () => {
    for (const c of clients) await c.disconnect();
    expect(await gw.stop()).toBe(0);
  });

  function client(token: string) {
    const recorded = recordingWebSocket();
    const c = new VoiceClient({
      url: gw.url,
      token,
      WebSocket: recorded.WebSocket,
      reconnect: FAST_RETRY,
    });
    clients.push(c);
    return { client: c, sockets: recorded.sockets };
  }

  it('a bad token: connect() rejects with close code 4004 and the client does not retry', async () => {
    const forged = await mintToken('another-secret-another-secret-0123456789', { userId: 'eve' });
    for (const token of ['not-a-token', forged]) {
      const { client: c, sockets } = client(token);
      const error = await c.connect().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({ code: 'CONCORD_ERR_GATEWAY_REJECTED', closeCode: 4004 });
      expect(c.state).toBe('closed');
      await delay(100);
      expect(sockets).toHaveLength(1);
    }
  });

  it('a room the token forbids: join() rejects with RequestError ROOM_FORBIDDEN and the connection and its rooms stay', async () => {
    const token = await mintToken(TEST_SECRET, { userId: 'limited', rooms: ['team-*'] });
    const { client: c, sockets } = client(token);
    const disconnected: (ConnectionError | undefined)[] = [];
    c.on('disconnected', (e) => disconnected.push(e));
    await c.connect();
    const team = await c.join('team-alpha');
    expect(team.localParticipant.userId).toBe('limited');
    const error = await c.join('lobby').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ reason: 'ROOM_FORBIDDEN' });
    expect(c.state).toBe('ready');
    expect(team.state).toBe('joined');
    expect(disconnected).toEqual([]);
    // The connection still works: another allowed room joins.
    const beta = await c.join('team-beta');
    expect(beta.state).toBe('joined');
    expect(sockets).toHaveLength(1);
    c.disconnect();
  });
});

describe('drain (real gateway)', () => {
  it('SIGTERM sends the client reconnecting, not closed', async () => {
    const gw = await startGateway(['--insecure-dev-auth']);
    const recorded = recordingWebSocket();
    const c = new VoiceClient({
      url: gw.url,
      token: 'dev:drained',
      WebSocket: recorded.WebSocket,
      reconnect: { ...FAST_RETRY, maxAttempts: 1_000 },
    });
    try {
      await c.connect();
      await c.join('drain-room');
      const events: string[] = [];
      c.on('reconnecting', () => events.push('reconnecting'));
      c.on('disconnected', () => events.push('disconnected'));
      expect(await gw.stop('SIGTERM')).toBe(0);
      await waitFor(() => events.includes('reconnecting'), 'reconnecting');
      // The gateway is gone: the client keeps trying instead of giving up at once.
      await waitFor(() => recorded.sockets.length >= 3, 'further attempts');
      expect(events).toEqual(['reconnecting']);
      expect(c.state).not.toBe('closed');
      expect(c.rooms.get('drain-room')?.state).toBe('joined');
    } finally {
      await c.disconnect();
    }
  });
});
