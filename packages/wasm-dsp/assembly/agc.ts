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
// pauses by as much, and noise the suppressor cannot remove (babble: it is speech) then comes out
// louder than it went in. So the gain is capped, at every frame, at
//   cap = max(0, max(sourceFloor, maxOutputNoiseDbfs) − inputFloor)
// where the floors are the background levels of the source and of the AGC's own input: the
// output background (inputFloor + gain) then stays at or below the source's, or below
// maxOutputNoiseDbfs where that is quieter still. After WebRTC's AGC2, which limits the gain so
// the estimated noise stays under max_output_noise_level_dbfs
// (modules/audio_processing/agc2/adaptive_digital_gain_controller.cc); here the allowance also
// counts what the noise suppressor removed. A floor is the minimum of the smoothed frame power
// (one-pole, ≈ 100 ms) over the last NOISE_SUB_WINDOWS sub-windows (≈ 1.6 s): R. Martin's minimum
// statistics ("Noise power spectral density estimation based on optimal smoothing and minimum
// statistics", IEEE TSAP 2001) in its simplest, sub-windowed form, so a silent start or a
// dropout is forgotten after one window.
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
let maxOutputNoiseDbfs: f64 = -60;
let noiseSubWindowFrames: i32 = 10;
let noiseSmoothCoef: f64 = 0.18;
let sourcePower: f64 = -1; // smoothed frame powers (mean squares); < 0 before the first frame
let inputPower: f64 = -1;
let noiseMinPtr: usize = 0; // [sourceMin × NOISE_SUB_WINDOWS, inputMin × NOISE_SUB_WINDOWS] (f64)
let noiseFramesInSub: i32 = 0;
let noiseSubsFilled: i32 = 0;
let noiseSubAt: i32 = 0;
let sourceSubMin: f64 = 0;
let inputSubMin: f64 = 0;
let sourceFloorDbfs: f64 = -120;
let inputFloorDbfs: f64 = -120;
let gainCapDb: f64 = 0;

let speechFrames: i32 = 0;
let levelPower: f64 = 0;
let gainDb: f64 = 0;
let targetGainDb: f64 = 0;
let appliedGain: f32 = 1;

export function init(samples: i32): void {
  frame = heap.alloc(<usize>samples << 2);
  memory.fill(frame, 0, <usize>samples << 2);
  noiseMinPtr = heap.alloc(<usize>(2 * NOISE_SUB_WINDOWS) << 3);
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
 * the source's is quieter; the floors are minima over sub-windows of `subWindowFrames` frames.
 */
export function noiseCapConfigure(maxNoiseDbfs: f64, subWindowFrames: i32, smooth: f64): void {
  maxOutputNoiseDbfs = maxNoiseDbfs;
  noiseSubWindowFrames = subWindowFrames;
  noiseSmoothCoef = smooth;
  reset();
}

export function reset(): void {
  sourcePower = -1;
  inputPower = -1;
  noiseFramesInSub = 0;
  noiseSubsFilled = 0;
  noiseSubAt = 0;
  sourceSubMin = 0;
  inputSubMin = 0;
  sourceFloorDbfs = -120;
  inputFloorDbfs = -120;
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
export function inputNoiseFloorDbfs(): f64 {
  return inputFloorDbfs;
}
export function speechLevelDbfs(): f64 {
  return speechFrames > 0 ? 10.0 * Math.log10(Math.max(levelPower, 1e-12)) : -120.0;
}

// @ts-ignore: decorator
@inline
function powerDbfs(p: f64): f64 {
  return p > 1e-12 ? 10.0 * Math.log10(p) : -120.0;
}

// Feeds one frame's powers to the floor trackers: each is smoothed first (so babble's syllable
// dips, which the suppressor deepens, do not pass for its background level), then the floors
// are the minima over the filled sub-windows and the current one.
function trackNoise(sourceMeanSquare: f64, inputMeanSquare: f64): void {
  if (sourcePower < 0) {
    sourcePower = sourceMeanSquare;
    inputPower = inputMeanSquare;
  } else {
    sourcePower += noiseSmoothCoef * (sourceMeanSquare - sourcePower);
    inputPower += noiseSmoothCoef * (inputMeanSquare - inputPower);
  }
  const sourceDbfs = powerDbfs(sourcePower);
  const inputDbfs = powerDbfs(inputPower);
  if (noiseFramesInSub == 0) {
    sourceSubMin = sourceDbfs;
    inputSubMin = inputDbfs;
  } else {
    sourceSubMin = Math.min(sourceSubMin, sourceDbfs);
    inputSubMin = Math.min(inputSubMin, inputDbfs);
  }
  noiseFramesInSub++;
  let src = sourceSubMin;
  let inp = inputSubMin;
  for (let k = 0; k < noiseSubsFilled; k++) {
    src = Math.min(src, load<f64>(noiseMinPtr + (<usize>k << 3)));
    inp = Math.min(inp, load<f64>(noiseMinPtr + (<usize>(k + NOISE_SUB_WINDOWS) << 3)));
  }
  sourceFloorDbfs = src;
  inputFloorDbfs = inp;
  if (noiseFramesInSub == noiseSubWindowFrames) {
    store<f64>(noiseMinPtr + (<usize>noiseSubAt << 3), sourceSubMin);
    store<f64>(noiseMinPtr + (<usize>(noiseSubAt + NOISE_SUB_WINDOWS) << 3), inputSubMin);
    noiseSubAt = (noiseSubAt + 1) % NOISE_SUB_WINDOWS;
    if (noiseSubsFilled < NOISE_SUB_WINDOWS) noiseSubsFilled++;
    noiseFramesInSub = 0;
  }
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
    const allowed = Math.max(sourceFloorDbfs, maxOutputNoiseDbfs) - inputFloorDbfs;
    gainCapDb = Math.min(Math.max(allowed, 0.0), maxGainDb);
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
