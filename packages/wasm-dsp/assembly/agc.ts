// Automatic gain control kernel: brings active speech to a target level.
//
// Per frame: (1) the shared level/VAD core measures the *input* frame; (2) on frames it calls
// speech (probability ≥ 0.5) the active-speech power estimate moves toward the frame's power —
// a running mean over the first speech frames, then a one-pole with a floor on its coefficient
// (levelAlphaMin), loud outliers clamped to +10 dB over the estimate once it has settled, after
// the P.56 idea that only active speech counts (ITU-T P.56, method B); (3) the target gain is
// targetDbfs − estimate, within [minGainDb, maxGainDb]; (4) the applied gain moves toward it with
// separate attack (gain falling) and release (gain rising) time constants, in dB. Noise never
// moves the estimate, so the gain cannot creep up in pauses or pure noise. (5) The gain is
// ramped linearly across the frame (f32x4) and (6) the shared soft-knee limiter keeps every
// sample below its ceiling.
//
// Noise-aware gain cap (when the caller gives the level of each frame before noise suppression,
// the "source"): a gain that brings a quiet talker up lifts the background in the talker's
// pauses by as much, and noise the suppressor cannot remove (babble: it is speech, and RNNoise's
// VAD says so) then comes out louder than it went in. So the gain is capped, at every frame, at
//   cap = max(0, max(A, A + maxOutputNoiseDbfs − sourceFloor) − CAP_MARGIN_DB)
// where A is what the suppressor takes off the background, in dB: the background then comes out
// at or below its level before suppression, or below maxOutputNoiseDbfs where that is quieter.
// After WebRTC's AGC2, which limits the gain so the estimated noise stays under
// max_output_noise_level_dbfs (modules/audio_processing/agc2/adaptive_digital_gain_controller.cc);
// here the allowance also counts what the suppressor removed.
// - sourceFloor: minimum of the source power, smoothed over ~60 ms, over the last
//   NOISE_SUB_WINDOWS sub-windows (≈ 4 s): R. Martin's minimum statistics ("Noise power spectral
//   density estimation based on optimal smoothing and minimum statistics", IEEE TSAP 2001) in
//   its simplest, sub-windowed form. The window spans several sentences, so it holds through
//   long ones, and forgets a silent start or a louder background within 4 s.
// - A: frames whose smoothed source power is within BACKGROUND_MARGIN_DB of that floor are
//   background; on those, A follows (one-pole, ~0.5 s) the smoothed source-to-input power ratio
//   in dB. It starts at 0 (no gain until the suppressor has shown what it removes), so babble,
//   which the suppressor passes, keeps A near 0, while stationary noise (RNNoise takes 20–40 dB
//   off it) leaves the talker's full gain free.
import { limit, limiterInit } from './lib/limiter';
import { vadCoreProcess, vadCoreProbability, vadCoreReset } from './lib/vadCore';
export {
  limiterConfigure,
  limiterReset,
  limiterGain,
  limiterTakeMinGain,
} from './lib/limiter';
export {
  vadCoreConfigure,
  vadCoreLevelDbfs,
  vadCorePeakDbfs,
  vadCoreNoiseDbfs,
  vadCoreProbability,
  vadCoreSpeaking,
} from './lib/vadCore';

// Settled once this many speech frames were seen (0.5 s at 20 ms).
const SETTLED_FRAMES: i32 = 25;
// Frames 13 dB or more under the settled estimate do not move it.
const WEAK_FRAME_RATIO: f64 = 0.05;

let frame: usize = 0;
let targetDbfs: f64 = -18;
let minGainDb: f64 = -20;
let maxGainDb: f64 = 30;
let attackCoef: f64 = 0.18;
let releaseCoef: f64 = 0.049;
let levelAlphaMin: f64 = 0.01;
let initialGainDb: f64 = 0;

