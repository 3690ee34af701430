import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Op, PROTOCOL_VERSION, FrameCodec, type ServerMessage } from '@concord/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { GatewayConfig } from './config.js';
import { Gateway } from './Gateway.js';
import { GatewayMetrics } from './metrics.js';
import { MemoryStateStore } from './state/MemoryStateStore.js';
import type { RoomMember } from './state/StateStore.js';

const SECRET = 'gateway-test-secret-gateway-test-secret-01';

/** A store that records membership removals and can be told to fail. */
class SpyStore extends MemoryStateStore {
  readonly removed: string[] = [];
  failAddMember = false;
  override async addMember(room: string, member: RoomMember) {
    if (this.failAddMember) throw new Error('store unavailable');
    return super.addMember(room, member);
  }
  override async removeMember(room: string, sessionId: string) {
    this.removed.push(room);
    return super.removeMember(room, sessionId);
  }
}

const gateways: Gateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

async function listening(config: Partial<GatewayConfig>, store = new SpyStore()) {
  const gateway = new Gateway(
    { port: 0, secret: SECRET, insecureDevAuth: true, drainTimeoutMs: 200, ...config },
    {
      store,
      logger: pino({ level: 'silent' }),
      metrics: new GatewayMetrics({ processMetrics: false }),
    },
  );
  gateways.push(gateway);
  const { port } = await gateway.listen();
  return { gateway, store, url: `ws://127.0.0.1:${port}/gateway` };
}

/** A minimal client: identifies with a dev token, collects messages. */
async function client(url: string, user: string) {
  const codec = new FrameCodec({ compressionThresholdBytes: 0 });
  const ws = new WebSocket(url);
  const received: ServerMessage[] = [];
  ws.on('message', (d: Buffer) => received.push(...codec.decodeServerFrame(new Uint8Array(d))));
  await new Promise((r) => ws.once('open', r));
  const until = async (pred: (m: ServerMessage) => boolean) => {
    for (let i = 0; i < 500 && !received.some(pred); i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(received.some(pred)).toBe(true);
  };
  await until((m) => m.op === Op.Hello);
  ws.send(
    codec.encode({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token: `dev:${user}`,
        capabilities: { transports: ['ws'], codecs: ['opus'], client: 'unit' },
      },
    }),
  );
  await until((m) => m.op === Op.Ready);
  const send = (m: Parameters<FrameCodec['encode']>[0]) => ws.send(codec.encode(m));
  return { ws, received, until, send };
}

describe('Gateway', () => {
  it('on close, every member leaves its rooms in the state store (no ghosts in a shared store)', async () => {
    const { gateway, store, url } = await listening({});
    const a = await client(url, 'ann');
    const b = await client(url, 'ben');
    a.send({ op: Op.JoinRoom, d: { req: 1, room: 'one' } });
    b.send({ op: Op.JoinRoom, d: { req: 1, room: 'one' } });
    b.send({ op: Op.JoinRoom, d: { req: 2, room: 'two' } });
    await b.until((m) => m.op === Op.Dispatch && m.t === 'ROOM_JOINED' && m.d.room === 'two');
    expect(await store.members('one')).toHaveLength(2);
    await gateway.close();
    expect(store.removed.sort()).toEqual(['one', 'one', 'two']);
  });

  it('a failing store closes the request’s connection with 4000 and nothing is left unhandled', async () => {
    const store = new SpyStore();
    const { gateway, url } = await listening({}, store);
    const a = await client(url, 'cat');
    store.failAddMember = true;
    const closed = new Promise<number>((r) => a.ws.once('close', (code) => r(code)));
    a.send({ op: Op.JoinRoom, d: { req: 1, room: 'x' } });
    expect(await closed).toBe(4000);
    // The failed join left nothing behind: the session is in no room, the relay has no stream.
    const session = [...gateway.sessions.values()].find((s) => s.userId === 'cat')!;
    expect([...session.rooms]).toEqual([]);
    expect(gateway.relay.streamCount).toBe(0);
    // The gateway still serves others.
    store.failAddMember = false;
    const b = await client(url, 'dan');
    b.send({ op: Op.JoinRoom, d: { req: 1, room: 'x' } });
    await b.until((m) => m.op === Op.Dispatch && m.t === 'ROOM_JOINED');
    expect(gateway.status).toBe('listening');
  });

  it('/dev/token answers loopback peers only', async () => {
    const { gateway } = await listening({});
    const ask = (remoteAddress: string) =>
      new Promise<number>((resolve) => {
        const socket = new Socket();
        Object.defineProperty(socket, 'remoteAddress', { value: remoteAddress });
        const req = new IncomingMessage(socket);
        req.method = 'GET';
        req.url = '/dev/token?name=eve';
        req.headers = { host: '127.0.0.1:8080' };
        const res = new ServerResponse(req);
        res.end = ((..._args: unknown[]) => {
          resolve(res.statusCode);
          return res;
        }) as typeof res.end;
        (gateway as unknown as { http: { emit(e: string, ...a: unknown[]): void } }).http.emit(
          'request',
          req,
          res,
        );
      });
    expect(await ask('127.0.0.1')).toBe(200);
    expect(await ask('::1')).toBe(200);
    expect(await ask('203.0.113.7')).toBe(403);
    expect(await ask('10.0.0.2')).toBe(403);
  });
});
