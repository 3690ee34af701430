// `npm run bench [filter]`: runs every bench/**/*.bench.ts (or those whose path contains the
// filter) one after another in its own Node process, so suites never disturb each other.
// Each suite writes bench/results/<suite>.json and prints a table.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.argv[2] ?? '';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'results') return [];
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.bench.ts') ? [p] : [];
  });
}

const files = walk(join(root, 'bench'))
  .filter((f) => relative(root, f).includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches "${filter}"`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  console.log(`\n>>> ${relative(root, file)}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
