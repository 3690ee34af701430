// Test/bench harness: a private Debian `redis-server` per test file — a fresh port and data
// directory, no system service — that can be stopped, killed and restarted on the same port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis, RedisOptions } from 'ioredis';
import { createRedis } from '../src/cluster/redisClient.js';

const INSTALL = 'apt-get install -y --no-install-recommends redis-server';

/**
 * Path of `redis-server`; installs Debian's package first when it is missing and we are root
 * (as scripts/system-deps.mjs does), otherwise throws with the command to run.
 */
export function ensureRedisServer(): string {
  const which = (): string =>
    spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  let path = which();
  if (path) return path;
  if (process.getuid?.() !== 0)
    throw new Error(`redis-server is missing: install it with  sudo sh -c '${INSTALL}'`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('sh', ['-c', INSTALL], { stdio: 'inherit', env });
  if (r.status !== 0)
    r = spawnSync('sh', ['-c', `apt-get update -qq && ${INSTALL}`], { stdio: 'inherit', env });
  path = which();
  if (r.status !== 0 || !path) throw new Error(`installing redis-server failed (${INSTALL})`);
  return path;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Options of {@link RedisServer.start}. */
export interface RedisServerOptions {
  /** Keep data across restarts (append-only file); default false: a restart loses everything. */
  persist?: boolean;
}

/** A `redis-server` child process on 127.0.0.1. */
export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly clients: Redis[] = [];

  private constructor(
    readonly binary: string,
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a server on a free port with a fresh data directory. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const binary = ensureRedisServer();
    for (let attempt = 0; ; attempt++) {
      const server = new RedisServer(
        binary,
        await freePort(),
        mkdtempSync(join(tmpdir(), 'concord-redis-')),
        options,
      );
      try {
        await server.launch();
        return server;
      } catch (err) {
        rmSync(server.dir, { recursive: true, force: true });
        if (attempt >= 3) throw err;
      }
    }
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Process id of the running server (for CPU readings in /proc). */
  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  /** Whether the server process runs. */
  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** A connection with the cluster's settings (closed by {@link destroy}). */
  connect(name = 'test', extra: RedisOptions = {}): Redis {
    const redis = createRedis(this.url, name, extra);
    this.clients.push(redis);
    return redis;
  }

  /** Stops the server: SIGTERM (a clean shutdown) or SIGKILL. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Stops and starts the server on the same port (its data survives only with `persist`). */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    await this.stop(signal);
    await this.launch();
  }

  /** Closes every connection made by {@link connect}, stops the server, removes its data. */
  async destroy(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--save',
      '',
      '--appendonly',
      this.options.persist ? 'yes' : 'no',
      '--loglevel',
      'notice',
      '--logfile',
      '',
      // The cluster state must never be evicted.
      '--maxmemory-policy',
      'noeviction',
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server did not start: ${out}`));
      }, 10_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
  }
}

/** Resolves when `cond()` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
