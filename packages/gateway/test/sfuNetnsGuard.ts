// globalSetup of vitest.netns.config.ts: WebRTC test traffic must stay on loopback, so refuse to
// run unless the only network interface is `lo` (a namespace made by `unshare -n`).
import { networkInterfaces } from 'node:os';

/** Throws unless this process sees only the loopback interface. */
export function setup(): void {
  const names = Object.keys(networkInterfaces());
  const others = names.filter((n) => n !== 'lo');
  if (others.length > 0 || !names.includes('lo'))
    throw new Error(
      `WebRTC tests run only in a loopback-only network namespace (interfaces here: ${names.join(', ') || 'none'}). ` +
        "Run them as: unshare -n sh -c 'ip link set lo up && exec npx vitest run -c vitest.netns.config.ts' " +
        '(or `npm test`, which does).',
    );
}
