// Control-event fan-out in rooms of 10: delivery latency from a member's send to receipt at
// the other 9, at increasing aggregate update rates. Three servers in the same run, their load
// steps interleaved so machine noise hits all alike: the gateway with its 5 ms micro-batching
// window, the gateway with batching off, and a plain `ws` relay (baseline). Each mode steps up
// until it saturates; server CPU from /proc/<pid>/stat, client CPU from the workers.
// Run: npm run bench gateway/fanout   (see bench/README.md for the environment knobs)
import { loadavg, setPriority } from 'node:os';
import { startGateway, type GatewayProcess } from '../../packages/gateway/test/harness.js';
import { report, round, type BenchRow } from '../lib/harness.js';
import { BINS, histPercentile, robustP99, SUB_WINDOWS, type StepResult } from './fanoutShared.js';
import {
  cpuMs,
  cpuPressurePct,
  forkWorker,
  requireGatewayBuild,
  sleep,
  SOURCE_ADDRESSES,
  type Worker,
} from './proc.js';

const ROOM_SIZE = 10;
const CLIENTS = Math.max(20, Math.floor(Number(process.env['FANOUT_CLIENTS'] ?? 300) / 10) * 10);
const WORKERS_PER_MODE = 2;
/** Aggregate updates/s (each reaches the 9 other members of its room). */
const STEPS = [1_000, 2_000, 4_000, 6_000, 9_000, 13_000, 18_000, 25_000].filter(
  (s) => s <= Number(process.env['FANOUT_MAX_UPDATES'] ?? 25_000),
);
const P99_GOAL_MS = 20;
const VOICE_EVERY = 8; // every 8th update is a voice-state change, the rest SPEAKING toggles
const WARMUP_MS = 600;
const MEASURE_MS = 2_000;
const DRAIN_MS = 500;
const SUITE_BUDGET_MS = 170_000;
// Optional scheduling priority (nice value, e.g. -10 as root) for the gateways and client
// workers, so a busy shared machine disturbs the latency numbers less. Default: unchanged.
const NICE =
  process.env['FANOUT_NICE'] === undefined ? undefined : Number(process.env['FANOUT_NICE']);

/** Every mode under test, in step order (module-level so cleanup always sees them). */
const modes: Mode[] = [];

type WorkerMessage =
  | { type: 'started' }
  | { type: 'connected'; clients: number }
  | StepResult
  | { type: 'error'; message: string };

interface Mode {
  name: string;
  /** The server process under load. */
  pid: number;
  stopServer: () => Promise<void>;
  workers: Worker<WorkerMessage>[];
  rows: BenchRow[];
  done: boolean;
  /** Highest step such that it and all below met the latency goal. */
  best: BenchRow | undefined;
  /** Set once a step (after its retry) missed the latency goal. */
  latencyLost: boolean;
  /** Highest unsaturated step. */
  capacity: BenchRow | undefined;
  /** Like `best`, judged by the median of the sub-windows' p99. */
  robustBest?: BenchRow | undefined;
}

// Extra Node flags for the gateway processes (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`);
// when set, gateways get SIGTERM and time to exit instead of SIGKILL, so profiles are written.
const GATEWAY_NODE_OPTIONS = process.env['FANOUT_GATEWAY_NODE_OPTIONS'];

async function startGatewayMode(name: string, windowMs: number, tag: string): Promise<Mode> {
  const gw: GatewayProcess = await startGateway(
    [
      '--insecure-dev-auth',
      '--log-level',
      'silent',
      '--batch-window-ms',
      String(windowMs),
      '--max-connections-per-ip',
      '1000000',
      '--max-connects-per-ip-per-minute',
      '1000000',
      '--rate-limit-messages',
      '100000000',
      '--speaking-rate-limit-messages',
      '100000000',
      '--heartbeat-interval-ms',
      '3600000',
      '--drain-timeout-ms',
      '1000',
    ],
    GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: GATEWAY_NODE_OPTIONS } : {},
  );
  const stopServer = async () => {
    if (!GATEWAY_NODE_OPTIONS) {
      gw.child.kill('SIGKILL');
      return;
    }
    const killer = setTimeout(() => gw.child.kill('SIGKILL'), 15_000);
    await gw.stop('SIGTERM');
    clearTimeout(killer);
  };
  return startClients(name, gw.child.pid!, stopServer, gw.url, tag, false);
}