// Noise-aware gain cap.
const NOISE_SUB_WINDOWS: i32 = 8;
const BACKGROUND_MARGIN_DB: f64 = 6.0;
const CAP_MARGIN_DB: f64 = 2.0;
const MAX_ATTENUATION_DB: f64 = 60.0;
let maxOutputNoiseDbfs: f64 = -60;
let noiseSubWindowFrames: i32 = 25;
let noiseSmoothCoef: f64 = 0.28;
let attenuationCoef: f64 = 0.04;
let noiseMinPtr: usize = 0; // minima of the filled sub-windows (f64 dBFS)
let smoothedSource: f64 = -1; // smoothed powers (mean squares); < 0 before the first frame
let smoothedInput: f64 = -1;
let noiseFramesInSub: i32 = 0;
let noiseSubsFilled: i32 = 0;
let noiseSubAt: i32 = 0;
let sourceSubMin: f64 = 0;
let sourceFloorDbfs: f64 = -120;
let attenuationDb: f64 = 0;
let gainCapDb: f64 = 0;

let speechFrames: i32 = 0;
let levelPower: f64 = 0;
let gainDb: f64 = 0;
let targetGainDb: f64 = 0;
let appliedGain: f32 = 1;

export function init(samples: i32): void {
  frame = heap.alloc(<usize>samples << 2);
  memory.fill(frame, 0, <usize>samples << 2);
  noiseMinPtr = heap.alloc(<usize>NOISE_SUB_WINDOWS << 3);
  limiterInit();
  reset();
}

export function framePtr(): usize {
  return frame;
}

export function configure(
  target: f64,
  minGain: f64,
  maxGain: f64,
  attack: f64,
  release: f64,
  alphaMin: f64,
  initialGain: f64,
): void {
  targetDbfs = target;
  minGainDb = minGain;
  maxGainDb = maxGain;
  attackCoef = attack;
  releaseCoef = release;
  levelAlphaMin = alphaMin;
  initialGainDb = initialGain;
  reset();
}

/**
 * Sets the noise-aware cap: the background may reach `maxNoiseDbfs` at the output even when
 * the source's is quieter; the source floor is a minimum over sub-windows of `subWindowFrames`
 * frames of the power smoothed with `smooth`; the attenuation follows with `attenuation`.
 */
export function noiseCapConfigure(
  maxNoiseDbfs: f64,
  subWindowFrames: i32,
  smooth: f64,
  attenuation: f64,
): void {
  maxOutputNoiseDbfs = maxNoiseDbfs;
  noiseSubWindowFrames = subWindowFrames;
  noiseSmoothCoef = smooth;
  attenuationCoef = attenuation;
  reset();
}

export function reset(): void {
  smoothedSource = -1;
  smoothedInput = -1;
  noiseFramesInSub = 0;
  noiseSubsFilled = 0;
  noiseSubAt = 0;
  sourceSubMin = 0;
  sourceFloorDbfs = -120;
  attenuationDb = 0;
  gainCapDb = maxGainDb;
  vadCoreReset();
  speechFrames = 0;
  levelPower = 0;
  gainDb = initialGainDb;
  targetGainDb = initialGainDb;
  appliedGain = <f32>Math.pow(10.0, initialGainDb / 20.0);
}

export function currentGainDb(): f64 {
  return gainDb;
}
export function targetGain(): f64 {
  return targetGainDb;
}
export function noiseGainCapDb(): f64 {
  return gainCapDb;
}
export function sourceNoiseFloorDbfs(): f64 {
  return sourceFloorDbfs;
}
export function backgroundAttenuationDb(): f64 {
  return attenuationDb;
}
export function speechLevelDbfs(): f64 {
  return speechFrames > 0 ? 10.0 * Math.log10(Math.max(levelPower, 1e-12)) : -120.0;
}

// @ts-ignore: decorator
@inline
function powerDbfs(p: f64): f64 {
  return p > 1e-12 ? 10.0 * Math.log10(p) : -120.0;
}

