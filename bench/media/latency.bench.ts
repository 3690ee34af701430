// Graph-to-graph latency on loopback (issues 5, 11, 12): Concord's WebSocket and WebRTC media
// paths with the full capture chain on and off vs raw Chromium-to-Chromium WebRTC with browser
// processing off and on, measured the same way in the same run. The numbers come from real Chromium,
// so this suite runs the e2e spec that measures them (e2e/latency.spec.ts: it writes
// bench/results/media-latency.json) and prints its table. Needs `npm run build` and Debian
// Chromium, like the e2e suite. Goals: the WebSocket path p50 <= 35 ms, p95 <= 50 ms and below both raw
// WebRTC rows; the WebRTC path within 5 ms of raw WebRTC with processing on.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchRow } from '../lib/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
// WebRTC stays on loopback: the spec runs in a loopback-only network namespace.
const run = spawnSync(
  'node',
  ['scripts/netns.mjs', 'npx', 'playwright', 'test', 'e2e/latency.spec.ts', '--reporter=line'],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, CONCORD_BENCH: '1' },
  },
);
if (run.status !== 0) {
  process.stdout.write(run.stdout ?? '');
  console.error('latency spec failed: no latency published');
  process.exit(1);
}
const doc = JSON.parse(
  readFileSync(join(root, 'bench', 'results', 'media-latency.json'), 'utf8'),
) as { suite: string; loadavg: number[]; rows: BenchRow[] };
console.log(`\n== ${doc.suite} (load average ${doc.loadavg.join(' ')}) ==`);
console.table(
  doc.rows.map((r) => ({
    name: r.name,
    p50: r.median,
    p95: r.p95,
    bursts: r['bursts'],
    unit: r.unit,
    goal: r.goal ?? '',
    met: r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  })),
);