async function startPlainWsMode(name: string, tag: string): Promise<Mode> {
  const server = forkWorker<{ type: string; port: number }>('./wsBaselineServer.mjs', ['relay']);
  const { port } = await server.next<{ type: string; port: number }>('listening', 20_000);
  const stopServer = async () => {
    server.child.kill('SIGKILL');
  };
  return startClients(name, server.child.pid!, stopServer, `ws://127.0.0.1:${port}/`, tag, true);
}

async function startClients(
  name: string,
  pid: number,
  stopServer: () => Promise<void>,
  url: string,
  tag: string,
  raw: boolean,
): Promise<Mode> {
  const workers: Worker<WorkerMessage>[] = [];
  const mode: Mode = {
    name,
    pid,
    stopServer,
    workers,
    rows: [],
    done: false,
    best: undefined,
    latencyLost: false,
    capacity: undefined,
  };
  modes.push(mode); // registered first so that a failure below still cleans up
  for (let i = 0; i < WORKERS_PER_MODE; i++)
    workers.push(forkWorker<WorkerMessage>('./fanoutClient.ts'));
  await Promise.all(workers.map((w) => w.next('started', 20_000)));
  if (NICE !== undefined)
    for (const p of [pid, ...workers.map((w) => w.child.pid!)]) setPriority(p, NICE);
  const rooms = CLIENTS / ROOM_SIZE;
  workers.forEach((w, i) =>
    w.send({
      cmd: 'connect',
      url,
      rooms: Array.from({ length: rooms }, (_, r) => `room${r}`).filter(
        (_, r) => r % WORKERS_PER_MODE === i,
      ),
      membersPerRoom: ROOM_SIZE,
      userPrefix: `${tag}w${i}`,
      addresses: SOURCE_ADDRESSES.slice(i * 4, i * 4 + 4),
      raw,
    }),
  );
  await Promise.all(workers.map((w) => w.next('connected', 60_000)));
  return mode;
}

