import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpImpairmentProxy } from './udpImpairment.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A UDP echo server on 127.0.0.1 at a free port (the "SFU"); resolves with the port. */
async function echoServer(): Promise<number> {
  const s: Socket = createSocket('udp4');
  s.on('message', (m, from) => s.send(m, from.port, from.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s.address().port;
}

/** A client sending `n` numbered datagrams to 127.0.0.2:`port`; resolves with what came back. */
async function roundTrips(port: number, n: number, settleMs = 300): Promise<number[]> {
  const c = createSocket('udp4');
  const got: number[] = [];
  c.on('message', (m) => got.push(m.readUInt32BE(0)));
  await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(i);
    c.send(b, port, '127.0.0.2');
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, settleMs));
  await new Promise<void>((r) => c.close(() => r()));
  return got;
}

async function proxyOn(port: number) {
  const proxy = await UdpImpairmentProxy.start({
    listenHost: '127.0.0.2',
    targetHost: '127.0.0.1',
    ports: { min: port, max: port },
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('UdpImpairmentProxy', () => {
  it('forwards both ways untouched when not impaired', async () => {
    const p = await echoServer();
    const proxy = await proxyOn(p);
    const got = await roundTrips(p, 200);
    expect(got).toEqual([...Array(200).keys()]);
    expect(proxy.stats).toMatchObject({ forwarded: 400, dropped: 0, flows: 1 });
  });

  it('drops about lossPct of the datagrams in each direction, repeatably for a seed', async () => {
    const p = await echoServer();
    const proxy = await proxyOn(p);
    proxy.impair({ lossPct: 5, seed: 7 });
    const got = await roundTrips(p, 2_000);
    // Both directions: 1 − 0.95² ≈ 9.75 % of round trips lost.
    const lost = 1 - got.length / 2_000;
    expect(lost).toBeGreaterThan(0.06);
    expect(lost).toBeLessThan(0.14);
    // What the proxy dropped (the kernel may drop a few more on a busy machine).
    expect(proxy.stats.dropped).toBeGreaterThan(0.06 * 2_000);
    expect(proxy.stats.dropped).toBeLessThan(0.14 * 2_000);
    expect(proxy.stats.dropped).toBeLessThanOrEqual(2_000 - got.length);
  });

  it('jitter delays and reorders; blackhole drops everything; undefined heals', async () => {
    const p = await echoServer();
    const proxy = await proxyOn(p);
    proxy.impair({ jitterMs: 20, delayMs: 20 });
    const t0 = Date.now();
    const got = await roundTrips(p, 300, 400);
    expect(got.length).toBe(300);
    expect(got.some((v, i) => i > 0 && v < got[i - 1]!)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThan(20);
    proxy.impair({ blackhole: true });
    expect(await roundTrips(p, 50)).toEqual([]);
    proxy.impair(undefined);
    expect((await roundTrips(p, 50)).length).toBe(50);
  });

  it('bounds flows and refuses bad settings', async () => {
    const p = await echoServer();
    const proxy = await UdpImpairmentProxy.start({
      listenHost: '127.0.0.2',
      targetHost: '127.0.0.1',
      ports: { min: p, max: p },
      maxFlows: 1,
    });
    cleanups.push(() => proxy.close());
    expect((await roundTrips(p, 10)).length).toBe(10);
    expect(await roundTrips(p, 10)).toEqual([]); // a second client address: over maxFlows
    expect(proxy.stats.overflow).toBe(10);
    expect(() => proxy.impair({ lossPct: 101 })).toThrow(RangeError);
    expect(() => proxy.impair({ jitterMs: -1 })).toThrow(RangeError);
    await expect(
      UdpImpairmentProxy.start({
        listenHost: '127.0.0.2',
        targetHost: '127.0.0.1',
        ports: { min: 10, max: 5 },
      }),
    ).rejects.toThrow(RangeError);
  });
});
