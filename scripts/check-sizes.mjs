// Size budgets (`npm run check:sizes`, run by CI after the build): every entry of
// size-budgets.json names files (a `*` matches within one path segment) and a budget for their
// total, as built (`maxBytes`) and/or gzip -9 (`maxGzipBytes`). Prints a table; exits 1 with a
// message naming each file over its budget, its size and the budget, or a missing file.
// `--budgets <file>` checks another budget file (paths relative to the repository root,
// or to `--root <dir>`).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const { values } = parseArgs({
  options: { budgets: { type: 'string' }, root: { type: 'string' } },
});
const root = resolve(values.root ?? fileURLToPath(new URL('..', import.meta.url)));
const budgetFile = resolve(values.budgets ?? join(root, 'size-budgets.json'));
// Named relative to the repository when it lives there, else by its absolute path.
const shownBudgetFile = budgetFile.startsWith(`${root}/`) ? relative(root, budgetFile) : budgetFile;
const { budgets } = JSON.parse(readFileSync(budgetFile, 'utf8'));

const fmt = (n) => `${n.toLocaleString('en-US')} B`;

/** Files matching `pattern` (relative to root; `*` within the last segment only). */
function expand(pattern) {
  const slash = pattern.lastIndexOf('/');
  const dir = pattern.slice(0, slash);
  const base = pattern.slice(slash + 1);
  if (!base.includes('*')) return [pattern];
  const re = new RegExp(
    `^${base
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  let names;
  try {
    names = readdirSync(join(root, dir));
  } catch {
    return [pattern]; // reported as missing below
  }
  const hits = names.filter((n) => re.test(n)).map((n) => `${dir}/${n}`);
  return hits.length > 0 ? hits.sort() : [pattern];
}

const failures = [];
const rows = [];
for (const budget of budgets) {
  const files = budget.files.flatMap(expand);
  let bytes = 0;
  let gzipBytes = 0;
  const sizes = [];
  for (const file of files) {
    let content;
    try {
      content = readFileSync(join(root, file));
    } catch {
      failures.push(
        `${file} is missing (budget "${budget.name}" in ${shownBudgetFile}): run \`npm run build\` first`,
      );
      continue;
    }
    const gz = budget.maxGzipBytes === undefined ? 0 : gzipSync(content, { level: 9 }).length;
    bytes += content.length;
    gzipBytes += gz;
    sizes.push({ file, bytes: content.length, gz });
  }
  if (sizes.length < files.length) continue;
  const what =
    files.length === 1
      ? files[0]
      : `"${budget.name}" (${sizes.map((s) => `${s.file} ${fmt(s.bytes)}`).join(', ')})`;
  if (budget.maxBytes !== undefined) {
    rows.push([budget.name, 'bytes', bytes, budget.maxBytes]);
    if (bytes > budget.maxBytes)
      failures.push(
        `${what} is ${fmt(bytes)}, over its budget of ${fmt(budget.maxBytes)} by ${fmt(bytes - budget.maxBytes)} (maxBytes of "${budget.name}" in ${shownBudgetFile})`,
      );
  }
  if (budget.maxGzipBytes !== undefined) {
    rows.push([budget.name, 'gzip', gzipBytes, budget.maxGzipBytes]);
    if (gzipBytes > budget.maxGzipBytes)
      failures.push(
        `${what} is ${fmt(gzipBytes)} gzipped, over its budget of ${fmt(budget.maxGzipBytes)} by ${fmt(gzipBytes - budget.maxGzipBytes)} (maxGzipBytes of "${budget.name}" in ${shownBudgetFile})`,
      );
  }
}

for (const [name, kind, size, max] of rows)
  console.log(
    `${size > max ? 'OVER' : 'ok  '} ${`${((100 * size) / max).toFixed(0)}%`.padStart(4)}  ${fmt(size).padStart(12)} of ${fmt(max).padStart(12)} ${kind.padEnd(5)}  ${name}`,
  );
if (failures.length > 0) {
  console.error(`\nsize budgets: ${failures.length} failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`size budgets: all ${rows.length} within budget (${shownBudgetFile})`);
