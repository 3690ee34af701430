// Runs a command in a network namespace whose only interface is loopback (`lo`), so WebRTC
// media (mediasoup's UDP ports, Chromium's ICE candidates) never leaves the machine and never
// depends on the host's interfaces. Root gets a plain `unshare -n`; others a user namespace
// (`unshare -rn`). Usage: node scripts/netns.mjs <command> [args...]; exits with its status.
import { spawnSync } from 'node:child_process';

/**
 * Runs `cmd args` inside a fresh loopback-only network namespace.
 * @returns the command's exit status (1 when it could not start).
 */
export function runInNetns(cmd, args, options = {}) {
  const quoted = [cmd, ...args].map((a) => `'${String(a).replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync(
    'unshare',
    [
      process.getuid?.() === 0 ? '-n' : '-rn',
      'sh',
      '-c',
      // `ip` lives in /usr/sbin, off a normal user's PATH.
      `PATH="$PATH:/usr/sbin:/sbin"; ip link set lo up && exec ${quoted}`,
    ],
    { stdio: 'inherit', ...options },
  );
  if (r.error) console.error(`netns: could not run unshare: ${r.error.message}`);
  return r.status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) {
    console.error('usage: node scripts/netns.mjs <command> [args...]');
    process.exit(2);
  }
  process.exit(runInNetns(cmd, args));
}
