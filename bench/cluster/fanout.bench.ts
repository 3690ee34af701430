// Control fan-out latency in rooms of 10: SPEAKING toggles from every member, latency from the
// send to the receipt at each of the 9 others (one clock: every client in this process, events
// matched by sender and count — they arrive once each, in order). Three placements, steps
// interleaved in one run: one embedded gateway (in-memory bus, the baseline), a cluster with all
// 10 members on one node (every event still goes through Redis), and a cluster with the room
// split 5 + 5 over two nodes. Run: npx tsc -b && npm run bench cluster/fanout
import { loadavg } from 'node:os';
import { Op, type DispatchMessage } from '@concord/protocol';
import { mintToken } from '../../packages/gateway/src/auth/tokens.js';
import {
  RawClient,
  startGateway,
  TEST_SECRET,
  type GatewayProcess,
} from '../../packages/gateway/test/harness.js';
import { RedisServer } from '../../packages/gateway/test/redisHarness.js';
import { percentile, report, round, type BenchRow } from '../lib/harness.js';
import { cpuPressurePct, sleep, SOURCE_ADDRESSES } from '../gateway/proc.js';

const ROOMS = Number(process.env['FANOUT_ROOMS'] ?? 10);
const ROOM_SIZE = 10;
const INTERVAL_MS = Number(process.env['FANOUT_INTERVAL_MS'] ?? 400);
const STEP_MS = 6_000;
const ROUNDS = 3;

interface Member {
  c: RawClient;
  ssrc: number;
  sent: number[];
  /** Current SPEAKING state (the server drops a repeat of the same state). */
  speaking: boolean;
  /** Receipt times per sender ssrc, in order. */
  got: Map<number, number[]>;
}

async function member(url: string, user: string, room: string, addr: string): Promise<Member> {
  const c = await RawClient.identified(url, await mintToken(TEST_SECRET, { userId: user }), addr);
  await c.join(room);
  const joined = c.received.find(
    (m) => m.op === Op.Dispatch && m.t === 'ROOM_JOINED',
  ) as DispatchMessage & { t: 'ROOM_JOINED' };
  const ssrc = joined.d.participants.find((p) => p.userId === user)!.ssrc;
  const m: Member = { c, ssrc, sent: [], speaking: false, got: new Map() };
  c.ws.on('message', () => {
    const at = performance.now();
    // RawClient decoded the frame into `received` first (its listener was added before).
    while (c.received.length > 0) {
      const x = c.received.shift()!;
      if (x.op !== Op.Dispatch || x.t !== 'SPEAKING') continue;
      const from = x.d.ssrc;
      let list = m.got.get(from);
      if (!list) m.got.set(from, (list = []));
      list.push(at);
    }
  });
  c.received.length = 0;
  return m;
}

async function rooms(urlsFor: (i: number) => string[], tag: string): Promise<Member[][]> {
  const out: Member[][] = [];
  let k = 0;
  for (let r = 0; r < ROOMS; r++) {
    const urls = urlsFor(r);
    const list: Member[] = [];
    for (let i = 0; i < ROOM_SIZE; i++)
      list.push(
        await member(
          urls[i % urls.length]!,
          `${tag}r${r}m${i}`,
          `${tag}-room${r}`,
          SOURCE_ADDRESSES[k++ % SOURCE_ADDRESSES.length]!,
        ),
      );
    out.push(list);
  }
  return out;
}

/** One step: every member toggles SPEAKING every INTERVAL_MS (random phase) for STEP_MS. */
async function step(all: Member[][]): Promise<number[]> {
  const members = all.flat();
  for (const m of members) {
    m.sent = [];
    m.got.clear();
  }
  const timers: Array<ReturnType<typeof setInterval>> = [];
  for (const [i, m] of members.entries()) {
    const roomName = roomOf(all, m);
    setTimeout(
      () => {
        timers.push(
          setInterval(() => {
            m.sent.push(performance.now());
            m.c.send({
              op: Op.Speaking,
              d: { room: roomName, speaking: (m.speaking = !m.speaking) },
            });
          }, INTERVAL_MS),
        );
      },
      (i * 37) % INTERVAL_MS,
    );
  }
  await sleep(STEP_MS);
  for (const t of timers) clearInterval(t);
  await sleep(1_000);
  const lat: number[] = [];
  for (const list of all)
    for (const sender of list)
      for (const listener of list) {
        if (listener === sender) continue;
        const got = listener.got.get(sender.ssrc) ?? [];
        got.forEach((at, n) => {
          const sentAt = sender.sent[n];
          if (sentAt !== undefined) lat.push(at - sentAt);
        });
      }
  return lat;
}

