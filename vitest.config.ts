import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const pkg = (name: string): string =>
  fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against sources: `@concord/*` resolves to each package's src/index.ts, so unit
// tests need no build. Integration tests that spawn the gateway CLI use the built dist/.
export default defineConfig({
  resolve: {
    alias: {
      '@concord/protocol': pkg('protocol'),
      '@concord/gateway': pkg('gateway'),
      '@concord/sdk': pkg('sdk'),
      '@concord/wasm-dsp': pkg('wasm-dsp'),
      '@concord/audio-worklet': pkg('audio-worklet'),
      '@concord/testing': pkg('testing'),
    },
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'bench/**/*.test.ts',
      'examples/**/*.test.mjs',
    ],
    // WebRTC tests run in a loopback-only network namespace: vitest.netns.config.ts.
    exclude: [...configDefaults.exclude, '**/*.netns.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
