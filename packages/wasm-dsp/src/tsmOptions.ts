// Shared by the TimeStretcher adaptor and its scalar reference: the kernel's fixed sizes (they
// mirror the constants at the top of assembly/tsm.ts) and option validation.

/** Past output the time stretcher keeps as context, in samples (40 ms at 48 kHz). */
export const TSM_HISTORY_SAMPLES = 1920;
/** Longest input per call, in samples (60 ms at 48 kHz). */
export const TSM_MAX_INPUT_SAMPLES = 2880;
/** Shortest pitch period searched, in samples (2.5 ms: 400 Hz). */
export const TSM_MIN_PERIOD_SAMPLES = 120;
/** Longest pitch period searched, in samples (20 ms: 50 Hz). */
export const TSM_MAX_PERIOD_SAMPLES = 960;
/**
 * Shortest cross-fade, in samples (1.25 ms). An accelerate needs `input.length ≥ period + 61`
 * (the cross-fade plus one sample after it), so a 10 ms input (480) can lose periods up to 419
 * samples (F0 ≥ ~115 Hz) and a 20 ms input periods up to 899 (F0 ≥ ~53 Hz).
 */
export const TSM_MIN_OVERLAP_SAMPLES = 60;

/** Options of {@link TimeStretcher} (and its scalar reference). */
export interface TimeStretcherOptions {
  /**
   * Normalised correlation (0–1) between the two pitch periods that a splice overlaps, at or
   * above which a loud frame counts as voiced and is stretched. Default 0.9 (WebRTC NetEq's
   * `kCorrelationThreshold`, 14746 in Q14, modules/audio_coding/neteq/time_stretch.h).
   */
  correlationThreshold?: number;
  /**
   * When both compared periods are below this level (mean square, in dBFS), a frame is
   * stretched whatever its correlation: a splice in near-silence is inaudible (NetEq stretches
   * low-energy frames too). Default −45, the jitter buffer's quiet-frame level. −120 turns it
   * off.
   */
  quietDbfs?: number;
}

/**
 * Validates {@link TimeStretcherOptions}; returns the kernel's `configure` arguments
 * (threshold, quiet level as a mean square of full scale 1).
 * @throws {RangeError} naming the option that is out of range.
 */
export function tsmParams(options: TimeStretcherOptions = {}): [number, number] {
  const threshold = options.correlationThreshold ?? 0.9;
  const quietDbfs = options.quietDbfs ?? -45;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(`correlationThreshold must be in [0, 1], got ${threshold}`);
  }
  if (!(quietDbfs >= -120 && quietDbfs <= 0)) {
    throw new RangeError(`quietDbfs must be in [-120, 0], got ${quietDbfs}`);
  }
  return [threshold, 10 ** (quietDbfs / 10)];
}

/** What one call of a time stretcher did. */
export type TimeStretchOutcome =
  /** `passThrough`: the frame was recorded as played unchanged. */
  | 'passed'
  /** Voiced (correlation ≥ threshold): one pitch period removed or inserted. */
  | 'voiced'
  /**
   * Quiet (both periods < quietDbfs): the best lag found removed or inserted anyway; for an
   * accelerate whose period does not fit, the longest lag that does.
   */
  | 'quiet'
  /** Refused: loud but not periodic enough (unvoiced speech, noise, music); output = input. */
  | 'lowCorrelation'
  /**
   * Refused: loud, and the period found does not fit (accelerate needs input ≥ period + 61;
   * pass two frames at once for low voices); output = input.
   */
  | 'noRoom';

/** Outcome names by the kernel's code (stats[0] in assembly/tsm.ts). */
export const TSM_OUTCOMES: readonly TimeStretchOutcome[] = [
  'passed',
  'voiced',
  'quiet',
  'lowCorrelation',
  'noRoom',
];

/**
 * Checks an input frame's length.
 * @throws {RangeError} unless `input` is a Float32Array of 1–2880 samples.
 */
export function checkTsmInput(input: Float32Array): number {
  if (
    !(input instanceof Float32Array) ||
    input.length < 1 ||
    input.length > TSM_MAX_INPUT_SAMPLES
  ) {
    throw new RangeError(
      `input must be a Float32Array of 1–${TSM_MAX_INPUT_SAMPLES} samples, got ${describe(input)}`,
    );
  }
  return input.length;
}

/**
 * Checks that `output` can hold `needed` samples.
 * @throws {RangeError} when it is not a Float32Array of at least `needed` samples.
 */
export function checkTsmOutput(output: Float32Array, needed: number, what: string): void {
  if (!(output instanceof Float32Array) || output.length < needed) {
    throw new RangeError(
      `output must be a Float32Array of at least ${needed} samples for ${what}, got ${describe(output)}`,
    );
  }
}

function describe(a: unknown): string {
  return a instanceof Float32Array ? `${a.length}` : typeof a;
}
