/** Stopband attenuation of the resampler's anti-alias/anti-image filter, in dB. */
export const RESAMPLER_STOPBAND_DB = 90;
/** Taps of the filter counted at the lower of the two rates (its length in those samples). */
export const RESAMPLER_BASE_TAPS = 64;
/** Most polyphase branches (L) accepted: bounds the coefficient table to 2,048 × T floats. */
export const RESAMPLER_MAX_PHASES = 2048;

/** A polyphase filter bank for converting `inRateHz` to `outRateHz`. */
export interface ResamplerDesign {
  /** Up-sampling factor L (phases): `outRateHz / gcd`. */
  phases: number;
  /** Down-sampling factor M: `inRateHz / gcd`. */
  decimation: number;
  /** Taps per phase T (a multiple of 8), counted in input samples. */
  taps: number;
  /** Coefficients, phase after phase, each phase's T taps reversed (oldest input first). */
  coeffs: Float32Array;
  /** Passband edge (ripple within ±0.0003 dB up to here), in Hz. */
  passbandHz: number;
  /** Group delay of the filter, in output samples. */
  delayOutputSamples: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

// Zeroth-order modified Bessel function of the first kind (power series; converges fast for
// the β ≤ 10 used here).
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

const cache = new Map<string, ResamplerDesign>();

/**
 * Designs (and caches) the Kaiser-windowed-sinc polyphase bank for `inRateHz` → `outRateHz`.
 * Stopband from the lower rate's Nyquist up, {@link RESAMPLER_STOPBAND_DB} down; Kaiser's
 * length and β formulas (J. F. Kaiser, "Nonrecursive digital filter design using the I0-sinh
 * window function", ISCAS 1974). Any thread; allocates once per rate pair.
 * @throws {RangeError} when a rate is not an integer in [1,000, 384,000] Hz or the reduced
 * ratio needs more than {@link RESAMPLER_MAX_PHASES} phases.
 */
export function designResampler(inRateHz: number, outRateHz: number): ResamplerDesign {
  for (const [name, v] of [
    ['inRateHz', inRateHz],
    ['outRateHz', outRateHz],
  ] as const) {
    if (!Number.isInteger(v) || v < 1000 || v > 384_000) {
      throw new RangeError(`${name} must be an integer in [1000, 384000], got ${v}`);
    }
  }
  const key = `${inRateHz}>${outRateHz}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const g = gcd(inRateHz, outRateHz);
  const phases = outRateHz / g;
  const decimation = inRateHz / g;
  if (phases > RESAMPLER_MAX_PHASES) {
    throw new RangeError(
      `cannot resample ${inRateHz} Hz to ${outRateHz} Hz: the ratio ${phases}/${decimation} ` +
        `needs more than ${RESAMPLER_MAX_PHASES} phases`,
    );
  }
  const lowerHz = Math.min(inRateHz, outRateHz);
  const taps = Math.ceil((RESAMPLER_BASE_TAPS * Math.max(1, decimation / phases)) / 8) * 8;
  const a = RESAMPLER_STOPBAND_DB;
  const beta = a > 50 ? 0.1102 * (a - 8.7) : 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21);
  const transitionHz = ((a - 7.95) / (14.36 * RESAMPLER_BASE_TAPS)) * lowerHz;
  const cutoffHz = lowerHz / 2 - transitionHz / 2;
  const length = phases * taps;
  const centre = (length - 1) / 2;
  const fc = cutoffHz / (inRateHz * phases); // cycles per up-sampled sample
  const i0beta = besselI0(beta);
  const coeffs = new Float32Array(length);
  for (let p = 0; p < phases; p++) {
    for (let j = 0; j < taps; j++) {
      const n = p + j * phases;
      const t = n - centre;
      const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
      const r = (2 * n) / (length - 1) - 1;
      const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta;
      coeffs[p * taps + (taps - 1 - j)] = phases * sinc * window;
    }
  }
  const design: ResamplerDesign = {
    phases,
    decimation,
    taps,
    coeffs,
    passbandHz: lowerHz / 2 - transitionHz,
    delayOutputSamples: centre / decimation,
  };
  cache.set(key, design);
  return design;
}