// Feeds one frame's mean squares (source, AGC input) to the source floor and the background
// attenuation, and sets the cap.
function trackNoise(sourceMeanSquare: f64, inputMeanSquare: f64): void {
  if (smoothedSource < 0) {
    smoothedSource = sourceMeanSquare;
    smoothedInput = inputMeanSquare;
  } else {
    smoothedSource += noiseSmoothCoef * (sourceMeanSquare - smoothedSource);
    smoothedInput += noiseSmoothCoef * (inputMeanSquare - smoothedInput);
  }
  const sourceDbfs = powerDbfs(smoothedSource);
  sourceSubMin = noiseFramesInSub == 0 ? sourceDbfs : Math.min(sourceSubMin, sourceDbfs);
  noiseFramesInSub++;
  let floor = sourceSubMin;
  for (let k = 0; k < noiseSubsFilled; k++) {
    floor = Math.min(floor, load<f64>(noiseMinPtr + (<usize>k << 3)));
  }
  sourceFloorDbfs = floor;
  if (noiseFramesInSub == noiseSubWindowFrames) {
    store<f64>(noiseMinPtr + (<usize>noiseSubAt << 3), sourceSubMin);
    noiseSubAt = (noiseSubAt + 1) % NOISE_SUB_WINDOWS;
    if (noiseSubsFilled < NOISE_SUB_WINDOWS) noiseSubsFilled++;
    noiseFramesInSub = 0;
  }
  if (sourceDbfs <= floor + BACKGROUND_MARGIN_DB) {
    const ratio = sourceDbfs - powerDbfs(smoothedInput);
    const d = Math.min(Math.max(ratio, 0.0), MAX_ATTENUATION_DB);
    attenuationDb += attenuationCoef * (d - attenuationDb);
  }
  const allowed = Math.max(attenuationDb, attenuationDb + maxOutputNoiseDbfs - floor);
  gainCapDb = Math.min(Math.max(allowed - CAP_MARGIN_DB, 0.0), maxGainDb);
}

/**
 * Processes the first `n` samples (a multiple of 32) of the frame buffer in place.
 * `external` in [0, 1] is a speech probability from elsewhere (RNNoise); < 0 uses the energy VAD.
 * `sourceDbfs` is the frame's level before noise suppression (enables the noise-aware cap); NaN
 * leaves the gain uncapped.
 */
export function process(n: i32, external: f64, limited: bool, sourceDbfs: f64): void {
  const power = vadCoreProcess(frame, n, external);
  if (isNaN(sourceDbfs)) {
    gainCapDb = maxGainDb;
  } else {
    trackNoise(Math.pow(10.0, sourceDbfs / 10.0), power);
  }
  const settled = speechFrames > SETTLED_FRAMES;
  // Once settled, frames far below the estimate (weak consonants, word tails) are left out, as
  // the active-level measure leaves out frames far below the loudest ones.
  if (vadCoreProbability() >= 0.5 && !(settled && power < levelPower * WEAK_FRAME_RATIO)) {
    speechFrames++;
    let alpha = 1.0 / <f64>speechFrames;
    if (alpha < levelAlphaMin) alpha = levelAlphaMin;
    const p = settled ? Math.min(power, levelPower * 10.0) : power;
    levelPower += alpha * (p - levelPower);
    const levelDb = 10.0 * Math.log10(Math.max(levelPower, 1e-12));
    targetGainDb = Math.min(Math.max(targetDbfs - levelDb, minGainDb), maxGainDb);
  }
  const goal = Math.min(targetGainDb, gainCapDb);
  gainDb += (goal - gainDb) * (goal < gainDb ? attackCoef : releaseCoef);

  const next = <f32>Math.pow(10.0, gainDb / 20.0);
  const bytes = <usize>n << 2;
  if (next == appliedGain) {
    const g = f32x4.splat(next);
    for (let i: usize = 0; i < bytes; i += 16) {
      v128.store(frame + i, f32x4.mul(g, v128.load(frame + i)));
    }
  } else {
    const base = f32x4.splat(appliedGain);
    const step = f32x4.splat((next - appliedGain) / <f32>n);
    const four = f32x4.splat(4);
    let k = f32x4(1, 2, 3, 4);
    for (let i: usize = 0; i < bytes; i += 16) {
      const g = f32x4.add(base, f32x4.mul(step, k));
      v128.store(frame + i, f32x4.mul(g, v128.load(frame + i)));
      k = f32x4.add(k, four);
    }
    appliedGain = next;
  }
  if (limited) limit(frame, n);
}
