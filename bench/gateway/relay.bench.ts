// Media relay throughput (issue 5, "Relay"): forwarded media frames per second of one gateway
// process (one core: Node's main thread) at p99 delivery latency ≤ 20 ms, in rooms of 10 members
// of which 3 speak (20 ms frames, 80-byte payloads like 32 kbps Opus, so 3 × 50 × 9 = 1,350
// forwards/s per room), with the number of rooms rising step by step. Same-run baseline: a plain
// `ws` server forwarding the very same frames to the other members of the room
// (`wsBaselineServer.mjs relay`). The two servers' steps are interleaved so machine noise hits
// both alike. Latency: the send time is in the payload (same machine clock); server CPU from
// /proc/<pid>/stat, client CPU from the workers.
// Run: npm run bench gateway/relay   (build first: npx tsc -b; knobs in bench/README.md)
import { loadavg, setPriority } from 'node:os';
import { startGateway } from '../../packages/gateway/test/harness.js';
import { report, round, type BenchRow } from '../lib/harness.js';
import { BINS, histPercentile, robustP99 } from './fanoutShared.js';
import {
  cpuMs,
  cpuPressurePct,
  forkWorker,
  requireGatewayBuild,
  sleep,
  SOURCE_ADDRESSES,
  type Worker,
} from './proc.js';
import type { RelayStepResult } from './relayShared.js';

const ROOM_SIZE = 10;
const SPEAKERS_PER_ROOM = 3;
const FRAME_MS = 20;
/** Opus payload bytes: 32 kbps × 20 ms = 80 B (WebCodecs Opus here: ~85 B, ENVIRONMENT.md). */
const PAYLOAD_BYTES = 80;
const FORWARDS_PER_ROOM = SPEAKERS_PER_ROOM * (1000 / FRAME_MS) * (ROOM_SIZE - 1);
/** Active rooms per step (1,350 forwards/s each): 6.75k … 175.5k forwards/s; finer at the low end, where the shared VM's knee has been. */
const ROOM_STEPS = [5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 110, 130].filter(
  (r) => r <= Number(process.env['RELAY_MAX_ROOMS'] ?? 130),
);
const MAX_ROOMS = ROOM_STEPS[ROOM_STEPS.length - 1]!;
const WORKERS_PER_MODE = Math.max(1, Number(process.env['RELAY_WORKERS'] ?? 3));
const P99_GOAL_MS = 20;
const RATIO_GOAL_PCT = 80;
const WARMUP_MS = 500;
const MEASURE_MS = 2_000;
const DRAIN_MS = 400;
const SUITE_BUDGET_MS = 170_000;
/** Optional nice value (e.g. -10 as root) for servers and client workers. Default: unchanged. */
const NICE =
  process.env['RELAY_NICE'] === undefined ? undefined : Number(process.env['RELAY_NICE']);

type WorkerMessage =
  | { type: 'started' }
  | { type: 'connected'; clients: number }
  | RelayStepResult
  | { type: 'error'; message: string };

interface Mode {
  name: string;
  pid: number;
  stop: () => Promise<void>;
  /** Gateway only: media frames dropped so far by reason (from /metrics). */
  drops?: () => Promise<Record<string, number>>;
  workers: Worker<WorkerMessage>[];
  /** Room names per worker, in step order (active rooms of a step = a prefix). */
  roomsOf: string[][];
  rows: BenchRow[];
  done: boolean;
}

const modes: Mode[] = [];

async function startConcord(): Promise<Mode> {
  const gw = await startGateway([
    '--insecure-dev-auth',
    '--log-level',
    'silent',
    '--max-speakers',
    String(SPEAKERS_PER_ROOM),
    // 50 frames/s per stream; the limit is raised so client send-clock catch-up after a
    // stall on the loaded VM is not dropped (the limiter itself still runs on every frame).
    '--media-rate-limit-fps',
    '1000',
    '--media-burst-frames',
    '1000',
    '--max-connections-per-ip',
    '1000000',
    '--max-connects-per-ip-per-minute',
    '1000000',
    '--rate-limit-messages',
    '100000000',
    '--heartbeat-interval-ms',
    '3600000',
    '--drain-timeout-ms',
    '1000',
  ]);
  const drops = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(
      /^concord_media_frames_dropped_total\{reason="(\w+)"\} ([\d.e+]+)$/gm,
    ))
      out[m[1]!] = Number(m[2]);
    return out;
  };
  return startClients('concord', gw.child.pid!, async () => void gw.child.kill('SIGKILL'), {
    url: gw.url,
    raw: false,
    tag: 'c',
    drops,
  });
}

