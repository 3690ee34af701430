// Identified idle connections across a gateway cluster: connections per second, gateway RSS and
// Redis memory per connection, heartbeat round trip (HEARTBEAT → ACK) p50/p99 while every
// connection beats at the announced interval. A real redis-server and CLUSTER_NODES (default 6)
// gateway processes with --redis; CLUSTER_CONNECTIONS (default 100,000) clients from forked
// workers (≤ 15,000 sockets each) over source addresses 127.0.0.2–9. Same-run baseline: one
// embedded gateway (no Redis) with the per-node share of connections.
// Run: npx tsc -b && npm run bench cluster/connections
import { loadavg } from 'node:os';
import { startGateway, type GatewayProcess } from '../../packages/gateway/test/harness.js';
import { RedisServer } from '../../packages/gateway/test/redisHarness.js';
import { percentile, report, round, type BenchRow } from '../lib/harness.js';
import {
  cpuPressurePct,
  forkWorker,
  requireGatewayBuild,
  rssBytes,
  sleep,
  SOURCE_ADDRESSES,
  type Worker,
} from '../gateway/proc.js';

const N = Math.max(1_000, Number(process.env['CLUSTER_CONNECTIONS'] ?? 100_000));
const G = Math.max(2, Number(process.env['CLUSTER_NODES'] ?? 6));
const PER_WORKER = 15_000;
const HEARTBEAT_MS = 15_000;
/** How long the workers may take to open their connections, s (CLUSTER_OPEN_TIMEOUT_S). */
const OPEN_TIMEOUT_MS = 1000 * Number(process.env['CLUSTER_OPEN_TIMEOUT_S'] ?? 240);
const SUITE_TIMEOUT_MS = 360_000 + 2 * OPEN_TIMEOUT_MS;

type Msg =
  | { type: 'started' }
  | { type: 'opened'; ready: number; failed: number; ms: number }
  | { type: 'stats'; rtts: number[]; open: number }
  | { type: 'error'; message: string };

const GATEWAY_ARGS = [
  '--insecure-dev-auth',
  '--max-connections',
  '19000',
  '--max-connections-per-ip',
  '1000000',
  '--max-connects-per-ip-per-minute',
  '100000000',
  '--heartbeat-interval-ms',
  String(HEARTBEAT_MS),
  '--webrtc',
  'off',
  '--log-level',
  'warn',
];

async function settledRss(pids: number[]): Promise<number[]> {
  let last = pids.map(rssBytes);
  for (let i = 0; i < 10; i++) {
    await sleep(1_000);
    const now = pids.map(rssBytes);
    const moved = now.some((v, k) => Math.abs(v - last[k]!) > last[k]! * 0.005);
    last = now;
    if (!moved) break;
  }
  return last;
}