function roomOf(all: Member[][], m: Member): string {
  for (const list of all) if (list.includes(m)) return roomNames.get(list)!;
  throw new Error('member without room');
}
const roomNames = new Map<Member[], string>();

async function main(): Promise<void> {
  const args = [
    '--insecure-dev-auth',
    '--log-level',
    'warn',
    '--webrtc',
    'off',
    '--max-connections-per-ip',
    '100000',
    // These clients do not heartbeat: keep them for the whole suite.
    '--heartbeat-interval-ms',
    '600000',
  ];
  const redis = await RedisServer.start();
  const nodes: GatewayProcess[] = [];
  const rowsOut: BenchRow[] = [];
  try {
    const solo = await startGateway(args);
    nodes.push(solo);
    const n0 = await startGateway([...args, '--redis', redis.url, '--node-id', 'f0']);
    const n1 = await startGateway([...args, '--redis', redis.url, '--node-id', 'f1']);
    nodes.push(n0, n1);
    await sleep(2_500);
    const placements: Record<string, Member[][]> = {
      embedded: await rooms(() => [solo.url], 'e'),
      clusterOneNode: await rooms(() => [n0.url], 'o'),
      clusterAcrossNodes: await rooms(() => [n0.url, n1.url], 'x'),
    };
    for (const [tag, all] of Object.entries(placements))
      all.forEach((list, r) =>
        roomNames.set(
          list,
          `${tag[0] === 'e' ? 'e' : tag === 'clusterOneNode' ? 'o' : 'x'}-room${r}`,
        ),
      );
    const lat: Record<string, number[]> = {
      embedded: [],
      clusterOneNode: [],
      clusterAcrossNodes: [],
    };
    const expected: Record<string, number> = {
      embedded: 0,
      clusterOneNode: 0,
      clusterAcrossNodes: 0,
    };
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, all] of Object.entries(placements)) {
        const xs = await step(all);
        for (const x of xs) lat[name]!.push(x);
        expected[name]! += all.flat().reduce((s, m) => s + m.sent.length * (ROOM_SIZE - 1), 0);
      }
    const stats = Object.fromEntries(
      Object.entries(lat).map(([name, xs]) => {
        xs.sort((a, b) => a - b);
        return [
          name,
          {
            p50: percentile(xs, 0.5),
            p95: percentile(xs, 0.95),
            p99: percentile(xs, 0.99),
            n: xs.length,
            expected: expected[name],
          },
        ];
      }),
    );
    const common = { loadavg: loadavg()[0], cpuPressurePct: cpuPressurePct() };
    for (const [name, s] of Object.entries(stats))
      rowsOut.push({
        name: `cluster.fanout.${name}`,
        median: round(s.p50, 2),
        p95: round(s.p99, 2),
        unit: 'ms (p95 column = p99)',
        p99: round(s.p99, 2),
        p95real: round(s.p95, 2),
        deliveries: s.n,
        deliveriesExpected: s.expected,
        eventsPerSecond: round((ROOMS * ROOM_SIZE * 1000) / INTERVAL_MS, 0),
        ...common,
      });
    rowsOut.push({
      name: 'cluster.fanout.acrossVsOneNode.p99',
      median: round(stats['clusterAcrossNodes']!.p99 / stats['clusterOneNode']!.p99, 2),
      unit: 'ratio',
    });
    rowsOut.push({
      name: 'cluster.fanout.acrossVsEmbedded.p99',
      median: round(stats['clusterAcrossNodes']!.p99 / stats['embedded']!.p99, 2),
      unit: 'ratio',
    });
    for (const all of Object.values(placements)) for (const m of all.flat()) m.c.cut();
  } finally {
    for (const n of nodes) await n.stop('SIGKILL');
    await redis.destroy();
  }
  report('cluster-fanout', rowsOut, {
    rooms: ROOMS,
    roomSize: ROOM_SIZE,
    intervalMs: INTERVAL_MS,
    stepMs: STEP_MS,
    rounds: ROUNDS,
  });
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
