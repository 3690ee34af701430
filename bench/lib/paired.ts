// Interleaved timing for same-run comparisons on a shared, noisy machine: batches of each
// candidate alternate (A, B, A, B, …), so load from other work hits every candidate alike, and the
// ratio is taken batch pair by batch pair before its median is taken.
import { percentile, type Timing } from './harness.js';

/** Timing of one candidate in {@link pairedUs}, plus its ratio to the first candidate. */
export interface PairedTiming extends Timing {
  /** Median over batch rounds of (this candidate's batch time / the first candidate's). */
  ratioToFirst: number;
  /** This process's CPU time per call over this candidate's batches, in µs. */
  cpuUs: number;
}

/**
 * Times each of `fns` in `batches` rounds; in every round each candidate runs `batchSize` calls,
 * in turn. `warmupCalls` calls of each come first. Returns per-call µs per candidate, in order.
 */
export function pairedUs(
  fns: readonly (() => void)[],
  { batches = 31, batchSize = 50, warmupCalls = 300 } = {},
): PairedTiming[] {
  for (const fn of fns) for (let i = 0; i < warmupCalls; i++) fn();
  const samples: number[][] = fns.map(() => []);
  const cpu = fns.map(() => 0);
  for (let b = 0; b < batches; b++) {
    fns.forEach((fn, k) => {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < batchSize; i++) fn();
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / 1000 / batchSize);
      const c = process.cpuUsage(c0);
      cpu[k]! += c.user + c.system;
    });
  }
  return samples.map((s, k) => {
    const ratios = s.map((v, b) => v / samples[0]![b]!).sort((x, y) => x - y);
    const sorted = [...s].sort((x, y) => x - y);
    return {
      medianUs: percentile(sorted, 0.5),
      p95Us: percentile(sorted, 0.95),
      minUs: sorted[0]!,
      ratioToFirst: percentile(ratios, 0.5),
      cpuUs: cpu[k]! / (batches * batchSize),
    };
  });
}
