// Graph-to-graph latency on loopback (issue 5, "Benchmarks → Latency"): Concord's WebSocket
// media path with the full capture chain on vs raw Chromium-to-Chromium WebRTC with browser
// processing off, measured the same way in the same run. The numbers come from real Chromium,
// so this suite runs the e2e spec that measures them (e2e/latency.spec.ts: it writes
// bench/results/media-latency.json) and prints its table. Needs `npm run build` and Debian
// Chromium, like the e2e suite. Goal: Concord p50 <= 35 ms and below the raw WebRTC p50.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchRow } from '../lib/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = spawnSync('npx', ['playwright', 'test', 'e2e/latency.spec.ts', '--reporter=line'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
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