async function startPlainWs(): Promise<Mode> {
  const server = forkWorker<{ type: string; port: number }>('./wsBaselineServer.mjs', ['relay']);
  const { port } = await server.next<{ type: string; port: number }>('listening', 20_000);
  return startClients('plainWs', server.child.pid!, async () => void server.child.kill('SIGKILL'), {
    url: `ws://127.0.0.1:${port}/`,
    raw: true,
    tag: 'p',
  });
}

async function startClients(
  name: string,
  pid: number,
  stop: () => Promise<void>,
  o: { url: string; raw: boolean; tag: string; drops?: Mode['drops'] },
): Promise<Mode> {
  const workers: Worker<WorkerMessage>[] = [];
  const roomsOf: string[][] = Array.from({ length: WORKERS_PER_MODE }, () => []);
  for (let r = 0; r < MAX_ROOMS; r++) roomsOf[r % WORKERS_PER_MODE]!.push(`room${r}`);
  const mode: Mode = {
    name,
    pid,
    stop,
    workers,
    roomsOf,
    rows: [],
    done: false,
    ...(o.drops ? { drops: o.drops } : {}),
  };
  modes.push(mode); // registered first so that a failure below still cleans up
  for (let i = 0; i < WORKERS_PER_MODE; i++)
    workers.push(forkWorker<WorkerMessage>('./relayClient.ts'));
  await Promise.all(workers.map((w) => w.next('started', 20_000)));
  if (NICE !== undefined)
    for (const p of [pid, ...workers.map((w) => w.child.pid!)]) setPriority(p, NICE);
  const perWorker = Math.max(1, Math.floor(SOURCE_ADDRESSES.length / WORKERS_PER_MODE));
  workers.forEach((w, i) =>
    w.send({
      cmd: 'connect',
      url: o.url,
      rooms: roomsOf[i],
      membersPerRoom: ROOM_SIZE,
      speakersPerRoom: SPEAKERS_PER_ROOM,
      userPrefix: `${o.tag}w${i}`,
      addresses: SOURCE_ADDRESSES.slice(
        (i * perWorker) % SOURCE_ADDRESSES.length,
        ((i * perWorker) % SOURCE_ADDRESSES.length) + perWorker,
      ),
      payloadBytes: PAYLOAD_BYTES,
      raw: o.raw,
    }),
  );
  await Promise.all(workers.map((w) => w.next('connected', 90_000)));
  return mode;
}

