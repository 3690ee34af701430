import { SAMPLE_RATE_HZ } from './constants.js';

/** Settings of the soft-knee peak limiter at the end of the mixer and the AGC. */
export interface LimiterOptions {
  /** Peak level where gain reduction starts, in dBFS (default −3). */
  kneeDbfs?: number;
  /** Level the output never reaches, in dBFS (default −0.2); must exceed the knee, ≤ 0. */
  ceilingDbfs?: number;
  /** Time constant of the gain's recovery after a peak, in ms (default 100). */
  releaseMs?: number;
}

/** Samples per limiter sub-block (see assembly/lib/limiter.ts). */
export const LIMITER_SUB_BLOCK_SAMPLES = 32;

/** Linear knee, ceiling and per-sub-block release coefficient, validated. */
export interface LimiterParams {
  knee: number;
  ceiling: number;
  releaseCoef: number;
}

/**
 * Validates {@link LimiterOptions} and converts them to the kernel's linear parameters.
 * @throws {RangeError} when a value is out of range (the message names it).
 */
export function limiterParams(options: LimiterOptions = {}): LimiterParams {
  const kneeDbfs = options.kneeDbfs ?? -3;
  const ceilingDbfs = options.ceilingDbfs ?? -0.2;
  const releaseMs = options.releaseMs ?? 100;
  if (!(ceilingDbfs <= 0 && ceilingDbfs > -40)) {
    throw new RangeError(`limiter.ceilingDbfs must be in (-40, 0], got ${ceilingDbfs}`);
  }
  if (!(kneeDbfs < ceilingDbfs && kneeDbfs >= -40)) {
    throw new RangeError(`limiter.kneeDbfs must be in [-40, ceilingDbfs), got ${kneeDbfs}`);
  }
  if (!(releaseMs >= 1 && releaseMs <= 10_000)) {
    throw new RangeError(`limiter.releaseMs must be in [1, 10000], got ${releaseMs}`);
  }
  return {
    knee: 10 ** (kneeDbfs / 20),
    ceiling: 10 ** (ceilingDbfs / 20),
    releaseCoef: 1 - Math.exp(-LIMITER_SUB_BLOCK_SAMPLES / ((SAMPLE_RATE_HZ * releaseMs) / 1000)),
  };
}
