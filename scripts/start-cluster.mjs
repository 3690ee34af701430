// `npm run start:cluster`: a gateway cluster on this machine to try: Debian's redis-server on a
// fresh port and data directory, three gateway nodes (--redis) on free ports, and HAProxy in
// front with consistent hashing on the client address (http://127.0.0.1:8080 by default).
// Everything stops on Ctrl+C and the temporary directory is removed. Local use only: dev tokens
// are on (the example voice room works through the load balancer).
//
// Options (environment): CONCORD_PORT (load balancer port, default 8080),
// CONCORD_CLUSTER_NODES (node count, default 3). Extra arguments go to every node.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build, ensureNodeModules } from './ensure-install.mjs';
import { buildStaleness } from './freshness.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const lbPort = Number(process.env.CONCORD_PORT ?? 8080);
const nodeCount = Number(process.env.CONCORD_CLUSTER_NODES ?? 3);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 16) {
  console.error(`CONCORD_CLUSTER_NODES must be 1–16, got ${process.env.CONCORD_CLUSTER_NODES}`);
  process.exit(2);
}

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const missing = ['redis-server', 'haproxy'].filter((b) => !has(b));
if (missing.length > 0) {
  console.error(
    `start:cluster needs ${missing.join(' and ')} from Debian:\n\n  sudo apt-get install -y --no-install-recommends ${missing.join(' ')}\n`,
  );
  process.exit(2);
}

ensureNodeModules(root);
const stale = buildStaleness(root);
if (stale !== undefined) {
  console.log(`building: ${stale}`);
  build(root);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'concord-cluster-'));
const children = [];
let stopping = false;

/** Spawns a child whose output lines get a `[name]` prefix; resolves on the first line matching `ready`. */
function start(name, command, args, ready, options = {}) {
  // A process group of its own: Ctrl+C reaches this script only, which stops the children in
  // order (nodes drain while Redis and the balancer still run).
  const child = spawn(command, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...options,
  });
  children.push({ name, child });
  return new Promise((resolve, reject) => {
    let done = false;
    const onLine = (line) => {
      if (process.env.CONCORD_CLUSTER_QUIET !== '1' || !done) console.log(`[${name}] ${line}`);
      if (!done && ready.test(line)) {
        done = true;
        resolve(line);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code, signal) => {
      if (!done) reject(new Error(`${name} exited (${code ?? signal}) before it was ready`));
      else if (!stopping) console.log(`[${name}] exited (${code ?? signal})`);
    });
  });
}

async function stop(code) {
  if (stopping) return;
  stopping = true;
  // Nodes drain first (clients are told to reconnect), then the balancer and Redis.
  const byName = (prefix) => children.filter((c) => c.name.startsWith(prefix));
  const exit = ({ child }, signal) =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill(signal);
    });
  await Promise.all(byName('node').map((c) => exit(c, 'SIGTERM')));
  await Promise.all(byName('haproxy').map((c) => exit(c, 'SIGTERM')));
  await Promise.all(byName('redis').map((c) => exit(c, 'SIGTERM')));
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const redisPort = await freePort();
  // No persistence, noeviction: see packages/gateway/src/cluster/README.md ("Redis restart").
  await start(
    'redis',
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    /Ready to accept connections/,
  );
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  // One secret for every node: dev tokens and resume secrets verify on any of them.
  const env = { ...process.env, CONCORD_SECRET: randomBytes(32).toString('base64url') };
  const nodes = [];
  for (let i = 1; i <= nodeCount; i++) {
    const line = await start(
      `node${i}`,
      process.execPath,
      [
        'packages/gateway/dist/cli.js',
        '--port',
        '0',
        '--redis',
        redisUrl,
        '--node-id',
        `n${i}`,
        '--insecure-dev-auth',
        '--static',
        '/sdk/=packages/sdk/dist',
        '--static',
        '/=examples/voice-room',
        ...process.argv.slice(2),
      ],
      /"event":"listening"/,
      { env },
    );
    nodes.push({ id: `n${i}`, port: JSON.parse(line).port });
  }
  // HAProxy 2.6: consistent hashing of the client address over the nodes that answer
  // /healthz with 200 (a draining node answers 503 and gets nothing new).
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      // Two sockets per connection must fit the machine's 20,000 open files per process.
      '  maxconn 9000',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout tunnel 1h',
      '  option redispatch',
      '  retries 2',
      'frontend concord',
      `  bind 127.0.0.1:${lbPort}`,
      '  default_backend gateways',
      'backend gateways',
      '  balance source',
      '  hash-type consistent',
      '  option httpchk GET /healthz',
      '  http-check expect status 200',
      ...nodes.map((n) => `  server ${n.id} 127.0.0.1:${n.port} check inter 500ms fall 1 rise 2`),
      '',
    ].join('\n'),
  );
  // HAProxy prints nothing when all is well: ready once it answers through to a node.
  start('haproxy', 'haproxy', ['-db', '-f', cfg], /(?!)/).catch(() => undefined);
  const haproxy = children.at(-1).child;
  // HAProxy prints nothing when all is well: wait until it answers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${lbPort}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (haproxy.exitCode !== null) throw new Error('HAProxy exited: see its lines above');
    if (Date.now() > deadline) throw new Error(`HAProxy did not answer on port ${lbPort}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Every node sees every other (registry polls every second) before we say it is ready.
  for (const n of nodes) {
    for (;;) {
      const health = await (await fetch(`http://127.0.0.1:${n.port}/healthz`)).json();
      if (health.nodes === nodeCount) break;
      if (Date.now() > deadline + 10_000) throw new Error(`${n.id} does not see every node`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const lines = [
    '',
    `Concord cluster: ${nodeCount} nodes on Redis ${redisUrl}, HAProxy on http://127.0.0.1:${lbPort}/`,
    ...nodes.map(
      (n) =>
        `  ${n.id}: http://127.0.0.1:${n.port}/   drain: curl -X POST http://127.0.0.1:${n.port}/admin/drain`,
    ),
    '  Clients from one address hash to one node (balance source); concord-load spreads over 127.0.0.2–9.',
    '  Ctrl+C stops everything.',
    '',
  ];
  console.log(lines.join('\n'));
  console.log(JSON.stringify({ event: 'cluster-ready', port: lbPort, redis: redisUrl, nodes }));
} catch (err) {
  console.error(`start:cluster: ${err instanceof Error ? err.message : err}`);
  await stop(1);
}
