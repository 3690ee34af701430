#!/usr/bin/env node
// concord-load: Node bots against Concord gateways (idle, talking, churning), bounded in count
// and time, spread over worker processes and source addresses. See `concord-load --help`.
import { fork, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LOAD_USAGE, LoadOptionsError, parseLoadOptions, type LoadOptions } from './options.js';
import { newCounters, type WorkerStats } from './stats.js';

type WorkerMessage =
  | { type: 'started' }
  | { type: 'ramped' }
  | { type: 'progress'; stats: WorkerStats }
  | { type: 'done'; stats: WorkerStats }
  | { type: 'error'; message: string };

const FLAGS = [
  'url',
  'bots',
  'mode',
  'duration',
  'room-size',
  'processes',
  'addresses',
  'ramp',
  'secret',
  'user-prefix',
] as const;

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function sum(all: WorkerStats[]): Omit<WorkerStats, 'rtts'> {
  const out = newCounters();
  for (const s of all) for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] += s[k];
  return out;
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(FLAGS.map((f) => [f, { type: 'string' as const }])),
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new LoadOptionsError(`${(err as Error).message} (see --help)`);
  }
  if (values['help']) {
    console.log(LOAD_USAGE);
    return 0;
  }
  const options: LoadOptions = parseLoadOptions(
    values as Record<string, string | undefined>,
    process.env,
  );
  const workers: ChildProcess[] = [];
  const latest = new Map<ChildProcess, WorkerStats>();
  const finals = new Map<ChildProcess, WorkerStats>();
  const share = Math.ceil(options.bots / options.processes);
  const startedAt = performance.now();
  let ramped = 0;
  await Promise.all(
    Array.from(
      { length: options.processes },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const w = fork(new URL('./worker.js', import.meta.url), [], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          workers.push(w);
          w.on('message', (m: WorkerMessage) => {
            if (m.type === 'started') {
              w.send({
                cmd: 'start',
                options,
                firstBot: i * share,
                count: Math.max(0, Math.min(share, options.bots - i * share)),
                rampPerSec: options.rampPerSec / options.processes,
              });
              resolve();
            } else if (m.type === 'ramped') ramped++;
            else if (m.type === 'progress') latest.set(w, m.stats);
            else if (m.type === 'done') finals.set(w, m.stats);
            else if (m.type === 'error') reject(new Error(`worker ${i}: ${m.message}`));
          });
          w.once('exit', (code) => {
            if (!finals.has(w)) reject(new Error(`worker ${i} exited (${code}) early`));
          });
        }),
    ),
  );
  let interrupted = false;
  const stopAll = (): void => {
    for (const w of workers) if (w.connected) w.send({ cmd: 'stop' });
  };
  process.on('SIGINT', () => {
    interrupted = true;
    stopAll();
  });
  const progress = setInterval(() => {
    const s = sum([...latest.values()]);
    console.error(
      `[concord-load] ${((performance.now() - startedAt) / 1000).toFixed(0)} s: ${s.ready}/${options.bots} ready, ${s.failed} failed, ${s.dropped} dropped, ${s.framesReceived} frames in, ${s.churns} churns`,
    );
  }, 5_000);
  // The run: ramp (bounded by bots / rate, plus 30 s of slack), then the duration.
  const rampDeadline = performance.now() + (options.bots / options.rampPerSec) * 1000 + 30_000;
  while (ramped < workers.length && performance.now() < rampDeadline && !interrupted)
    await new Promise((r) => setTimeout(r, 100));
  const rampMs = performance.now() - startedAt;
  const endAt = performance.now() + options.durationSec * 1000;
  while (performance.now() < endAt && !interrupted) await new Promise((r) => setTimeout(r, 100));
  stopAll();
  const hardStop = performance.now() + 10_000;
  while (finals.size < workers.length && performance.now() < hardStop)
    await new Promise((r) => setTimeout(r, 50));
  clearInterval(progress);
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  const all = [...finals.values()];
  const rtts = all.flatMap((s) => s.rtts).sort((a, b) => a - b);
  const total = sum(all);
  const round = (x: number | null): number | null =>
    x === null ? null : Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      event: 'concord-load',
      mode: options.mode,
      bots: options.bots,
      processes: options.processes,
      rampMs: Math.round(rampMs),
      connectionsPerSec: Math.round(total.ready / (rampMs / 1000)),
      durationSec: options.durationSec,
      ...total,
      heartbeatRttMs: {
        samples: rtts.length,
        p50: round(percentile(rtts, 0.5)),
        p99: round(percentile(rtts, 0.99)),
        max: round(rtts.at(-1) ?? null),
      },
      workersReported: all.length,
      interrupted,
    }),
  );
  return all.length === workers.length ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`concord-load: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
