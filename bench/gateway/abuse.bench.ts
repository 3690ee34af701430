// Issue 10's two abuse benchmarks, against real gateway processes (client roles in
// abuseClient.ts):
//
// 1. Slow consumers: 100 clients that heartbeat but never read, in 4 busy rooms (25 of them,
//    30 members toggling mute within the rate limit and 5 readers per room), for 60 s
//    (ABUSE_SLOW_S). Gateway RSS is sampled every second; the same scenario runs against a
//    gateway with the outbound bounds switched off (the same-run baseline). Readers must see
//    every VOICE_STATE_UPDATE of their room.
// 2. Floods: 20 honest clients heartbeat every second while 200 attacker sockets send the worst
//    they may send, 20 s each (ABUSE_FLOOD_S): nothing (baseline), before IDENTIFY (8 KiB
//    IDENTIFYs with junk tokens, reconnecting at once, each socket from its own address), and
//    after READY (64-entry reports, SPEAKING and join/leave churn at their rate limits,
//    reconnecting when closed). Goal: honest heartbeat-ack p99 < 50 ms; gateway CPU per attacker.
//
//   npm run bench gateway/abuse
import { loadavg } from 'node:os';
import { startGateway, type GatewayProcess } from '../../packages/gateway/test/harness.js';
import { percentile, report, round, type BenchRow } from '../lib/harness.js';
import {
  cpuMs,
  cpuPressurePct,
  forkWorker,
  requireGatewayBuild,
  rssBytes,
  sleep,
  type Worker,
} from './proc.js';

const SLOW_S = Number(process.env['ABUSE_SLOW_S'] ?? 60);
const FLOOD_S = Number(process.env['ABUSE_FLOOD_S'] ?? 20);
const ROOMS = ['busy-0', 'busy-1', 'busy-2', 'busy-3'];

type Stats = {
  type: 'stats';
  rttsMs: number[];
  toggles: Record<string, number>;
  voiceUpdates: Record<string, number>;
  seqGaps: number;
  cuts: number;
  closes: Record<string, number>;
  connects: number;
  framesSent: number;
  bytesSent: number;
};
type Msg = { type: 'started' } | { type: 'running' } | Stats | { type: 'error'; message: string };