async function redisUsedBytes(redis: RedisServer): Promise<number> {
  const c = redis.connect('bench');
  const info = await c.info('memory');
  c.disconnect();
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function openAll(workers: Worker<Msg>[], urls: string[], total: number, tag: string) {
  const share = Math.ceil(total / workers.length);
  const started = performance.now();
  workers.forEach((w, i) =>
    w.send({
      cmd: 'open',
      // Each worker starts on another node and address so load spreads evenly.
      urls: urls.map((_, k) => urls[(k + i) % urls.length]!),
      count: Math.max(0, Math.min(share, total - i * share)),
      userPrefix: `${tag}w${i}`,
      addresses: SOURCE_ADDRESSES.map(
        (_, k) => SOURCE_ADDRESSES[(k + i) % SOURCE_ADDRESSES.length]!,
      ),
      concurrency: 48,
      timeoutMs: OPEN_TIMEOUT_MS,
    }),
  );
  let ready = 0;
  let failed = 0;
  for (const w of workers) {
    const r = await w.next<Extract<Msg, { type: 'opened' }>>('opened', OPEN_TIMEOUT_MS + 60_000);
    ready += r.ready;
    failed += r.failed;
  }
  return { ready, failed, ms: performance.now() - started };
}

/** Heartbeat round trips over one full interval (every connection beats at least once). */
async function heartbeats(workers: Worker<Msg>[]) {
  for (const w of workers) w.send({ cmd: 'stats' });
  for (const w of workers) await w.next('stats', 30_000);
  await sleep(HEARTBEAT_MS + 2_000);
  const rtts: number[] = [];
  let open = 0;
  for (const w of workers) w.send({ cmd: 'stats' });
  for (const w of workers) {
    const s = await w.next<Extract<Msg, { type: 'stats' }>>('stats', 30_000);
    for (const x of s.rtts) rtts.push(x);
    open += s.open;
  }
  rtts.sort((a, b) => a - b);
  return {
    samples: rtts.length,
    open,
    p50: percentile(rtts, 0.5),
    p99: percentile(rtts, 0.99),
    max: rtts.at(-1) ?? Number.NaN,
  };
}

async function main(): Promise<void> {
  requireGatewayBuild();
  const killer = setTimeout(() => {
    console.error('cluster/connections: suite timeout');
    process.exit(1);
  }, SUITE_TIMEOUT_MS);
  killer.unref();
  const rows: BenchRow[] = [];
  const perNode = Math.ceil(N / G);
  const workerCount = Math.ceil(N / PER_WORKER);
  const workers: Worker<Msg>[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(forkWorker<Msg>('../cluster/connClient.ts'));
  for (const w of workers) await w.next('started', 30_000);

  // Same-run baseline: one embedded gateway with one node's share.
  const solo = await startGateway(GATEWAY_ARGS);
  const soloBefore = await settledRss([solo.child.pid!]);
  const soloOpen = await openAll(
    workers.slice(0, Math.ceil(perNode / PER_WORKER)),
    [solo.url],
    perNode,
    'solo',
  );
  const soloAfter = await settledRss([solo.child.pid!]);
  const soloBeats = await heartbeats(workers);
  for (const w of workers) await w.stop();
  await solo.stop('SIGKILL');
  console.log(`baseline: ${soloOpen.ready} on one embedded node, ${JSON.stringify(soloBeats)}`);

  const workers2: Worker<Msg>[] = [];
  for (let i = 0; i < workerCount; i++) workers2.push(forkWorker<Msg>('../cluster/connClient.ts'));
  for (const w of workers2) await w.next('started', 30_000);
  const redis = await RedisServer.start();
  const nodes: GatewayProcess[] = [];
  try {
    for (let i = 0; i < G; i++)
      nodes.push(await startGateway([...GATEWAY_ARGS, '--redis', redis.url, '--node-id', `b${i}`]));
    await sleep(2_500);
    const pids = nodes.map((n) => n.child.pid!);
    const before = await settledRss(pids);
    const redisBefore = await redisUsedBytes(redis);
    const opened = await openAll(
      workers2,
      nodes.map((n) => n.url),
      N,
      'cl',
    );
    const after = await settledRss(pids);
    const redisAfter = await redisUsedBytes(redis);
    console.log(
      `cluster: ${opened.ready} ready, ${opened.failed} failed in ${Math.round(opened.ms)} ms`,
    );
    const beats = await heartbeats(workers2);
    console.log(`cluster heartbeats: ${JSON.stringify(beats)}`);
    const rssPer = after.reduce((s, v, k) => s + v - before[k]!, 0) / Math.max(1, opened.ready);
    const soloRssPer = (soloAfter[0]! - soloBefore[0]!) / Math.max(1, soloOpen.ready);
    const common = { loadavg: loadavg()[0], cpuPressurePct: cpuPressurePct() };
    rows.push({
      name: 'cluster.connections.ready',
      median: opened.ready,
      unit: 'connections',
      goal: `>= ${N}`,
      met: opened.ready >= N,
      failed: opened.failed,
      nodes: G,
      stillOpenAfterHeartbeats: beats.open,
      ...common,
    });
    rows.push({
      name: 'cluster.connections.perSecond',
      median: round(opened.ready / (opened.ms / 1000), 0),
      unit: 'conn/s',
      baselineSoloSameRun: round(soloOpen.ready / (soloOpen.ms / 1000), 0),
      note: 'WebSocket upgrade + IDENTIFY + READY (session written to Redis); the fleet figure is 8,500/s per region',
    });
    rows.push({
      name: 'cluster.heartbeat.rtt',
      median: round(beats.p50, 2),
      p95: round(beats.p99, 2),
      unit: 'ms (p95 column = p99)',
      goal: 'p99 < 50 ms',
      met: beats.p99 < 50,
      p99: round(beats.p99, 2),
      max: round(beats.max, 1),
      samples: beats.samples,
      baselineSoloSameRun: {
        p50: round(soloBeats.p50, 2),
        p99: round(soloBeats.p99, 2),
        samples: soloBeats.samples,
        connections: soloOpen.ready,
      },
    });
    rows.push({
      name: 'cluster.memory.gatewayRssPerConnection',
      median: round(rssPer, 0),
      unit: 'bytes',
      baselineSoloSameRun: round(soloRssPer, 0),
      perNode: after.map((v, k) => round((v - before[k]!) / 1024 / 1024, 1)),
      perNodeUnit: 'MiB added',
    });
    rows.push({
      name: 'cluster.memory.redisPerConnection',
      median: round((redisAfter - redisBefore) / Math.max(1, opened.ready), 0),
      unit: 'bytes',
    });
  } finally {
    for (const w of workers2) await w.stop();
    for (const n of nodes) await n.stop('SIGKILL');
    await redis.destroy();
  }
  report('cluster-connections', rows, { connections: N, nodes: G, heartbeatMs: HEARTBEAT_MS });
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