async function runStep(mode: Mode, rooms: number): Promise<BenchRow> {
  const drops0 = await mode.drops?.();
  const active = new Set(Array.from({ length: rooms }, (_, r) => `room${r}`));
  mode.workers.forEach((w, i) =>
    w.send({
      cmd: 'step',
      activeRooms: mode.roomsOf[i]!.filter((r) => active.has(r)),
      frameMs: FRAME_MS,
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      drainMs: DRAIN_MS,
    }),
  );
  await sleep(WARMUP_MS);
  const cpu0 = cpuMs(mode.pid);
  await sleep(MEASURE_MS);
  const serverCpuMs = cpuMs(mode.pid) - cpu0;
  const results = await Promise.all(
    mode.workers.map((w) => w.next<RelayStepResult>('stepDone', MEASURE_MS + DRAIN_MS + 10_000)),
  );
  const drops1 = await mode.drops?.();
  const hist = new Array<number>(BINS + 1).fill(0);
  let sent = 0;
  let received = 0;
  let framesInWindow = 0;
  let clientCpuMs = 0;
  let maxTickLagMs = 0;
  for (const r of results) {
    r.histogram.forEach((n, i) => (hist[i]! += n));
    sent += r.sent;
    received += r.received;
    framesInWindow += r.framesInWindow;
    clientCpuMs += r.cpuMs;
    maxTickLagMs = Math.max(maxTickLagMs, r.maxTickLagMs);
  }
  const expected = sent * (ROOM_SIZE - 1);
  // Forwards that never arrived (dropped, or later than the drain) count beyond every percentile.
  hist[BINS]! += Math.max(0, expected - received);
  const { median: p99Robust, perWindow: subP99 } = robustP99(results, ROOM_SIZE - 1);
  const p50 = histPercentile(hist, 0.5);
  const p95 = histPercentile(hist, 0.95);
  const p99 = histPercentile(hist, 0.99);
  const seconds = MEASURE_MS / 1000;
  const forwardsPerSec = Math.round(framesInWindow / seconds);
  const finite = (x: number) => (Number.isFinite(x) ? round(x, 2) : null);
  const gatewayDrops =
    drops0 && drops1
      ? Object.fromEntries(
          Object.keys(drops1)
            .map((k) => [k, drops1[k]! - (drops0[k] ?? 0)] as const)
            .filter(([, v]) => v > 0),
        )
      : undefined;
  return {
    name: `relay.${mode.name}.${rooms}rooms`,
    median: finite(p50) ?? Number.POSITIVE_INFINITY,
    p95: finite(p95) ?? Number.POSITIVE_INFINITY,
    p99: finite(p99),
    p99SubWindowMedian: finite(p99Robust),
    p99SubWindows: subP99.map(finite),
    unit: 'ms',
    goal: `p99 <= ${P99_GOAL_MS} ms`,
    met: p99 <= P99_GOAL_MS,
    metSubWindowMedian: p99Robust <= P99_GOAL_MS,
    rooms,
    clients: rooms * ROOM_SIZE,
    offeredForwardsPerSec: rooms * FORWARDS_PER_ROOM,
    forwardsPerSec,
    framesSentPerSec: Math.round(sent / seconds),
    lost: expected - received,
    serverCpuPct: round((serverCpuMs / MEASURE_MS) * 100, 1),
    serverCpuUsPerForward:
      framesInWindow > 0 ? round((serverCpuMs * 1000) / framesInWindow, 2) : null,
    clientCpuPct: round((clientCpuMs / MEASURE_MS) * 100, 1),
    clientMaxTickLagMs: round(maxTickLagMs, 1),
    cpuPressurePct: cpuPressurePct(),
    ...(gatewayDrops ? { gatewayDrops } : {}),
  };
}

function log(mode: Mode, row: BenchRow): void {
  console.log(
    `${mode.name} ${String(row['rooms'])} rooms (${String(row['offeredForwardsPerSec'])} offered): ` +
      `${String(row['forwardsPerSec'])} forwards/s, p50 ${row.median} p99 ${String(row['p99'])} ms ` +
      `(sub-window median ${String(row['p99SubWindowMedian'])}), ` +
      `lost ${String(row['lost'])}, server CPU ${String(row['serverCpuPct'])}%, ` +
      `clients ${String(row['clientCpuPct'])}%, tick lag ${String(row['clientMaxTickLagMs'])} ms` +
      (row['gatewayDrops'] ? ` drops ${JSON.stringify(row['gatewayDrops'])}` : ''),
  );
}

/** Queueing (p50 ≥ 50 ms), or forwards lost or later than the drain (> 0.5 %). */
const saturated = (row: BenchRow): boolean =>
  generatorLimited(row) ||
  !(row.median < 50) ||
  (row['lost'] as number) > (row['framesSentPerSec'] as number) * (MEASURE_MS / 1000) * 9 * 0.005;

/** The load generator could not send the offered frame rate (its own CPU limit). */
const generatorLimited = (row: BenchRow): boolean =>
  (row['framesSentPerSec'] as number) <
  ((row['offeredForwardsPerSec'] as number) / (ROOM_SIZE - 1)) * 0.9;

