// Shared benchmark harness: timing with warm-up, medians over repeated batches, JSON output.
// Benchmarks are measurements, not tests: they never fail on a number, they report it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured quantity. */
export interface BenchRow {
  /** What was measured, e.g. `mixer.simd.8x960`. */
  name: string;
  /** Median value in `unit`. */
  median: number;
  /** 95th percentile in `unit`, when meaningful. */
  p95?: number;
  /** Unit of `median`/`p95`, e.g. `us/frame`, `bytes`, `msg/s`. */
  unit: string;
  /** The goal for this row, as text (e.g. `<= 1 us`), and whether the median meets it. */
  goal?: string;
  met?: boolean;
  /** Anything else worth recording (ratios, baselines, parameters). */
  [extra: string]: unknown;
}

/** Timing summary of {@link timeUs}, all in µs per call. */
export interface Timing {
  medianUs: number;
  p95Us: number;
  minUs: number;
}

/**
 * Times `fn` in batches: `batches` samples of `batchSize` calls each after `warmupCalls` calls,
 * returning the median/p95/min of the per-call time of each batch, in µs.
 */
export function timeUs(
  fn: () => void,
  { batches = 41, batchSize = 200, warmupCalls = 2_000 } = {},
): Timing {
  for (let i = 0; i < warmupCalls; i++) fn();
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batchSize; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / batchSize);
  }
  samples.sort((a, c) => a - c);
  return {
    medianUs: percentile(samples, 0.5),
    p95Us: percentile(samples, 0.95),
    minUs: samples[0]!,
  };
}

/** Percentile `p` in [0, 1] of an ascending-sorted array (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx]!;
}

/** Rounds for display and JSON (3 significant decimals is plenty for noisy machines). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/**
 * Writes `bench/results/<suite>.json` and prints a table. `meta` records machine facts and
 * parameters next to the rows.
 */
export function report(suite: string, rows: BenchRow[], meta: Record<string, unknown> = {}): void {
  mkdirSync(resultsDir, { recursive: true });
  const doc = {
    suite,
    date: new Date().toISOString(),
    node: process.version,
    cpus: (globalThis.process?.env?.BENCH_CPUS as string | undefined) ?? undefined,
    ...meta,
    rows,
  };
  writeFileSync(join(resultsDir, `${suite}.json`), JSON.stringify(doc, null, 2) + '\n');
  console.log(`\n== ${suite} ==`);
  console.table(
    rows.map((r) => ({
      name: r.name,
      median: round(r.median),
      p95: r.p95 === undefined ? '' : round(r.p95),
      unit: r.unit,
      goal: r.goal ?? '',
      met: r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    })),
  );
}
