// Idle connections: gateway RSS per identified idle connection, session state included.
// A real gateway process; N clients (IDLE_CONNECTIONS, default 10,000) opened from forked
// worker processes over source addresses 127.0.0.2–9; RSS from /proc/<pid>/status before,
// at N/2 and at N. Run: npm run bench gateway/idle   (IDLE_CONNECTIONS=19000 for more)
import { loadavg } from 'node:os';
import { startGateway, type GatewayProcess } from '../../packages/gateway/test/harness.js';
import { report, round, type BenchRow } from '../lib/harness.js';
import {
  forkWorker,
  requireGatewayBuild,
  rssBytes,
  sleep,
  SOURCE_ADDRESSES,
  type Worker,
} from './proc.js';

const GOAL_BYTES = 8 * 1024;
// One gateway process holds at most ~19k sockets (20,000 open files per process).
const N = Math.min(19_000, Math.max(100, Number(process.env['IDLE_CONNECTIONS'] ?? 10_000)));
const PER_WORKER = 4_000; // well under 19k sockets per client process
const SUITE_TIMEOUT_MS = 240_000;
// Extra Node flags for the gateway process, e.g. `--max-semi-space-size=1` to see how much of
// the RSS is young-generation headroom rather than per-connection state.
const nodeOptions = process.env['IDLE_GATEWAY_NODE_OPTIONS'] ?? '';

type WorkerMessage =
  | { type: 'started' }
  | { type: 'opened'; ready: number; failed: number; skipped: number }
  | { type: 'error'; message: string };

/** Median of `count` RSS samples `gapMs` apart. */
async function sampleRss(pid: number, count = 5, gapMs = 200): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < count; i++) {
    xs.push(rssBytes(pid));
    await sleep(gapMs);
  }
  return xs.sort((a, b) => a - b)[Math.floor(count / 2)]!;
}

/** Waits until RSS moves less than 0.5% over 1 s (at most `maxMs`), then samples it. */
async function settledRss(pid: number, maxMs = 10_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = rssBytes(pid);
  while (Date.now() < deadline) {
    await sleep(1_000);
    const now = rssBytes(pid);
    if (Math.abs(now - last) < last * 0.005) break;
    last = now;
  }
  return sampleRss(pid);
}

