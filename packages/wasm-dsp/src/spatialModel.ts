// The spherical-head model's parameters, from C. P. Brown and R. O. Duda, "A structural model
// for binaural sound synthesis", IEEE Trans. Speech and Audio Processing 6(5):476–488, 1998,
// §III-A ("the head model"): per ear a one-pole one-zero head-shadow filter
//   H(s, θ) = (α(θ)·s + β) / (s + β),  β = 2c/a,
//   α(θ) = (1 + α_min/2) + (1 − α_min/2)·cos(θ/θ_min · 180°),  α_min = 0.1, θ_min = 150°,
// and a per-ear delay
//   T(θ) = −(a/c)·cos θ           for 0 ≤ θ < 90°
//   T(θ) = (a/c)·(θ − π/2)        for 90° ≤ θ ≤ 180°,
// whose left−right difference is Woodworth's ITD (a/c)·(φ + sin φ) for a source at lateral
// angle φ (R. S. Woodworth, Experimental Psychology, 1938). θ is the angle between the source
// direction and the ear's axis (0: the source faces that ear). Main thread or audio thread.

/** Speed of sound in air at 20 °C, m/s. */
export const SPEED_OF_SOUND_M_PER_S = 343;
/** Default head radius, m (Brown & Duda's 8.75 cm, the average adult head). */
export const DEFAULT_HEAD_RADIUS_M = 0.0875;
// Brown & Duda's shadow-filter constants (§III-A).
const ALPHA_MIN = 0.1;
const THETA_MIN_RAD = (150 * Math.PI) / 180;

/** Parameters of one ear for the spatial kernel. */
export interface EarParams {
  /** Head-shadow high-frequency gain α (linear; 2 facing the ear, 0.1 at 150°). */
  alpha: number;
  /** Delay of this ear, in samples (≥ 0; 0 when the source faces the ear). */
  delaySamples: number;
}

/** Parameters of both ears for one source direction. */
export interface BinauralParams {
  left: EarParams;
  right: EarParams;
}

/**
 * Angles in radians between a source direction and the left and right ear axes (each in
 * [0, π]). `azimuthRad`: 0 straight ahead, positive to the listener's left (counter-clockwise
 * seen from above); `elevationRad`: positive up. Pure.
 */
export function earAngles(azimuthRad: number, elevationRad = 0): { left: number; right: number } {
  // Component of the unit direction along the interaural axis (toward the left ear).
  const lateral = Math.max(-1, Math.min(1, Math.sin(azimuthRad) * Math.cos(elevationRad)));
  const left = Math.acos(lateral);
  return { left, right: Math.PI - left };
}

/** Brown & Duda's head-shadow coefficient α(θ) for the angle θ (radians) from the ear. Pure. */
export function headShadowAlpha(thetaRad: number): number {
  return 1 + ALPHA_MIN / 2 + (1 - ALPHA_MIN / 2) * Math.cos((thetaRad / THETA_MIN_RAD) * Math.PI);
}

/**
 * Delay of an ear, in seconds, for the angle θ (radians) from that ear: Brown & Duda's T(θ)
 * shifted by a/c so the ear facing the source has none. Pure.
 */
export function earDelaySeconds(thetaRad: number, headRadiusM = DEFAULT_HEAD_RADIUS_M): number {
  const t = headRadiusM / SPEED_OF_SOUND_M_PER_S;
  return thetaRad < Math.PI / 2 ? t * (1 - Math.cos(thetaRad)) : t * (1 + thetaRad - Math.PI / 2);
}

/**
 * Both ears' parameters for a source at (`azimuthRad`, `elevationRad`) around a head of
 * `headRadiusM` at `sampleRateHz`. Pure.
 */
export function binauralParams(
  azimuthRad: number,
  elevationRad: number,
  headRadiusM: number,
  sampleRateHz: number,
): BinauralParams {
  const { left, right } = earAngles(azimuthRad, elevationRad);
  return {
    left: {
      alpha: headShadowAlpha(left),
      delaySamples: earDelaySeconds(left, headRadiusM) * sampleRateHz,
    },
    right: {
      alpha: headShadowAlpha(right),
      delaySamples: earDelaySeconds(right, headRadiusM) * sampleRateHz,
    },
  };
}

/**
 * Coefficients of the shadow filter's shared pole, the low pass β/(s + β) with β = 2c/a,
 * by the bilinear transform (s → 2·fs·(1 − z⁻¹)/(1 + z⁻¹)):
 * lp[n] = b·(x[n] + x[n−1]) − a1·lp[n−1]. Pure.
 */
export function shadowLowPass(
  headRadiusM: number,
  sampleRateHz: number,
): { b: number; a1: number } {
  const beta = (2 * SPEED_OF_SOUND_M_PER_S) / headRadiusM;
  const k = 2 * sampleRateHz;
  return { b: beta / (k + beta), a1: (beta - k) / (k + beta) };
}
