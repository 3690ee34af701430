// `npm run start:cluster` (scripts/start-cluster.mjs) as a person runs it: Redis, three nodes
// and HAProxy come up, clients reach the nodes through the balancer, Ctrl+C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RawClient } from './harness.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/start-cluster.mjs', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm run start:cluster', () => {
  // Needs Debian's haproxy and redis-server (scripts/system-deps.mjs, .ci/run install them).
  it('starts Redis, three nodes and HAProxy; clients join through the balancer; SIGINT stops all of it', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [SCRIPT], {
      env: { ...process.env, CONCORD_PORT: String(port), CONCORD_CLUSTER_QUIET: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = await new Promise<{ nodes: Array<{ id: string; port: number }> }>(
      (resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no cluster-ready line')), 60_000);
        child.once('exit', (code) => reject(new Error(`start:cluster exited ${code}`)));
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (!line.startsWith('{"event":"cluster-ready"')) return;
          clearTimeout(timer);
          resolve(JSON.parse(line) as { nodes: Array<{ id: string; port: number }> });
        });
      },
    );
    expect(ready.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
      nodes: number;
      redis: string;
    };
    expect(health).toMatchObject({ nodes: 3, redis: 'up' });
    // Two clients through the balancer (source-hashed to one node) and one straight to n3.
    const url = `ws://127.0.0.1:${port}/gateway`;
    const a = await RawClient.identified(url, 'dev:alice');
    const b = await RawClient.identified(url, 'dev:bob', '127.0.0.2');
    const c = await RawClient.identified(
      `ws://127.0.0.1:${ready.nodes[2]!.port}/gateway`,
      'dev:carol',
    );
    await a.join('demo');
    await b.join('demo');
    await c.join('demo');
    await a.waitForCount((m) => 't' in m && m.t === 'PARTICIPANT_JOINED', 2);
    for (const x of [a, b, c]) x.close();
    // Pids of what the script started, to check that nothing outlives it.
    const pids = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map(Number);
    expect(pids.length).toBe(5); // redis, three nodes, haproxy
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGINT');
    });
    expect(code).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  }, 90_000);
});
