// Soft-knee peak limiter shared by the mixer and the AGC kernels (one limiter per module).
//
// Shape after WebRTC's AGC2 limiter (modules/audio_processing/agc2/limiter.cc): the block is cut
// into 32-sample sub-blocks, each sub-block's peak sets a gain from a static soft-knee curve, and
// the gain is interpolated linearly inside a sub-block. Unlike AGC2, the gain at a sub-block
// boundary also honours the *next* sub-block's peak (a one-sub-block look-ahead inside the
// block), so both ends of every sub-block's ramp are at or below the gain its own peak needs and
// the output provably stays below the ceiling without a final hard clip doing real work.
//
// The static curve, for a peak e above the knee K with ceiling C:
//   u = (e - K) / (C - K),   out(e) = K + (C - K) * u / (1 + u),   gain(e) = out(e) / e
// out(K) = K with slope 1 (no corner), out(e) < C for every e, gain is non-increasing in e.
//
// Per-sample work is f32x4; per-sub-block work is f64 scalar. The scalar TS reference
// (src/reference/scalarLimiter.ts) mirrors every rounding step, so results are bit-exact.

/** Samples per sub-block; every block passed to limit() is a multiple of it. */
export const LIMITER_SUB_BLOCK: i32 = 32;
const INV_SUB_BLOCK: f32 = 1.0 / 32.0;
/** Most sub-blocks per block (block ≤ 8,192 samples). */
const MAX_SUB_BLOCKS: i32 = 256;

let kneeLevel: f64 = 0.7079457843841379; // -3 dBFS
let ceilingLevel: f64 = 0.9772372209558107; // -0.2 dBFS
let releaseCoef: f64 = 0.006644493744359; // 1 - exp(-32 / (48000 * 0.1))
let lastGain: f64 = 1.0;
let minGainSeen: f64 = 1.0;
let peaksPtr: usize = 0;
let gainsPtr: usize = 0;

/** Allocates the limiter's scratch; call once from the kernel's init. */
export function limiterInit(): void {
  peaksPtr = heap.alloc(<usize>MAX_SUB_BLOCKS << 2);
  gainsPtr = heap.alloc(<usize>(MAX_SUB_BLOCKS + 1) << 3);
  lastGain = 1.0;
  minGainSeen = 1.0;
}

/** Knee and ceiling as linear peak levels (0 < knee < ceiling ≤ 1), release per sub-block. */
export function limiterConfigure(knee: f64, ceiling: f64, release: f64): void {
  kneeLevel = knee;
  ceilingLevel = ceiling;
  releaseCoef = release;
}

export function limiterReset(): void {
  lastGain = 1.0;
  minGainSeen = 1.0;
}

/** Gain in force at the end of the last block (1 when idle). */
export function limiterGain(): f64 {
  return lastGain;
}

/** Smallest gain applied since the last call; resets the tracker. */
export function limiterTakeMinGain(): f64 {
  const g = minGainSeen;
  minGainSeen = lastGain;
  return g;
}

// @ts-ignore: decorator
@inline
function curveGain(peak: f64): f64 {
  if (peak <= kneeLevel) return 1.0;
  const span = ceilingLevel - kneeLevel;
  const u = (peak - kneeLevel) / span;
  return (kneeLevel + (span * u) / (1.0 + u)) / peak;
}

/** Limits `samples` (a multiple of 32) at `ptr` in place. */
export function limit(ptr: usize, samples: i32): void {
  const subBlocks = samples / LIMITER_SUB_BLOCK;
  const knee = <f32>kneeLevel;
  // Idle fast path: one pass for the block's peak; nothing near the knee and no gain
  // reduction left to release means nothing to do.
  if (lastGain == 1.0) {
    let m0 = f32x4.splat(0);
    let m1 = f32x4.splat(0);
    const bytes = <usize>samples << 2;
    for (let i: usize = 0; i < bytes; i += 32) {
      m0 = f32x4.pmax(m0, f32x4.abs(v128.load(ptr + i)));
      m1 = f32x4.pmax(m1, f32x4.abs(v128.load(ptr + i, 16)));
    }
    m0 = f32x4.pmax(m0, m1);
    const loudest = Mathf.max(
      Mathf.max(f32x4.extract_lane(m0, 0), f32x4.extract_lane(m0, 1)),
      Mathf.max(f32x4.extract_lane(m0, 2), f32x4.extract_lane(m0, 3)),
    );
    if (loudest <= knee) return;
  }
  for (let b = 0; b < subBlocks; b++) {
    const p = ptr + (<usize>(b * LIMITER_SUB_BLOCK) << 2);
    let m = f32x4.splat(0);
    for (let k = 0; k < LIMITER_SUB_BLOCK; k += 8) {
      m = f32x4.pmax(m, f32x4.abs(v128.load(p + (<usize>k << 2))));
      m = f32x4.pmax(m, f32x4.abs(v128.load(p + (<usize>k << 2), 16)));
    }
    const peak = Mathf.max(
      Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)),
      Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)),
    );
    store<f32>(peaksPtr + (<usize>b << 2), peak);
  }

  // Boundary gains b_0..b_S: attack at once, release through a one-pole toward the target.
  let prevPeak = <f64>load<f32>(peaksPtr);
  let g = Math.min(lastGain, curveGain(prevPeak));
  store<f64>(gainsPtr, g);
  let lowest = g;
  for (let b = 1; b <= subBlocks; b++) {
    const peak = b < subBlocks ? <f64>load<f32>(peaksPtr + (<usize>b << 2)) : prevPeak;
    const target = curveGain(Math.max(prevPeak, peak));
    if (target < g) g = target;
    else {
      g += (target - g) * releaseCoef;
      if (target - g < 1e-6) g = target;
    }
    store<f64>(gainsPtr + (<usize>b << 3), g);
    if (g < lowest) lowest = g;
    prevPeak = peak;
  }
  lastGain = g;
  if (lowest < minGainSeen) minGainSeen = lowest;

  const ceiling = f32x4.splat(<f32>ceilingLevel);
  const floor = f32x4.neg(ceiling);
  const ramp0 = f32x4(1, 2, 3, 4);
  const four = f32x4.splat(4);
  for (let b = 0; b < subBlocks; b++) {
    const g0 = <f32>load<f64>(gainsPtr + (<usize>b << 3));
    const g1 = <f32>load<f64>(gainsPtr + (<usize>(b + 1) << 3));
    const p = ptr + (<usize>(b * LIMITER_SUB_BLOCK) << 2);
    if (g0 == 1.0 && g1 == 1.0) continue;
    const base = f32x4.splat(g0);
    const step = f32x4.splat((g1 - g0) * INV_SUB_BLOCK);
    let ramp = ramp0;
    for (let k = 0; k < LIMITER_SUB_BLOCK; k += 4) {
      const q = p + (<usize>k << 2);
      const gain = f32x4.add(base, f32x4.mul(step, ramp));
      const y = f32x4.mul(v128.load(q), gain);
      // Never fires when the curve holds; guards the ceiling against any rounding surprise.
      v128.store(q, f32x4.pmax(floor, f32x4.pmin(ceiling, y)));
      ramp = f32x4.add(ramp, four);
    }
  }
}
