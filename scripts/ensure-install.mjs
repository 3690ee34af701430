// Installs npm dependencies when node_modules is missing or older than the lockfile.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function ensureNodeModules(root) {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-fund', '--no-audit'], { cwd: root, stdio: 'inherit' });
}

export function build(root) {
  console.log('building (npm run build)');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}

// The mediasoup worker (WebRTC SFU) is built by its own script: see ensure-mediasoup.mjs.
export { ensureMediasoup, startMediasoupBuild } from './ensure-mediasoup.mjs';
