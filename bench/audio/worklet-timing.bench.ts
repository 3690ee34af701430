// Audio worklet processing time per 128-sample render quantum (issue 4: p99 <= 0.5 ms with
// every capture stage on). The numbers come from real Chromium, so this suite runs the e2e
// spec that measures them (e2e/audio-timing.spec.ts: it writes
// bench/results/audio-worklet-timing.json) and prints its table. Needs `npm run build` and
// Debian Chromium, like the e2e suite.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round, type BenchRow } from '../lib/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = spawnSync(
  'npx',
  ['playwright', 'test', 'e2e/audio-timing.spec.ts', '--reporter=line'],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  },
);
if (run.status !== 0) {
  process.stdout.write(run.stdout ?? '');
  console.error('audio-timing spec failed: no timing published');
  process.exit(1);
}
const doc = JSON.parse(
  readFileSync(join(root, 'bench', 'results', 'audio-worklet-timing.json'), 'utf8'),
) as { suite: string; contextRateHz: number; quantumBudgetMs: number; rows: BenchRow[] };
console.log(
  `\n== ${doc.suite} (${doc.contextRateHz} Hz, budget ${doc.quantumBudgetMs} ms/quantum) ==`,
);
console.table(
  doc.rows.map((r) => ({
    name: r.name,
    p50: round(r.median, 4),
    p99: round(Number(r['p99']), 4),
    max: round(Number(r['maxMs']), 3),
    mean: round(Number(r['meanMs']), 4),
    unit: r.unit,
    goal: r.goal ?? '',
    met: r.met ? 'yes' : 'NO',
  })),
);
