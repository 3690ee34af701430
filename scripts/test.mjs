// `npm test`: everything a fresh machine needs, then every test. Installs npm dependencies and
// (as root) Debian's chromium/espeak-ng/sox when missing, builds, runs the unit and integration
// tests (vitest) and the browser suite (Playwright + Debian Chromium), and ends with one
// summary line: "tests: N passed, M failed".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, ensureNodeModules } from './ensure-install.mjs';
import { ensureSystemDeps } from './system-deps.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// Not test-results/: Playwright empties that folder when it starts.
const reports = join(root, 'test-reports');
mkdirSync(reports, { recursive: true });

ensureNodeModules(root);
if (!ensureSystemDeps()) process.exit(1);
build(root);

const run = (cmd, args, env = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ??
  1;

const vitestJson = join(reports, 'vitest.json');
const unitStatus = run('npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${vitestJson}`,
]);
const e2eJson = join(reports, 'playwright.json');
const e2eStatus = run('npx', ['playwright', 'test', '--reporter=list,json'], {
  PLAYWRIGHT_JSON_OUTPUT_NAME: e2eJson,
});

let passed = 0;
let failed = 0;
try {
  const v = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += v.numPassedTests;
  failed += v.numFailedTests + (v.numPendingTests ?? 0) * 0;
} catch {
  failed += 1;
}
try {
  const p = JSON.parse(readFileSync(e2eJson, 'utf8'));
  passed += p.stats.expected;
  failed += p.stats.unexpected + p.stats.flaky;
} catch {
  failed += 1;
}
console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(unitStatus === 0 && e2eStatus === 0 && failed === 0 ? 0 : 1);