/** `n` distinct loopback source addresses in 127.<block>.x.y. */
const addresses = (block: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `127.${block}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);

async function role(
  url: string,
  r: string,
  count: number,
  rooms: string[],
  addrs: string[],
  prefix: string,
): Promise<Worker<Msg>> {
  const w = forkWorker<Msg>('./abuseClient.ts');
  await w.next('started', 20_000);
  w.send({ cmd: 'start', role: r, url, count, rooms, addresses: addrs, userPrefix: prefix });
  await w.next('running', 20_000);
  return w;
}

async function stop(w: Worker<Msg>): Promise<Stats> {
  w.send({ cmd: 'stop' });
  const s = await w.next<Stats>('stats', 20_000);
  await w.stop();
  return s;
}

async function slowScenario(boundsOn: boolean) {
  const args = ['--insecure-dev-auth', '--log-level', 'silent'];
  if (!boundsOn)
    args.push('--max-outbound-bytes', '1000000000', '--max-outbound-age-ms', '1000000000');
  const gw = await startGateway(args);
  const pid = gw.child.pid!;
  try {
    const readers = await role(gw.url, 'reader', 20, ROOMS, addresses(11, 20), 'reader');
    const togglers = await role(gw.url, 'toggler', 120, ROOMS, addresses(12, 120), 'toggler');
    await sleep(3_000); // everyone joined
    const rss0 = rssBytes(pid);
    const slow = await role(gw.url, 'slow', 100, ROOMS, addresses(13, 100), 'slow');
    const samples: number[] = [];
    const started = Date.now();
    while (Date.now() - started < SLOW_S * 1000) {
      await sleep(1_000);
      samples.push(rssBytes(pid) - rss0);
    }
    const slowStats = await stop(slow);
    const toggleStats = await stop(togglers);
    await sleep(3_000); // the last toggles reach the readers
    const readerStats = await stop(readers);
    // Each room's 5 readers must each have seen every toggle of that room.
    let expected = 0;
    let seen = 0;
    for (const room of ROOMS) {
      expected += (toggleStats.toggles[room] ?? 0) * 5;
      seen += readerStats.voiceUpdates[room] ?? 0;
    }
    return {
      peakMiB: Math.max(...samples) / 2 ** 20,
      endMiB: samples[samples.length - 1]! / 2 ** 20,
      samplesMiB: samples.map((b) => round(b / 2 ** 20, 1)),
      cuts: slowStats.cuts,
      slowCloses: slowStats.closes,
      readersExpected: expected,
      readersSeen: seen,
      readerSeqGaps: readerStats.seqGaps,
      readerCloses: readerStats.closes,
      toggles: Object.values(toggleStats.toggles).reduce((a, b) => a + b, 0),
    };
  } finally {
    await gw.stop('SIGKILL');
  }
}

async function floodScenario() {
  const gw: GatewayProcess = await startGateway(['--insecure-dev-auth', '--log-level', 'silent']);
  const pid = gw.child.pid!;
  const phases: Record<
    string,
    {
      p50: number;
      p99: number;
      max: number;
      beats: number;
      cpuPct: number;
      attackerStats?: Partial<Stats>;
    }
  > = {};
  try {
    for (const phase of ['none', 'preauth', 'postauth'] as const) {
      const honest = await role(
        gw.url,
        'honest',
        20,
        ['calm'],
        addresses(21, 20),
        `honest-${phase}`,
      );
      const attackers: Worker<Msg>[] = [];
      if (phase !== 'none') {
        const rooms = Array.from({ length: 20 }, (_, i) => `attack-${i}`);
        for (let k = 0; k < 2; k++)
          attackers.push(
            await role(
              gw.url,
              phase,
              100,
              rooms,
              addresses(30 + k + (phase === 'postauth' ? 2 : 0), 100),
              `${phase}-${k}`,
            ),
          );
      }
      await sleep(2_000); // warm up
      const cpu0 = cpuMs(pid);
      const t0 = Date.now();
      await sleep(FLOOD_S * 1000);
      const cpuPct = ((cpuMs(pid) - cpu0) / (Date.now() - t0)) * 100;
      const attackerStats = await Promise.all(attackers.map(stop));
      const h = await stop(honest);
      const sorted = h.rttsMs.sort((a, b) => a - b);
      phases[phase] = {
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted[sorted.length - 1] ?? Number.NaN,
        beats: sorted.length,
        cpuPct,
        ...(attackerStats.length
          ? {
              attackerStats: {
                connects: attackerStats.reduce((a, s) => a + s.connects, 0),
                framesSent: attackerStats.reduce((a, s) => a + s.framesSent, 0),
                bytesSent: attackerStats.reduce((a, s) => a + s.bytesSent, 0),
                closes: attackerStats.reduce<Record<string, number>>((acc, s) => {
                  for (const [k, v] of Object.entries(s.closes)) acc[k] = (acc[k] ?? 0) + v;
                  return acc;
                }, {}),
              },
            }
          : {}),
      };
      await sleep(1_000);
    }
  } finally {
    await gw.stop('SIGKILL');
  }
  return phases;
}

requireGatewayBuild();
const meta = { loadAverageAtStart: loadavg(), cpuPressureAtStartPct: cpuPressurePct() };
const on = await slowScenario(true);
const off = await slowScenario(false);
const flood = await floodScenario();
const rows: BenchRow[] = [
  {
    name: 'abuse.slow.rssPeakGrowth',
    median: round(on.peakMiB, 1),
    unit: 'MiB',
    goal: '<= 100 MiB (100 × (maxOutboundBytes 512 KiB + replay 512 KiB)), bounded',
    met: on.peakMiB <= 100,
    endMiB: round(on.endMiB, 1),
    samplesMiB: on.samplesMiB,
    boundsOffSameRun: {
      peakMiB: round(off.peakMiB, 1),
      endMiB: round(off.endMiB, 1),
      samplesMiB: off.samplesMiB,
    },
    slowClientsCut: on.cuts,
    slowCloses: on.slowCloses,
    seconds: SLOW_S,
  },
  {
    name: 'abuse.slow.readersSawEveryEvent',
    median: on.readersSeen,
    unit: 'VOICE_STATE_UPDATE received',
    goal: `= ${on.readersExpected} (every toggle of the room, at each of its readers)`,
    met: on.readersSeen === on.readersExpected && on.readerSeqGaps === 0,
    expected: on.readersExpected,
    readerSeqGaps: on.readerSeqGaps,
    readerCloses: on.readerCloses,
    toggles: on.toggles,
    boundsOffSameRun: { seen: off.readersSeen, expected: off.readersExpected },
  },
];
for (const [phase, p] of Object.entries(flood)) {
  rows.push({
    name: `abuse.flood.${phase}.heartbeatAckP99`,
    median: round(p.p99, 2),
    unit: 'ms',
    goal: '< 50 ms',
    met: p.p99 < 50,
    p50: round(p.p50, 2),
    max: round(p.max, 2),
    beats: p.beats,
    gatewayCpuPct: round(p.cpuPct, 1),
    ...(phase === 'none'
      ? {}
      : {
          gatewayCpuPerAttackerPct: round((p.cpuPct - (flood['none']?.cpuPct ?? 0)) / 200, 3),
          attackers: 200,
          attackerStats: p.attackerStats,
        }),
  });
}
report('gateway-abuse', rows, { ...meta, slowSeconds: SLOW_S, floodSeconds: FLOOD_S });
process.exit(0);