async function heapUsedBytes(gw: GatewayProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function openOn(
  workers: Worker<WorkerMessage>[],
  url: string,
  total: number,
  tag: string,
  identify = true,
) {
  const share = Math.ceil(total / workers.length);
  workers.forEach((w, i) =>
    w.send({
      cmd: 'open',
      url,
      count: Math.min(share, total - i * share),
      userPrefix: `idle${tag}w${i}`,
      // Each worker starts on a different address so they spread evenly.
      addresses: SOURCE_ADDRESSES.map(
        (_, k) => SOURCE_ADDRESSES[(k + i) % SOURCE_ADDRESSES.length]!,
      ),
      concurrency: 64,
      timeoutMs: 60_000,
      identify,
    }),
  );
  const results = await Promise.all(
    workers.map((w) => w.next<Extract<WorkerMessage, { type: 'opened' }>>('opened', 70_000)),
  );
  return {
    ready: results.reduce((s, r) => s + r.ready, 0),
    failed: results.reduce((s, r) => s + r.failed + r.skipped, 0),
  };
}

interface Measurement {
  rss0: number;
  rssHalf: number;
  rssN: number;
  ready: number;
  failed: number;
  secondHalfReady: number;
  openMs: number;
  workerCount: number;
}

/** Opens N idle connections to `url` from fresh worker processes and samples `pid`'s RSS. */
async function measure(
  pid: number,
  url: string,
  identify: boolean,
  workers: Worker<WorkerMessage>[],
  onBeforeOpen: () => Promise<void> = async () => {},
): Promise<Measurement> {
  const workerCount = Math.max(2, Math.ceil(N / PER_WORKER));
  for (let i = 0; i < workerCount; i++) workers.push(forkWorker<WorkerMessage>('./idleClient.ts'));
  await Promise.all(workers.map((w) => w.next('started', 20_000)));
  await sleep(1_000);
  const rss0 = await sampleRss(pid);
  await onBeforeOpen();
  const half = Math.floor(N / 2);
  const tag = identify ? 'c' : 'p';
  const t0 = performance.now();
  const a = await openOn(workers, url, half, `${tag}a`, identify);
  let openMs = performance.now() - t0;
  const rssHalf = await settledRss(pid);
  const t1 = performance.now();
  const b = await openOn(workers, url, N - half, `${tag}b`, identify);
  openMs += performance.now() - t1;
  const rssN = await settledRss(pid);
  return {
    rss0,
    rssHalf,
    rssN,
    ready: a.ready + b.ready,
    failed: a.failed + b.failed,
    secondHalfReady: b.ready,
    openMs,
    workerCount,
  };
}

const perConnection = (m: Measurement) => (m.rssN - m.rss0) / m.ready;
const slopePerConnection = (m: Measurement) => (m.rssN - m.rssHalf) / m.secondHalfReady;

async function main(): Promise<void> {
  requireGatewayBuild();
  const workers: Worker<WorkerMessage>[] = [];
  const children: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];
  const killAll = async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    for (const c of children.splice(0)) c.kill('SIGKILL');
  };
  const guard = setTimeout(() => {
    console.error(`idle: suite exceeded ${SUITE_TIMEOUT_MS} ms, aborting`);
    void killAll().then(() => process.exit(1));
  }, SUITE_TIMEOUT_MS);
  try {
    // 1. The Concord gateway: identified sessions.
    const gw = await startGateway(
      [
        '--insecure-dev-auth',
        '--log-level',
        'silent',
        '--max-connections-per-ip',
        '1000000',
        '--max-connects-per-ip-per-minute',
        '1000000',
        '--heartbeat-interval-ms',
        '3600000',
        '--identify-timeout-ms',
        '60000',
      ],
      nodeOptions ? { NODE_OPTIONS: nodeOptions } : {},
    );
    children.push(gw.child);
    let heap0 = 0;
    const g = await measure(gw.child.pid!, gw.url, true, workers, async () => {
      heap0 = await heapUsedBytes(gw);
    });
    const heapN = await heapUsedBytes(gw);
    await killAll();

    // 2. Same-run baseline: plain `ws` server, same clients (no protocol).
    const base = forkWorker<{ type: string; port: number }>('./wsBaselineServer.mjs');
    children.push(base.child);
    const { port } = await base.next<{ type: string; port: number }>('listening', 20_000);
    const p = await measure(base.child.pid!, `ws://127.0.0.1:${port}/`, false, workers);
    await killAll();

    const perConn = perConnection(g);
    const slope = slopePerConnection(g);
    const kib = (bytes: number) => round(bytes / 1024, 2);
    const rows: BenchRow[] = [
      {
        name: 'idle.rssPerConnection',
        median: kib(perConn),
        unit: 'KiB/connection',
        goal: '<= 8 KiB',
        met: perConn <= GOAL_BYTES,
        connections: g.ready,
        failed: g.failed,
        rssBeforeMiB: round(g.rss0 / 2 ** 20, 1),
        rssAfterMiB: round(g.rssN / 2 ** 20, 1),
        plainWsSameRun: kib(perConnection(p)),
        note: '(RSS_after - RSS_before) / N, identified sessions, idle',
      },
      {
        name: 'idle.rssPerConnection.slope',
        median: kib(slope),
        unit: 'KiB/connection',
        goal: '<= 8 KiB',
        met: slope <= GOAL_BYTES,
        plainWsSameRun: kib(slopePerConnection(p)),
        note: '(RSS_N - RSS_N/2) / (N/2): marginal cost without one-time heap growth',
      },
      {
        name: 'idle.plainWs.rssPerConnection',
        median: kib(perConnection(p)),
        unit: 'KiB/connection',
        connections: p.ready,
        failed: p.failed,
        slope: kib(slopePerConnection(p)),
        note: 'same-run baseline: plain ws server, same clients, no protocol',
      },
      {
        name: 'idle.heapUsedPerConnection',
        median: kib((heapN - heap0) / g.ready),
        unit: 'KiB/connection',
        note: 'nodejs_heap_size_used_bytes from /metrics (JS heap only, no GC forced)',
      },
      {
        name: 'idle.connectRate',
        median: Math.round(g.ready / (g.openMs / 1000)),
        unit: 'connections/s',
        plainWsSameRun: Math.round(p.ready / (p.openMs / 1000)),
        note: 'connect + HELLO + IDENTIFY + READY, 64 in flight per client process',
      },
    ];
    report('gateway-idle', rows, {
      connections: N,
      clientProcesses: g.workerCount,
      sourceAddresses: SOURCE_ADDRESSES,
      loadAverageAtStart: loadavg(),
      gatewayNodeOptions: nodeOptions,
      baseline: 'plain ws 8.23 on this machine: ~5-7 KiB per idle connection (ENVIRONMENT.md)',
    });
  } finally {
    clearTimeout(guard);
    await killAll();
  }
}

await main();
