// concord-load (bin) against a real gateway: bots in worker processes over several source
// addresses identify, heartbeat, join rooms and exchange media; one JSON summary at the end.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/concord-load.js', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('concord-load', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(['--insecure-dev-auth', '--log-level', 'warn']);
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('--help explains the modes and bounds; bad options exit 2 with the reason', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--mode MODE/);
    expect(help.stdout).toMatch(/churning/);
    const bad = await run(['--url', gw.url, '--bots', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--bots must be an integer from 1/);
  });

  it('talking bots over 2 processes and 2 source addresses join rooms of 5 and hear each other', async () => {
    const r = await run([
      '--url',
      gw.url,
      '--bots',
      '20',
      '--mode',
      'talking',
      '--room-size',
      '5',
      '--processes',
      '2',
      '--addresses',
      '127.0.0.2-127.0.0.3',
      '--duration',
      '2',
      '--user-prefix',
      'lt',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      event: 'concord-load',
      bots: 20,
      processes: 2,
      ready: 20,
      joined: 20,
      failed: 0,
      dropped: 0,
      workersReported: 2,
    });
    // 2 s of 50 frames/s from each of 20 bots, each heard by the 4 others of its room.
    expect(summary['framesSent']).toBeGreaterThan(20 * 50);
    expect(summary['framesReceived']).toBeGreaterThan(20 * 50);
    expect((summary['heartbeatRttMs'] as { samples: number }).samples).toBeGreaterThanOrEqual(20);
  });
});
