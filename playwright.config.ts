import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './packages/testing/src/playwright.js';

// e2e runs real Debian Chromium (never a Playwright-downloaded browser) against a real
// gateway that Playwright starts. One worker: timing-sensitive audio specs need both cores.
const PORT = Number(process.env.CONCORD_E2E_PORT ?? 8787);

export default defineConfig({
  testDir: 'e2e',
  // The latency benchmark measures and asserts almost nothing, and takes ~3 minutes: it runs
  // from `npm run bench media/latency` (which sets CONCORD_BENCH=1), not in `npm test`.
  testIgnore: process.env.CONCORD_BENCH === '1' ? [] : ['**/latency.spec.ts'],
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  reporter: process.env.CI ? [['list']] : [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    headless: true,
    // The QA kit's launch options: Debian Chromium, fake microphone and camera, no prompts,
    // autoplay allowed (specs add --use-file-for-fake-audio-capture per WAV).
    launchOptions: chromiumLaunchOptions({
      ...(process.env.CONCORD_CHROMIUM ? { executablePath: process.env.CONCORD_CHROMIUM } : {}),
    }),
  },
  webServer: {
    command: [
      'node packages/gateway/dist/cli.js',
      `--port ${PORT}`,
      '--insecure-dev-auth',
      // Test-only seeded media loss/jitter (PUT/DELETE /test/impairment): voice-impairment.spec.ts.
      '--enable-test-impairment',
      '--static /sdk/=packages/sdk/dist',
      '--static /e2e/=e2e/pages',
      '--static /party-chat/=examples/party-chat',
      '--static /=examples/voice-room',
      '--log-level warn',
      '--heartbeat-interval-ms 5000',
    ].join(' '),
    url: `http://127.0.0.1:${PORT}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