async function main(): Promise<void> {
  requireGatewayBuild();
  const started = performance.now();
  const stopAll = async () => {
    for (const m of modes.splice(0)) {
      await Promise.all(m.workers.map((w) => w.stop()));
      await m.stop();
    }
  };
  const guard = setTimeout(() => {
    console.error('relay: suite exceeded its time budget, aborting');
    void stopAll().then(() => process.exit(1));
  }, SUITE_BUDGET_MS + 30_000);
  const rows: BenchRow[] = [];
  let setupMs: number | undefined;
  try {
    await startConcord();
    await startPlainWs();
    setupMs = Math.round(performance.now() - started);
    console.log(`relay: ${MAX_ROOMS * ROOM_SIZE} clients per server connected in ${setupMs} ms`);
    for (const rooms of ROOM_STEPS) {
      for (const mode of modes) {
        if (mode.done) continue;
        if (performance.now() - started > SUITE_BUDGET_MS - 10_000) {
          mode.done = true;
          console.error(`relay: time budget reached before ${rooms} rooms`);
          continue;
        }
        let row = await runStep(mode, rooms);
        log(mode, row);
        // One retry of a step that misses the goal: on a shared 2-core VM one ~100 ms stall
        // (idle processes see it too) spoils a 2 s window's p99.
        if (!row.met) {
          row['retried'] = true;
          mode.rows.push(row);
          await sleep(300);
          row = await runStep(mode, rooms);
          row.name += '.retry';
          log(mode, row);
        }
        mode.rows.push(row);
        // A mode stops once even the stall-tolerant p99 misses the goal, or it saturates.
        if (!row['metSubWindowMedian'] || saturated(row)) {
          mode.done = true;
          row['note'] = generatorLimited(row)
            ? 'stopped: the load generator could not offer this rate'
            : 'stopped: sub-window median p99 > 20 ms, p50 >= 50 ms or > 0.5% lost (after one retry)';
        }
      }
      if (modes.every((m) => m.done)) break;
      await sleep(300);
    }
    for (const m of modes) rows.push(...m.rows);
    const [concord, plain] = modes as [Mode, Mode];
    const fwd = (r: BenchRow | undefined) => (r ? (r['forwardsPerSec'] as number) : 0);
    const capped = (r: BenchRow | undefined) => r?.['rooms'] === MAX_ROOMS;
    // Highest step that met the criterion (after its retry) among the steps the mode ran before
    // it stopped; the mode stops at the first step whose stall-tolerant p99 misses, so one
    // isolated stall at a low step does not zero the result (it does stay in the step rows).
    const bestBy = (m: Mode, key: 'met' | 'metSubWindowMedian'): BenchRow | undefined => {
      let best: BenchRow | undefined;
      for (const rooms of ROOM_STEPS) {
        const row = m.rows.filter((r) => r['rooms'] === rooms).pop();
        if (!row) break;
        if (row[key] === true) best = row;
        else if (key === 'metSubWindowMedian') break;
      }
      return best;
    };
    const variants = [
      { key: 'met', suffix: '', what: 'p99 <= 20 ms' },
      {
        key: 'metSubWindowMedian',
        suffix: '.subWindowP99',
        what: 'median sub-window p99 <= 20 ms',
      },
    ] as const;
    for (const v of variants) {
      for (const m of modes) {
        const b = bestBy(m, v.key);
        const cpuFrac = b ? (b['serverCpuPct'] as number) / 100 : 0;
        rows.push({
          name: `relay.${m.name}.maxLoad${v.suffix}`,
          median: fwd(b),
          unit: `forwards/s with ${v.what}`,
          rooms: b?.['rooms'] ?? 0,
          p50: b?.median ?? null,
          p99: b?.['p99'] ?? null,
          p99SubWindowMedian: b?.['p99SubWindowMedian'] ?? null,
          serverCpuPct: b?.['serverCpuPct'] ?? null,
          clientCpuPct: b?.['clientCpuPct'] ?? null,
          // Forwards per second of server CPU: what one fully busy core would carry at this cost.
          forwardsPerServerCpuSecond: cpuFrac > 0 ? Math.round(fwd(b) / cpuFrac) : null,
          reachedCap: capped(b),
          note:
            v.key === 'met'
              ? 'one server process (one core); highest step with p99 <= 20 ms (one retry) before the mode stopped'
              : 'one server process (one core); highest step with it and every lower step at median sub-window p99 <= 20 ms (one retry each)',
        });
      }
      const c = bestBy(concord, v.key);
      const p = bestBy(plain, v.key);
      const ratio = fwd(p) > 0 ? round((fwd(c) / fwd(p)) * 100, 1) : Number.NaN;
      rows.push({
        name: `relay.concordVsPlainWs${v.suffix}`,
        median: ratio,
        unit: `% of plain ws forwards/s at ${v.what}`,
        goal: `>= ${RATIO_GOAL_PCT}%`,
        met: ratio >= RATIO_GOAL_PCT,
        concordForwardsPerSec: fwd(c),
        plainWsForwardsPerSec: fwd(p),
        note:
          capped(c) || capped(p)
            ? 'a mode reached the step cap: the ratio is a bound'
            : 'same run, steps interleaved; the step grid (not a search) sets the resolution',
      });
    }
    // Server CPU per forward over every step both servers ran (all tries): the cost ratio, which
    // stalls on the shared VM disturb far less than a p99 does.
    const cost = (m: Mode, rooms: number) =>
      m.rows
        .filter((x) => x['rooms'] === rooms && typeof x['serverCpuUsPerForward'] === 'number')
        .map((x) => x['serverCpuUsPerForward'] as number);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const common = ROOM_STEPS.filter(
      (r) => cost(concord, r).length > 0 && cost(plain, r).length > 0,
    );
    if (common.length > 0) {
      // Σ server CPU / Σ forwards over the common steps (every try), per mode.
      const usPerForward = (m: Mode) => {
        const rs = m.rows.filter((x) => common.includes(x['rooms'] as number));
        const cpu = rs.reduce((a, x) => a + (x['serverCpuPct'] as number), 0);
        const fwds = rs.reduce((a, x) => a + (x['forwardsPerSec'] as number), 0);
        return fwds > 0 ? round((cpu / fwds) * 10_000, 2) : Number.NaN;
      };
      const c = usPerForward(concord);
      const p = usPerForward(plain);
      rows.push({
        name: 'relay.serverCpuPerForward',
        median: c,
        unit: 'us server CPU/forward (concord, over the steps both ran)',
        plainWs: p,
        concordThroughputPerCpuPctOfPlainWs: round((p / c) * 100, 1),
        atRooms: common,
        perStep: common.map((r) => ({
          rooms: r,
          concord: median(cost(concord, r)),
          plainWs: median(cost(plain, r)),
        })),
        note: 'forwards per server CPU-second, Concord as % of plain ws: the stall-insensitive view of the goal',
        baseline: 'plain ws fan-out: ~5 us server CPU per forwarded message (ENVIRONMENT.md)',
      });
    }
  } finally {
    clearTimeout(guard);
    await stopAll();
  }
  report('gateway-relay', rows, {
    roomSize: ROOM_SIZE,
    speakersPerRoom: SPEAKERS_PER_ROOM,
    frameMs: FRAME_MS,
    payloadBytes: PAYLOAD_BYTES,
    wireFrameBytes: PAYLOAD_BYTES + 13,
    forwardsPerRoom: FORWARDS_PER_ROOM,
    roomSteps: ROOM_STEPS,
    clientProcessesPerMode: WORKERS_PER_MODE,
    stepMs: { warmup: WARMUP_MS, measure: MEASURE_MS, drain: DRAIN_MS },
    gatewayArgs: '--max-speakers 3 --media-rate-limit-fps 1000 --media-burst-frames 1000',
    loadAverageAtStart: loadavg(),
    cpuPressurePctAtEnd: cpuPressurePct(),
    nice: NICE ?? 'unchanged',
    setupMs,
    elapsedMs: Math.round(performance.now() - started),
    baseline: 'plain ws 8.23 fan-out here: ~135-160k forwarded msg/s (ENVIRONMENT.md)',
  });
}

await main();
