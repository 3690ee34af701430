// Migration audio gaps: calls whose talker is on a node that drains (SIGTERM). Each call is its
// own room with the talker on the draining node and a listener on another; the talker follows
// RECONNECT to the room's next node and resumes. Gap at the listener on the talker's clock (lost
// frames + delay growth; VoiceClient.audioGap) and raw (largest time between arrivals), per
// call, over ROUNDS drains of CALLS_PER_ROUND calls (default 4 × 25 = 100 calls). Same-run
// baseline: the same calls' largest gap in an equal window before the drain.
// Run: npx tsc -b && npm run bench cluster/migration
import { loadavg } from 'node:os';
import { homeNode } from '../../packages/gateway/src/cluster/placement.js';
import { startCluster, VoiceClient } from '../../packages/gateway/test/clusterHarness.js';
import { percentile, report, round, type BenchRow } from '../lib/harness.js';
import { cpuPressurePct, sleep } from '../gateway/proc.js';

const ROUNDS = Number(process.env['MIGRATION_ROUNDS'] ?? 4);
const CALLS = Number(process.env['MIGRATION_CALLS_PER_ROUND'] ?? 25);
const WINDOW_MS = 1_500;

function dist(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: round(percentile(s, 0.5), 1),
    p90: round(percentile(s, 0.9), 1),
    p99: round(percentile(s, 0.99), 1),
    max: round(s.at(-1) ?? Number.NaN, 1),
    n: s.length,
  };
}

async function main(): Promise<void> {
  const cluster = await startCluster(3, ['--log-level', 'warn']);
  const gaps: number[] = [];
  const raw: number[] = [];
  const baseline: number[] = [];
  const resumes: number[] = [];
  let failed = 0;
  const clients: VoiceClient[] = [];
  try {
    let live = cluster.nodes.map((n, i) => ({ id: `n${i}`, gw: n }));
    for (let r = 0; r < ROUNDS; r++) {
      const [drained, ...rest] = live as [(typeof live)[0], ...typeof live];
      const calls: Array<{ talker: VoiceClient; listener: VoiceClient }> = [];
      for (let i = 0; i < CALLS; i++) {
        const room = `mig${r}c${i}`;
        const talker = new VoiceClient(`t${r}-${i}`);
        const listener = new VoiceClient(`l${r}-${i}`);
        clients.push(talker, listener);
        await talker.start(drained.gw.url, room);
        await listener.start(rest[i % rest.length]!.gw.url, room);
        const next = homeNode(
          room,
          rest.map((n) => n.id),
        )!;
        const target = rest.find((n) => n.id === next)!.gw.url;
        talker.follow = () => target;
        calls.push({ talker, listener });
      }
      for (const { talker } of calls) talker.startTalking();
      await sleep(WINDOW_MS + 300);
      const drainAt = performance.now();
      await drained.gw.stop('SIGTERM');
      await sleep(WINDOW_MS);
      const end = performance.now();
      for (const { talker } of calls) talker.stopTalking();
      for (const { talker, listener } of calls) {
        if (talker.migrations.length !== 1) failed++;
        else resumes.push(talker.migrations[0]!);
        gaps.push(listener.audioGap(talker, drainAt - 100, end));
        raw.push(listener.largestGap(talker.ssrc, drainAt - 100, end));
        baseline.push(
          listener.audioGap(talker, drainAt - 100 - (end - drainAt + 100), drainAt - 100),
        );
      }
      for (const c of clients.splice(0)) c.close();
      const added = await cluster.addNode(['--log-level', 'warn']);
      live = [...rest, { id: `n${cluster.nodes.length - 1}`, gw: added }];
      await sleep(800);
      console.log(`round ${r + 1}: gaps so far ${JSON.stringify(dist(gaps))}`);
    }
  } finally {
    for (const c of clients) c.close();
    await cluster.destroy();
  }
  const d = dist(gaps);
  const rows: BenchRow[] = [
    {
      name: 'cluster.migration.audioGap',
      median: d.p50,
      p95: d.p99,
      unit: 'ms (p95 column = p99)',
      goal: '<= 200 ms',
      met: d.max <= 200,
      ...d,
      calls: gaps.length,
      failedMigrations: failed,
      baselineSameCallsBeforeDrain: dist(baseline),
      loadavg: loadavg()[0],
      cpuPressurePct: cpuPressurePct(),
    },
    {
      name: 'cluster.migration.rawArrivalGap',
      median: dist(raw).p50,
      p95: dist(raw).p99,
      unit: 'ms (p95 column = p99)',
      ...dist(raw),
    },
    {
      name: 'cluster.migration.resume',
      median: dist(resumes).p50,
      p95: dist(resumes).p99,
      unit: 'ms from RECONNECT to RESUMED',
      ...dist(resumes),
    },
  ];
  report('cluster-migration', rows, { rounds: ROUNDS, callsPerRound: CALLS, windowMs: WINDOW_MS });
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
