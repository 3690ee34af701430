// The `concord-gateway` CLI as a user meets it: the real process started through its committed
// bin launcher (what `npx concord-gateway` runs), answering mistakes with messages that name the
// fix. Needs `npm run build` (the launcher loads dist/cli.js).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_SECRET, type GatewayProcess } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/concord-gateway.js', import.meta.url));
const HELP_HINT = 'Run "concord-gateway --help" to see every option.';

/** Runs the CLI to completion; resolves with its exit code, stdout and stderr. */
function runCli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // Only the variables a test sets: a CONCORD_* of the caller's shell must not leak in.
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('CONCORD_')),
    );
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...clean, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const gateways: GatewayProcess[] = [];
afterAll(async () => {
  for (const g of gateways) await g.stop('SIGKILL');
});

describe('concord-gateway CLI errors', () => {
  it('the launcher says to build first when dist/cli.js is missing (a fresh clone)', async () => {
    const pkg = mkdtempSync(join(tmpdir(), 'concord-launcher-'));
    mkdirSync(join(pkg, 'bin'));
    copyFileSync(BIN, join(pkg, 'bin', 'concord-gateway.js'));
    writeFileSync(join(pkg, 'package.json'), '{"type":"module"}');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(pkg, 'bin', 'concord-gateway.js'), '--help'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('dist/cli.js is missing');
    expect(r.stderr).toContain('npm run build');
  });

  it('prints the help through the launcher', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('concord-gateway token --user ID');
    expect(stdout).toContain('--static <prefix>=<dir>');
  });

  it('suggests the nearest flag and --help for an unknown flag', async () => {
    for (const [typed, meant] of [
      ['--prot', '--port'],
      ['--portt', '--port'],
      ['--max-conections', '--max-connections'],
      ['--allowed-origin', '--allowed-origins'],
      ['--insecure-dev-uath', '--insecure-dev-auth'],
    ] as const) {
      const { code, stderr } = await runCli([typed, '1']);
      expect(code, typed).toBe(2);
      expect(stderr.trim(), typed).toBe(
        `concord-gateway: unknown option ${typed}. Did you mean ${meant}? ${HELP_HINT}`,
      );
    }
  });

  it('names no flag when none is near, and still points to --help', async () => {
    const { code, stderr } = await runCli(['--frobnicate']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`concord-gateway: unknown option --frobnicate. ${HELP_HINT}`);
  });

  it('says when a flag lacks its value or a switch is given one', async () => {
    const missing = await runCli(['--port']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--port needs a value: --port <value>.');
    const switched = await runCli(['--insecure-dev-auth=yes']);
    expect(switched.code).toBe(2);
    expect(switched.stderr).toContain('--insecure-dev-auth is a switch and takes no value');
  });

  it('refuses --ttl abc with the unit and an example, never "NaN"', async () => {
    const { code, stdout, stderr } = await runCli([
      'token',
      '--secret',
      TEST_SECRET,
      '--user',
      'alice',
      '--ttl',
      'abc',
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(
      '--ttl is the token\'s lifetime in whole seconds (for example --ttl 3600), got "abc"',
    );
    expect(stderr).not.toContain('NaN');
  });

  it('mints a token when the flags are right', async () => {
    const { code, stdout } = await runCli(['token', '--secret', TEST_SECRET, '--user', 'alice']);
    expect(code).toBe(0);
    expect(stdout.trim().split('.')).toHaveLength(3);
  });

  it('names the environment variable when a number from the environment is wrong', async () => {
    const { code, stderr } = await runCli([], { CONCORD_PORT: 'eighty' });
    expect(code).toBe(2);
    expect(stderr).toContain('CONCORD_PORT must be a number, got "eighty"');
  });

  it('refuses a port outside 0-65535', async () => {
    const { code, stderr } = await runCli(['--port', '70000', '--insecure-dev-auth']);
    expect(code).toBe(2);
    expect(stderr).toContain('--port must be a whole number from 0 to 65535');
  });

  it('suggests the nearest command', async () => {
    const { code, stderr } = await runCli(['srve']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "srve". Did you mean "serve"?');
  });

  it('says that token flags belong to the token command', async () => {
    const { code, stderr } = await runCli(['--user', 'bob', '--insecure-dev-auth']);
    expect(code).toBe(2);
    expect(stderr).toContain('--user belongs to the token command');
  });

  it('checks that a --static folder exists before listening', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'concord-cli-')), 'no-such-folder');
    const gone = await runCli(['--insecure-dev-auth', '--port', '0', '--static', `/=${missing}`]);
    expect(gone.code).toBe(2);
    expect(gone.stdout).not.toContain('"event":"listening"');
    expect(gone.stderr).toContain(`the folder "${missing}" does not exist`);

    const file = join(mkdtempSync(join(tmpdir(), 'concord-cli-')), 'page.html');
    writeFileSync(file, '<p>hi</p>');
    const notDir = await runCli([
      '--insecure-dev-auth',
      '--port',
      '0',
      '--static',
      `/app/=${file}`,
    ]);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toContain('is a file, not a folder');
  });

  it('says which port is in use and how to pick another', async () => {
    const first = await startGateway();
    gateways.push(first);
    const { code, stderr } = await runCli(['--port', String(first.port)], {
      CONCORD_SECRET: TEST_SECRET,
    });
    expect(code).toBe(2);
    expect(stderr).toContain(`port ${first.port} on 127.0.0.1 is already in use`);
    expect(stderr).toContain(`--port ${first.port + 1}`);
    expect(stderr).toContain('--port 0 picks any free port');
  });
});
