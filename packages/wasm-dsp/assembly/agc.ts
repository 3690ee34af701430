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

let speechFrames: i32 = 0;
let levelPower: f64 = 0;
let gainDb: f64 = 0;
let targetGainDb: f64 = 0;
let appliedGain: f32 = 1;

export function init(samples: i32): void {
  frame = heap.alloc(<usize>samples << 2);
  memory.fill(frame, 0, <usize>samples << 2);
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

export function reset(): void {
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
export function speechLevelDbfs(): f64 {
  return speechFrames > 0 ? 10.0 * Math.log10(Math.max(levelPower, 1e-12)) : -120.0;
}

/**
 * Processes the first `n` samples (a multiple of 32) of the frame buffer in place.
 * `external` in [0, 1] is a speech probability from elsewhere (RNNoise); < 0 uses the energy VAD.
 */
export function process(n: i32, external: f64, limited: bool): void {
  const power = vadCoreProcess(frame, n, external);
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
  gainDb += (targetGainDb - gainDb) * (targetGainDb < gainDb ? attackCoef : releaseCoef);

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
