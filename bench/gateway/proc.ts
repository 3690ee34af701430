// Process helpers for the gateway benchmarks: /proc readings of the gateway process and
// client worker processes forked with tsx. Linux only.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Kernel clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK = 100;

/** Repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Source addresses for client sockets (ENVIRONMENT.md: avoids running out of ports). */
export const SOURCE_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** User + system CPU time of `pid` so far, in ms (from /proc/<pid>/stat utime + stime). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Throws with the build command when the gateway CLI has not been built. */
export function requireGatewayBuild(): void {
  if (!existsSync(`${ROOT}packages/gateway/dist/cli.js`)) {
    throw new Error('packages/gateway/dist/cli.js is missing: run `npx tsc -b` first');
  }
}

/** A forked client worker speaking JSON messages over IPC. */
export interface Worker<Out> {
  child: ChildProcess;
  /** Resolves with the next message matching `type`, rejecting after `timeoutMs`. */
  next<T extends Out>(type: string, timeoutMs: number): Promise<T>;
  send(message: unknown): void;
  /** Asks the worker to exit, killing it after 2 s (idempotent). */
  stop(): Promise<void>;
}

/** Forks `script` (a file next to this one) under tsx, with arguments and extra Node flags. */
export function forkWorker<Out extends { type: string }>(
  script: string,
  args: string[] = [],
  execArgv: string[] = [],
): Worker<Out> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const queue: Out[] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m) => {
    queue.push(m as Out);
    for (const w of waiters.splice(0)) w();
  });
  child.on('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    async next<T extends Out>(type: string, timeoutMs: number): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = queue.findIndex((m) => m.type === type);
        if (i >= 0) return queue.splice(i, 1)[0] as T;
        const err = queue.find((m) => m.type === 'error');
        if (err) throw new Error(`worker failed: ${JSON.stringify(err)}`);
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`worker exited (${child.exitCode ?? child.signalCode})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for "${type}" from a worker`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    send(message: unknown) {
      if (child.connected) child.send(message as object);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.connected) child.send({ cmd: 'exit' });
      const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Share of time some runnable task waited for a CPU over the last 10 s (Linux PSI), in %. */
export function cpuPressurePct(): number | null {
  try {
    const m = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // no PSI on this kernel
  }
}