async function runStep(mode: Mode, updatesPerSec: number): Promise<BenchRow> {
  const pid = mode.pid;
  for (const w of mode.workers) {
    w.send({
      cmd: 'step',
      ratePerClient: updatesPerSec / CLIENTS,
      voiceEvery: VOICE_EVERY,
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      drainMs: DRAIN_MS,
    });
  }
  await sleep(WARMUP_MS);
  const cpu0 = cpuMs(pid);
  await sleep(MEASURE_MS);
  const serverCpuMs = cpuMs(pid) - cpu0;
  const results = await Promise.all(
    mode.workers.map((w) => w.next<StepResult>('stepDone', MEASURE_MS + DRAIN_MS + 10_000)),
  );
  const hist = new Array<number>(BINS + 1).fill(0);
  let expected = 0;
  let receivedCount = 0;
  let sent = 0;
  let clientCpuMs = 0;
  let framesIn = 0;
  let maxTickLagMs = 0;
  for (const r of results) {
    r.histogram.forEach((n, i) => (hist[i]! += n));
    expected += r.expected;
    receivedCount += r.received;
    sent += r.sent;
    clientCpuMs += r.cpuMs;
    framesIn += r.framesIn;
    maxTickLagMs = Math.max(maxTickLagMs, r.maxTickLagMs);
  }
  if (process.env['FANOUT_DEBUG'])
    console.log(
      mode.name,
      { expected, receivedCount, sent },
      [0.01, 0.1, 0.5, 0.9, 0.99].map((p) => histPercentile(hist, p)),
    );
  // Deliveries that never arrived count as beyond every percentile.
  hist[BINS]! += Math.max(0, expected - receivedCount);
  const { median: p99Robust, perWindow: subP99 } = robustP99(results, ROOM_SIZE - 1);
  const p50 = histPercentile(hist, 0.5);
  const p95 = histPercentile(hist, 0.95);
  const p99 = histPercentile(hist, 0.99);
  const seconds = MEASURE_MS / 1000;
  const deliveriesPerSec = Math.round(receivedCount / seconds);
  const finite = (x: number) => (Number.isFinite(x) ? round(x, 2) : null);
  return {
    name: `fanout.${mode.name}.${updatesPerSec}ups`,
    median: finite(p50) ?? Number.POSITIVE_INFINITY,
    p95: finite(p95) ?? Number.POSITIVE_INFINITY,
    p99: finite(p99),
    p99SubWindowMedian: finite(p99Robust),
    p99SubWindows: subP99.map(finite),
    unit: 'ms',
    goal: `p99 < ${P99_GOAL_MS} ms`,
    met: p99 < P99_GOAL_MS,
    metSubWindowMedian: p99Robust < P99_GOAL_MS,
    offeredUpdatesPerSec: updatesPerSec,
    updatesPerSec: Math.round(sent / seconds),
    deliveriesPerSec,
    lost: expected - receivedCount,
    framesPerDelivery: receivedCount > 0 ? round(framesIn / receivedCount, 3) : null,
    serverCpuPct: round((serverCpuMs / MEASURE_MS) * 100, 1),
    serverCpuUsPerDelivery:
      receivedCount > 0 ? round((serverCpuMs * 1000) / receivedCount, 2) : null,
    clientCpuPct: round((clientCpuMs / MEASURE_MS) * 100, 1),
    clientMaxTickLagMs: round(maxTickLagMs, 1),
    cpuPressurePct: cpuPressurePct(),
  };
}

function log(mode: Mode, row: BenchRow): void {
  console.log(
    `${mode.name} ${String(row['offeredUpdatesPerSec'])} updates/s: p50 ${row.median} ` +
      `p99 ${String(row['p99'])} ms (sub-window median ${String(row['p99SubWindowMedian'])}), ` +
      `${String(row['deliveriesPerSec'])} deliveries/s, ` +
      `server CPU ${String(row['serverCpuPct'])}%, clients ${String(row['clientCpuPct'])}%, ` +
      `client max tick lag ${String(row['clientMaxTickLagMs'])} ms`,
  );
}

const generatorLimited = (row: BenchRow): boolean =>
  (row['updatesPerSec'] as number) < (row['offeredUpdatesPerSec'] as number) * 0.9;

/** Median latency beyond which deliveries are queueing, not flowing. */
const QUEUEING_P50_MS = 50;

/**
 * Past capacity: deliveries queueing (p50 >= 50 ms), lost or late beyond the drain (> 0.5%),
 * server CPU-bound, or the generator could not offer the rate.
 */
const saturated = (row: BenchRow): boolean =>
  generatorLimited(row) ||
  !(row.median < QUEUEING_P50_MS) ||
  (row['lost'] as number) > (row['deliveriesPerSec'] as number) * (MEASURE_MS / 1000) * 0.005 ||
  (row['serverCpuPct'] as number) >= 95;

