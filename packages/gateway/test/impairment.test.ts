// The test-only impairment endpoint against a real gateway process.
import { encodeMediaFrame, MediaFlags, type DispatchMessage } from '@concord/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  RawClient,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';

const gateways: GatewayProcess[] = [];
afterAll(async () => {
  for (const gw of gateways) await gw.stop();
});

async function member(gw: GatewayProcess, user: string): Promise<{ c: RawClient; ssrc: number }> {
  const c = await RawClient.identified(
    gw.url,
    await mintToken(TEST_SECRET, { userId: user }),
    freshLoopback(),
  );
  await c.join('impaired');
  const reply = c.dispatches().find((m) => m.t === 'ROOM_JOINED') as DispatchMessage & {
    t: 'ROOM_JOINED';
  };
  return { c, ssrc: reply.d.participants.find((p) => p.userId === user)!.ssrc };
}

const http = async (
  gw: GatewayProcess,
  method: string,
  query = '',
  headers: Record<string, string> = { 'x-concord-test': '1' },
): Promise<Response> =>
  fetch(`http://127.0.0.1:${gw.port}/test/impairment${query}`, { method, headers });

describe('test impairment endpoint', () => {
  it('does not exist unless enabled', async () => {
    const gw = await startGateway();
    gateways.push(gw);
    expect((await http(gw, 'PUT', '?lossPct=100')).status).toBe(404);
  });

  it('answers only PUT/DELETE carrying x-concord-test: 1 (no cross-site form or link reaches it)', async () => {
    const gw = await startGateway(['--enable-test-impairment']);
    gateways.push(gw);
    expect((await http(gw, 'GET', '?lossPct=100')).status).toBe(405);
    expect((await http(gw, 'POST', '?lossPct=100')).status).toBe(405);
    expect((await http(gw, 'PUT', '?lossPct=100', {})).status).toBe(403);
    expect((await http(gw, 'DELETE', '', { 'x-concord-test': 'yes' })).status).toBe(403);
    const ok = await http(gw, 'PUT', '?lossPct=0&seed=3');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ impairment: { lossPct: 0 } });
  });

  it('drops every forwarded frame at 100 % loss, and nothing once cleared', async () => {
    const gw = await startGateway(['--enable-test-impairment']);
    gateways.push(gw);
    const a = await member(gw, 'sender');
    const b = await member(gw, 'listener');
    const send = (seq: number): void =>
      a.c.sendRaw(
        encodeMediaFrame(
          { ssrc: a.ssrc, seq, timestamp: seq * 960, flags: MediaFlags.Speech, level: 20 },
          new Uint8Array([1, 2, 3]),
        ),
      );
    expect(await (await http(gw, 'PUT', '?lossPct=100&jitterMs=0&seed=3')).json()).toEqual({
      impairment: { lossPct: 100, jitterMs: 0, seed: 3 },
    });
    for (let seq = 0; seq < 10; seq++) send(seq);
    expect((await http(gw, 'PUT', '?lossPct=500')).status).toBe(400);
    // Cleared: frames flow again (the ten sent under 100 % loss never arrive).
    expect((await http(gw, 'DELETE')).status).toBe(200);
    for (let seq = 10; seq < 15; seq++) send(seq);
    await waitUntil(() => b.c.media.length >= 5);
    expect(b.c.media.map((f) => Buffer.from(f).readUInt16BE(5))).toEqual([10, 11, 12, 13, 14]);
    a.c.cut();
    b.c.cut();
  });
});
