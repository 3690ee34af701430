import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// Tests that carry WebRTC traffic (*.netns.test.ts: the SFU with @roamhq/wrtc peers). libwebrtc
// gathers the machine's own network addresses as ICE candidates besides 127.0.0.1, so these
// run only inside a loopback-only network namespace — scripts/test.mjs starts them as
//   unshare -n sh -c 'ip link set lo up && exec npx vitest run -c vitest.netns.config.ts'
// (`unshare -rn` when not root) — and the guard refuses any other network. They also need the
// mediasoup worker (scripts/ensure-mediasoup.mjs). The default config excludes them.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['packages/*/test/**/*.netns.test.ts'],
    exclude: configDefaults.exclude,
    globalSetup: ['packages/gateway/test/sfuNetnsGuard.ts'],
    // One file at a time: each starts mediasoup workers and WebRTC peers on 2 shared cores.
    fileParallelism: false,
  },
});