async function main(): Promise<void> {
  requireGatewayBuild();
  const started = performance.now();
  const stopAll = async () => {
    for (const m of modes.splice(0)) {
      await Promise.all(m.workers.map((w) => w.stop()));
      await m.stopServer();
    }
  };
  const guard = setTimeout(() => {
    console.error('fanout: suite exceeded its time budget, aborting');
    void stopAll().then(() => process.exit(1));
  }, SUITE_BUDGET_MS + 30_000);
  const allRows: BenchRow[] = [];
  try {
    await startGatewayMode('window5ms', 5, 'b');
    await startGatewayMode('windowOff', 0, 'o');
    await startPlainWsMode('plainWs', 'p');
    for (const updatesPerSec of STEPS) {
      for (const mode of modes) {
        if (mode.done) continue;
        if (performance.now() - started > SUITE_BUDGET_MS - 10_000) {
          mode.done = true;
          console.error(`fanout: time budget reached before ${updatesPerSec} updates/s`);
          continue;
        }
        let row = await runStep(mode, updatesPerSec);
        log(mode, row);
        // While the latency goal still holds, a step that misses it is tried once more: on a
        // shared VM a single ~100 ms stall (idle processes see it too) spoils a window's p99.
        // The same for a step that looks saturated: one retry before the mode stops.
        if ((!row.met && !mode.latencyLost) || saturated(row)) {
          row['retried'] = true;
          mode.rows.push(row);
          await sleep(300);
          row = await runStep(mode, updatesPerSec);
          row.name += '.retry';
          log(mode, row);
        }
        mode.rows.push(row);
        if (row.met && !mode.latencyLost) mode.best = row;
        else mode.latencyLost = true;
        // Past the latency goal, keep loading until saturation: the capacity is still worth
        // knowing (and is far less sensitive to stalls than a p99).
        if (!saturated(row)) mode.capacity = row;
        else {
          mode.done = true;
          row['note'] = generatorLimited(row)
            ? 'load generator could not offer this rate'
            : 'saturated: p50 >= 50 ms, deliveries lost or late beyond the drain, or server CPU >= 95%';
        }
      }
      if (modes.every((m) => m.done)) break;
      await sleep(300);
    }
    const [batched, unbatched, plain] = modes as [Mode, Mode, Mode];
    allRows.push(...batched.rows, ...unbatched.rows, ...plain.rows);
    const capped = (row: BenchRow | undefined) =>
      row !== undefined && row['offeredUpdatesPerSec'] === STEPS[STEPS.length - 1];
    const deliveries = (row: BenchRow | undefined) =>
      row ? (row['deliveriesPerSec'] as number) : 0;
    for (const m of modes) {
      allRows.push({
        name: `fanout.${m.name}.maxLoad`,
        median: deliveries(m.best),
        unit: 'deliveries/s with p99 < 20 ms',
        updatesPerSec: m.best?.['updatesPerSec'] ?? 0,
        p99: m.best?.['p99'] ?? null,
        serverCpuPct: m.best?.['serverCpuPct'] ?? null,
        reachedCap: capped(m.best),
        note: 'highest step such that it and every lower step had p99 < 20 ms (one retry each)',
      });
      allRows.push({
        name: `fanout.${m.name}.capacity`,
        median: deliveries(m.capacity),
        unit: 'deliveries/s before saturation',
        updatesPerSec: m.capacity?.['updatesPerSec'] ?? 0,
        p99: m.capacity?.['p99'] ?? null,
        serverCpuPct: m.capacity?.['serverCpuPct'] ?? null,
        reachedCap: capped(m.capacity),
        note: 'highest step with p50 < 50 ms, every delivery in time for the drain, server CPU < 95%',
      });
    }
    // The same with the stall-tolerant p99 (median of the sub-windows' p99), from the last try
    // of each step.
    const robustBest = (m: Mode): BenchRow | undefined => {
      let best: BenchRow | undefined;
      for (const ups of STEPS) {
        const row = m.rows.filter((r) => r['offeredUpdatesPerSec'] === ups).pop();
        if (!row || row['metSubWindowMedian'] !== true) break;
        best = row;
      }
      return best;
    };
    for (const m of modes) {
      const best = robustBest(m);
      m.robustBest = best;
      allRows.push({
        name: `fanout.${m.name}.maxLoad.subWindowP99`,
        median: deliveries(best),
        unit: 'deliveries/s with median sub-window p99 < 20 ms',
        updatesPerSec: best?.['updatesPerSec'] ?? 0,
        p99SubWindowMedian: best?.['p99SubWindowMedian'] ?? null,
        reachedCap: capped(best),
        note: `p99 of each of ${SUB_WINDOWS} sub-windows of the step, median of those: tolerates one VM stall`,
      });
    }
    const gain = (x: number, y: number) => (y > 0 ? round((x / y - 1) * 100, 1) : Number.NaN);
    const boundNote = (a?: BenchRow, b?: BenchRow) =>
      (capped(a) || capped(b) ? 'a mode reached the step cap: this is a bound; ' : '') +
      'Discord profile: +180%';
    allRows.push({
      name: 'fanout.batchingGain',
      median: gain(deliveries(batched.best), deliveries(unbatched.best)),
      unit: '% more deliveries/s at p99 < 20 ms (5 ms window vs off)',
      note: boundNote(batched.best, unbatched.best),
    });
    allRows.push({
      name: 'fanout.batchingGain.subWindowP99',
      median: gain(deliveries(batched.robustBest), deliveries(unbatched.robustBest)),
      unit: '% more deliveries/s at median sub-window p99 < 20 ms (5 ms window vs off)',
      note: boundNote(batched.robustBest, unbatched.robustBest),
    });
    allRows.push({
      name: 'fanout.batchingGain.capacity',
      median: gain(deliveries(batched.capacity), deliveries(unbatched.capacity)),
      unit: '% more deliveries/s before saturation (5 ms window vs off)',
      note: boundNote(batched.capacity, unbatched.capacity),
    });
    // Server CPU per delivery at the highest load neither gateway mode saturated: the cost
    // side of batching, measurable even when stalls spoil the latency percentiles.
    const lastAt = (m: Mode, ups: number) =>
      m.rows.filter((r) => r['offeredUpdatesPerSec'] === ups && !saturated(r)).pop();
    const commonStep = [...STEPS]
      .reverse()
      .find((ups) => lastAt(batched, ups) && lastAt(unbatched, ups));
    if (commonStep !== undefined) {
      const bRow = lastAt(batched, commonStep)!;
      const oRow = lastAt(unbatched, commonStep)!;
      const pRow = lastAt(plain, commonStep);
      allRows.push({
        name: 'fanout.serverCpuPerDelivery',
        median: bRow['serverCpuUsPerDelivery'] as number,
        unit: 'us server CPU/delivery (5 ms window)',
        batchingOff: oRow['serverCpuUsPerDelivery'],
        plainWs: pRow?.['serverCpuUsPerDelivery'] ?? null,
        atUpdatesPerSec: commonStep,
        framesPerDelivery: bRow['framesPerDelivery'],
        framesPerDeliveryBatchingOff: oRow['framesPerDelivery'],
        baseline: 'plain ws fan-out: ~5 us server CPU per forwarded message (ENVIRONMENT.md)',
      });
    }
  } finally {
    clearTimeout(guard);
    await stopAll();
  }
  report('gateway-fanout', allRows, {
    clients: CLIENTS,
    roomSize: ROOM_SIZE,
    clientProcessesPerMode: WORKERS_PER_MODE,
    voiceEvery: VOICE_EVERY,
    stepMs: { warmup: WARMUP_MS, measure: MEASURE_MS, drain: DRAIN_MS },
    loadAverageAtStart: loadavg(),
    cpuPressurePctAtEnd: cpuPressurePct(),
    nice: NICE ?? 'unchanged',
    elapsedMs: Math.round(performance.now() - started),
    baseline:
      'plain ws 8.23 here: p99 < 3 ms up to 250 clients at 50 msg/s each; ceiling ~135-160k forwarded msg/s',
  });
}

await main();
