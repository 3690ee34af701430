// System packages the tests need, from Debian: Chromium for the e2e suite, espeak-ng and sox
// for speech test signals, redis-server for the cluster tests (they start their own server on
// a fresh port; the Debian service is never used), haproxy for `npm run start:cluster` (the
// load balancer in front of the nodes; started by the script, never as a service). Installed when missing and running as root;
// otherwise the exact command to run is printed and the caller stops.
import { execFileSync, spawnSync } from 'node:child_process';

/** Debian package → a binary it provides. */
export const SYSTEM_PACKAGES = {
  chromium: 'chromium',
  'espeak-ng': 'espeak-ng',
  sox: 'sox',
  'redis-server': 'redis-server',
  haproxy: 'haproxy',
};

function has(binary) {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/** Installs missing system packages (root only). Returns false when the user must act. */
export function ensureSystemDeps() {
  const missing = Object.entries(SYSTEM_PACKAGES)
    .filter(([, bin]) => !has(bin))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return true;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(
      `\nMissing system packages: ${missing.join(', ')}. Install them first:\n\n  sudo sh -c '${command}'\n`,
    );
    return false;
  }
  console.log(`installing system packages: ${missing.join(', ')}`);
  execFileSync('sh', ['-c', command], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return true;
}
