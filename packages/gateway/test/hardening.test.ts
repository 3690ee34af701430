// The gateway process against hostile or careless input outside the protocol: origins, dev
// mode, admission before the handshake, HTTP timeouts, the static file server, large rooms and
// settings that contradict each other.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloseCode, Op } from '@concord/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  CLI,
  freshLoopback,
  httpGet,
  metricValue,
  RawClient,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';

const token = (userId: string, name?: string): Promise<string> =>
  mintToken(TEST_SECRET, name ? { userId, name } : { userId });

const gateways: GatewayProcess[] = [];
const clients: RawClient[] = [];
afterAll(async () => {
  for (const c of clients) c.cut();
  for (const g of gateways) await g.stop('SIGKILL');
});

async function gateway(args: string[] = [], env: Record<string, string> = {}) {
  const gw = await startGateway(args, env);
  gateways.push(gw);
  return gw;
}

/** Runs the CLI to completion; resolves with its exit code and output. */
function runCli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Number of open file descriptors of a process (Linux). */
const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

describe('origins', () => {
  it('refuses a foreign Origin before the handshake (403); own origin, allowed ones and no Origin pass', async () => {
    const gw = await gateway(['--allowed-origins', 'https://app.example.com']);
    await expect(
      RawClient.connect(gw.url, undefined, { Origin: 'https://evil.example.net' }),
    ).rejects.toThrow(/403/);
    const own = await RawClient.connect(gw.url, undefined, {
      Origin: `http://127.0.0.1:${gw.port}`,
    });
    const listed = await RawClient.connect(gw.url, undefined, {
      Origin: 'https://app.example.com',
    });
    const bot = await RawClient.connect(gw.url);
    clients.push(own, listed, bot);
    for (const c of [own, listed, bot]) await c.waitFor((m) => m.op === Op.Hello);
    const { body } = await httpGet(gw, '/metrics');
    expect(metricValue(body, 'concord_upgrades_refused_total', 'reason="origin"')).toBe(1);
  });

  it('in dev mode also lets loopback origins in, and refuses a rebinding Host', async () => {
    const gw = await gateway(['--insecure-dev-auth']);
    const local = await RawClient.connect(gw.url, undefined, { Origin: 'http://localhost:5173' });
    clients.push(local);
    await local.waitFor((m) => m.op === Op.Hello);
    await expect(
      RawClient.connect(gw.url, undefined, { Origin: 'https://evil.example.net' }),
    ).rejects.toThrow(/403/);
    // DNS rebinding: a foreign name resolved to 127.0.0.1 arrives with that name as Host.
    await expect(
      RawClient.connect(gw.url, undefined, { Host: `evil.example.net:${gw.port}` }),
    ).rejects.toThrow(/403/);
    // fetch() may not set Host: a plain HTTP request can.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: gw.port,
          path: '/dev/token?name=x',
          headers: { Host: `evil.example.net:${gw.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});

describe('dev mode', () => {
  it('refuses to start on a non-loopback address unless the loud override is given', async () => {
    const refused = await runCli(['--insecure-dev-auth', '--host', '0.0.0.0', '--port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/loopback/);
    expect(refused.out).toMatch(/--dangerously-allow-dev-auth-on-network/);
    const allowed = await gateway([
      '--insecure-dev-auth',
      '--host',
      '0.0.0.0',
      '--dangerously-allow-dev-auth-on-network',
    ]);
    expect((await httpGet(allowed, '/healthz')).status).toBe(200);
  });

  it('/dev/token mints tokens that work in dev mode and fail once dev mode is off', async () => {
    const dev = await gateway(['--insecure-dev-auth']);
    const res = await fetch(`http://127.0.0.1:${dev.port}/dev/token?name=Dora`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { token: devToken, userId } = (await res.json()) as { token: string; userId: string };
    expect(userId).toBe('dora');
    const c = await RawClient.identified(dev.url, devToken);
    clients.push(c);
    expect(c.received.find((m) => m.op === Op.Ready)).toMatchObject({
      d: { user: { id: 'dora' } },
    });
    // Same secret, dev mode off: the dev token is refused.
    const prod = await gateway();
    expect((await httpGet(prod, '/dev/token?name=Dora')).status).toBe(404);
    const p = await RawClient.connect(prod.url);
    clients.push(p);
    await p.waitFor((m) => m.op === Op.Hello);
    p.identify(devToken);
    expect(await p.closed()).toBe(CloseCode.AUTHENTICATION_FAILED);
    p.cut();
    const plain = await RawClient.connect(prod.url);
    clients.push(plain);
    await plain.waitFor((m) => m.op === Op.Hello);
    plain.identify('dev:dora');
    expect(await plain.closed()).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('never logs session ids or resume secrets at info', async () => {
    const gw = await gateway(['--insecure-dev-auth']);
    const c = await RawClient.identified(gw.url, 'dev:logcheck');
    clients.push(c);
    c.close();
    await c.closed();
    await waitUntil(() => gw.logs.some((l) => l.includes('connection closed')), 5_000);
    const text = gw.logs.join('\n');
    expect(text).toContain('session ready');
    expect(text).not.toContain(c.sessionId);
    expect(text).not.toContain(c.resumeSecret);
  });
});

describe('admission before the handshake', () => {
  it('caps connections globally (503) and the connect rate per address (429)', async () => {
    const gw = await gateway([
      '--max-connections',
      '3',
      '--max-connects-per-ip-per-minute',
      '1000',
    ]);
    const held = await Promise.all([0, 1, 2].map(() => RawClient.connect(gw.url, freshLoopback())));
    clients.push(...held);
    await expect(RawClient.connect(gw.url, freshLoopback())).rejects.toThrow(/503/);

    const rated = await gateway(['--max-connects-per-ip-per-minute', '4']);
    const address = freshLoopback();
    for (let i = 0; i < 4; i++) {
      const c = await RawClient.connect(rated.url, address);
      c.cut();
    }
    await expect(RawClient.connect(rated.url, address)).rejects.toThrow(/429/);
    // Another address is not affected.
    const other = await RawClient.connect(rated.url, freshLoopback());
    clients.push(other);
    const { body } = await httpGet(rated, '/metrics');
    expect(metricValue(body, 'concord_upgrades_refused_total', 'reason="connect-rate"')).toBe(1);
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const gw = await gateway(['--trusted-proxies', '127.0.0.0/8', '--max-connections-per-ip', '1']);
    // Through the "proxy": two clients with different forwarded addresses both get in.
    const a = await RawClient.connect(gw.url, undefined, { 'X-Forwarded-For': '198.51.100.1' });
    const b = await RawClient.connect(gw.url, undefined, { 'X-Forwarded-For': '198.51.100.2' });
    clients.push(a, b);
    // A third claiming the first one's address is counted as that address.
    await expect(
      RawClient.connect(gw.url, undefined, { 'X-Forwarded-For': '203.0.113.9, 198.51.100.1' }),
    ).rejects.toThrow(/429/);
    const untrusted = await gateway(['--max-connections-per-ip', '1']);
    const c = await RawClient.connect(untrusted.url, '127.0.0.77', {
      'X-Forwarded-For': '198.51.100.1',
    });
    clients.push(c);
    // The header is ignored: the second socket from 127.0.0.77 is over the cap.
    await expect(
      RawClient.connect(untrusted.url, '127.0.0.77', { 'X-Forwarded-For': '198.51.100.2' }),
    ).rejects.toThrow(/429/);
  });

  it('drops a client that trickles its request headers (slowloris) after the headers timeout', async () => {
    const gw = await gateway(['--http-headers-timeout-ms', '500']);
    const socket: Socket = netConnect(gw.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    const started = Date.now();
    socket.write('GET /healthz HTTP/1.1\r\n');
    const drip = setInterval(() => socket.write('X-Drip: 1\r\n'), 100);
    await waitUntil(() => closed, 5_000);
    clearInterval(drip);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('endpoints', () => {
  it('/metrics requires the bearer token when one is configured; /healthz stays open', async () => {
    const gw = await gateway(['--metrics-token', 'scrape-me']);
    expect((await httpGet(gw, '/metrics')).status).toBe(401);
    const wrong = await fetch(`http://127.0.0.1:${gw.port}/metrics`, {
      headers: { Authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`http://127.0.0.1:${gw.port}/metrics`, {
      headers: { Authorization: 'Bearer scrape-me' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('concord_connections');
    expect((await httpGet(gw, '/healthz')).status).toBe(200);
  });
});

describe('static files', () => {
  it('serves with isolation headers and nosniff, hides dotfiles and escapes, survives unreadable files and aborted downloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'concord-static-'));
    writeFileSync(join(dir, 'index.html'), '<h1>hi</h1>');
    writeFileSync(join(dir, '.env'), 'SECRET=1');
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    symlinkSync('/etc/passwd', join(dir, 'passwd'));
    // A unix socket passes stat() but cannot be opened as a file.
    const sock = createNetServer().listen(join(dir, 'weird.sock'));
    await new Promise((r) => sock.once('listening', r));
    try {
      const gw = await gateway(['--static', `/=${dir}`]);
      const index = await fetch(`http://127.0.0.1:${gw.port}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toBe('<h1>hi</h1>');
      expect(index.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(index.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(index.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(index.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await httpGet(gw, '/.env')).status).toBe(404);
      expect((await httpGet(gw, '/../../etc/passwd')).status).toBe(404);
      expect((await httpGet(gw, '/%2e%2e/%2e%2e/etc/hostname')).status).toBeGreaterThanOrEqual(400);
      const weird = await httpGet(gw, '/weird.sock');
      expect(weird.status).toBeGreaterThanOrEqual(400);
      const pid = gw.child.pid!;
      const before = fdCount(pid);
      for (let i = 0; i < 40; i++) {
        const controller = new AbortController();
        const res = await fetch(`http://127.0.0.1:${gw.port}/big.bin`, {
          signal: controller.signal,
        });
        const reader = res.body!.getReader();
        await reader.read();
        controller.abort();
      }
      await waitUntil(() => fdCount(pid) <= before + 5, 5_000);
      expect((await httpGet(gw, '/healthz')).status).toBe(200);
    } finally {
      sock.close();
    }
  });
});

describe('large rooms and settings', () => {
  it(
    'pages the member list of a full room with long names; no frame passes the limit and nothing crashes',
    {
      timeout: 120_000,
    },
    async () => {
      const N = 200;
      const gw = await gateway([
        '--max-participants-per-room',
        String(N),
        '--max-frame-bytes',
        String(64 * 1024),
        '--max-decompressed-bytes',
        String(64 * 1024),
        '--compression-threshold-bytes',
        '0',
        '--max-connections-per-ip',
        '1000',
        '--max-connects-per-ip-per-minute',
        '1000',
      ]).catch((err: unknown) => {
        throw err;
      });
      const longId = (i: number) => `${'\u00e9'.repeat(120)}-${String(i).padStart(4, '0')}`;
      const longName = '\u20ac'.repeat(64);
      const members: RawClient[] = [];
      for (let i = 0; i < N - 1; i++) {
        const c = await RawClient.identified(gw.url, await token(longId(i), longName));
        await c.join('full');
        members.push(c);
        // Nobody keeps the backlog of joins: each reads, the gateway's queues stay small.
      }
      clients.push(...members);
      const last = await RawClient.identified(gw.url, await token(longId(N), longName));
      clients.push(last);
      const frames: number[] = [];
      last.ws.on('message', (data: Buffer) => frames.push(data.length));
      await last.join('full');
      const ds = last.dispatches();
      const pages = ds.filter((d) => d.t === 'ROOM_PARTICIPANTS');
      const joined = ds.find((d) => d.t === 'ROOM_JOINED');
      expect(pages.length).toBeGreaterThan(1);
      const everyone = [
        ...pages.flatMap((p) => (p.t === 'ROOM_PARTICIPANTS' ? p.d.participants : [])),
        ...(joined?.t === 'ROOM_JOINED' ? joined.d.participants : []),
      ];
      expect(everyone).toHaveLength(N);
      expect(new Set(everyone.map((p) => p.userId)).size).toBe(N);
      expect(Math.max(...frames)).toBeLessThanOrEqual(64 * 1024);
      expect((await httpGet(gw, '/healthz')).status).toBe(200);
    },
  );

  it('refuses contradictory size settings at start-up with a message naming them', async () => {
    const tooBig = await runCli(['--max-participants-per-room', '5000'], {
      CONCORD_SECRET: TEST_SECRET,
    });
    expect(tooBig.code).toBe(2);
    expect(tooBig.out).toMatch(/maxOutboundBytes .* must be >= .*maxParticipantsPerRoom/);
    const tinyFrames = await runCli(['--max-frame-bytes', '4096'], { CONCORD_SECRET: TEST_SECRET });
    expect(tinyFrames.code).toBe(2);
    expect(tinyFrames.out).toMatch(/limits.maxFrameBytes/);
  });
});
