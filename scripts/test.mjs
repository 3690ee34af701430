// `npm test`: everything a fresh machine needs, then every test. Installs npm dependencies and
// (as root) Debian's chromium/espeak-ng/sox when missing, builds, builds the mediasoup worker
// once (scripts/ensure-mediasoup.mjs, 3–10 min the first time), runs the unit and integration
// tests (vitest), the WebRTC tests in a loopback-only network namespace (vitest.netns.config.ts
// under scripts/netns.mjs: `unshare -n`, or `unshare -rn` when not root) and the browser suite
// (Playwright + Debian Chromium), and ends with one summary line: "tests: N passed, M failed".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, ensureMediasoup, ensureNodeModules } from './ensure-install.mjs';
import { runInNetns } from './netns.mjs';
import { ensureSystemDeps } from './system-deps.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// Not test-results/: Playwright empties that folder when it starts.
const reports = join(root, 'test-reports');
mkdirSync(reports, { recursive: true });

ensureNodeModules(root);
if (!ensureSystemDeps()) process.exit(1);
build(root);
const mediasoup = await ensureMediasoup(root);

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
// WebRTC traffic stays on loopback: these tests run in a network namespace with only `lo`
// (their globalSetup refuses anything else). Root makes one directly; others a user namespace.
const netnsJson = join(reports, 'vitest-netns.json');
rmSync(netnsJson, { force: true }); // a report left by an earlier run must not count
const netnsStatus =
  mediasoup.state === 'ready'
    ? runInNetns(
        'npx',
        [
          'vitest',
          'run',
          '-c',
          'vitest.netns.config.ts',
          '--reporter=default',
          '--reporter=json',
          `--outputFile.json=${netnsJson}`,
        ],
        { cwd: root },
      )
    : 1;
// The browser suite makes WebRTC calls too (Concord's SFU and the raw-WebRTC baseline): same
// loopback-only namespace.
const e2eJson = join(reports, 'playwright.json');
rmSync(e2eJson, { force: true });
const e2eStatus = runInNetns('npx', ['playwright', 'test', '--reporter=list,json'], {
  cwd: root,
  env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: e2eJson },
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
  if (mediasoup.state !== 'ready') throw new Error('no mediasoup worker: WebRTC tests not run');
  const v = JSON.parse(readFileSync(netnsJson, 'utf8'));
  passed += v.numPassedTests;
  failed += v.numFailedTests;
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
process.exit(unitStatus === 0 && netnsStatus === 0 && e2eStatus === 0 && failed === 0 ? 0 : 1);
