// Binaural spatial renderer: N mono voices, each placed by direction and gain, mixed into a
// stereo pair for headphones, then the shared soft-knee limiter linked across both ears.
//
// Model: the spherical-head structural model of C. P. Brown and R. O. Duda, "A structural model
// for binaural sound synthesis", IEEE Trans. Speech and Audio Processing 6(5), 1998, §III-A:
// per ear, a head-shadow filter H(s, θ) = (α(θ)·s + β) / (s + β) with β = 2c/a, and a delay
// T(θ) (Woodworth's formula split per ear), θ being the angle between the source and the ear's
// axis. The parameters (α per ear, delay per ear in samples) are computed by the TS adaptor
// (src/spatialModel.ts); this kernel only filters, delays and mixes.
//
// The head-shadow filter shares its pole for every θ, so it splits into a fixed one-pole low
// pass and its complement: H = LP + α·HP with HP = 1 − LP (bilinear transform, LP has a zero at
// Nyquist). One LP per voice feeds both ears: ear = x + (α − 1)·hp, where hp = x − lp. α = 1 and
// delay 0 make a voice pass through unchanged (a voice without a position).
//
// Per voice, x and hp keep HISTORY samples of the past before the current frame, so a delayed
// read is a contiguous (unaligned) v128 load. The fractional delay is read by linear
// interpolation; when a voice's delay changes, the frame cross-fades from the old read to the
// new one (no clicks, no per-sample delay modulation). α and gain ramp linearly across the frame.
//
// Memory (allocated once by init): per voice x[HISTORY + N], hp[HISTORY + N], params f32[16];
// outputs left[N], right[N], mono[N] and interleaved[2N] (for the linked limiter).
import { limit, limiterInit } from './lib/limiter';
export {
  limiterConfigure,
  limiterReset,
  limiterGain,
  limiterTakeMinGain,
} from './lib/limiter';

/** Past samples kept per voice before the current frame: the longest delay is HISTORY − 2. */
const HISTORY: i32 = 64;
/** f32 parameters per voice. */
const PARAMS: i32 = 16;
// Parameter slots: targets written by the adaptor …
const P_GAIN: i32 = 0;
const P_DELAY_L: i32 = 1;
const P_DELAY_R: i32 = 2;
const P_ALPHA_L: i32 = 3;
const P_ALPHA_R: i32 = 4;
// … and the values the last frame ended with (kernel-owned).
const P_PREV_GAIN: i32 = 8;
const P_PREV_DELAY_L: i32 = 9;
const P_PREV_DELAY_R: i32 = 10;
const P_PREV_ALPHA_L: i32 = 11;
const P_PREV_ALPHA_R: i32 = 12;
const P_LP_STATE: i32 = 13;

let voiceCapacity: i32 = 0;
let frameSamples: i32 = 0;
let xBuffers: usize = 0;
let hpBuffers: usize = 0;
let params: usize = 0;
let left: usize = 0;
let right: usize = 0;
let mono: usize = 0;
let interleaved: usize = 0;
let lpB: f32 = 0;
let lpA1: f32 = 0;

/** Allocates buffers for `voices` voices of `samples` (a multiple of 32) per frame. Call once. */
export function init(voices: i32, samples: i32): void {
  voiceCapacity = voices;
  frameSamples = samples;
  const stride = <usize>(HISTORY + samples) << 2;
  xBuffers = heap.alloc(<usize>voices * stride);
  hpBuffers = heap.alloc(<usize>voices * stride);
  params = heap.alloc(<usize>(voices * PARAMS) << 2);
  left = heap.alloc(<usize>samples << 2);
  right = heap.alloc(<usize>samples << 2);
  mono = heap.alloc(<usize>samples << 2);
  interleaved = heap.alloc(<usize>samples << 3);
  memory.fill(xBuffers, 0, <usize>voices * stride);
  memory.fill(hpBuffers, 0, <usize>voices * stride);
  memory.fill(params, 0, <usize>(voices * PARAMS) << 2);
  for (let v = 0; v < voices; v++) {
    const p = params + (<usize>(v * PARAMS) << 2);
    store<f32>(p + (P_GAIN << 2), 1);
    store<f32>(p + (P_ALPHA_L << 2), 1);
    store<f32>(p + (P_ALPHA_R << 2), 1);
    store<f32>(p + (P_PREV_GAIN << 2), 1);
    store<f32>(p + (P_PREV_ALPHA_L << 2), 1);
    store<f32>(p + (P_PREV_ALPHA_R << 2), 1);
  }
  limiterInit();
}

/** Sets the head-shadow low pass: lp[n] = b·(x[n] + x[n−1]) − a1·lp[n−1]. */
export function setLowPass(b: f32, a1: f32): void {
  lpB = b;
  lpA1 = a1;
}

export function historySamples(): i32 {
  return HISTORY;
}
export function paramsPerVoice(): i32 {
  return PARAMS;
}
/** Start of voice `v`'s current-frame input (after its history). */
export function inputPtr(v: i32): usize {
  return xBuffers + <usize>v * (<usize>(HISTORY + frameSamples) << 2) + (<usize>HISTORY << 2);
}
export function paramsPtr(): usize {
  return params;
}
export function leftPtr(): usize {
  return left;
}
export function rightPtr(): usize {
  return right;
}
export function monoPtr(): usize {
  return mono;
}

/** Forgets voice `v`'s past (history and filter state), e.g. when its stream is replaced. */
export function resetVoice(v: i32): void {
  const stride = <usize>(HISTORY + frameSamples) << 2;
  memory.fill(xBuffers + <usize>v * stride, 0, stride);
  memory.fill(hpBuffers + <usize>v * stride, 0, stride);
  store<f32>(params + (<usize>(v * PARAMS + P_LP_STATE) << 2), 0);
}

/**
 * Renders the first `count` voices into left/right, limits the pair (linked) when `limited`,
 * and writes mono = (left + right) / 2.
 */
export function render(count: i32, limited: bool): void {
  const n = frameSamples;
  const bytes = <usize>n << 2;
  const stride = <usize>(HISTORY + n) << 2;
  const hist = <usize>HISTORY << 2;
  memory.fill(left, 0, bytes);
  memory.fill(right, 0, bytes);
  for (let v = 0; v < count; v++) {
    const x = xBuffers + <usize>v * stride;
    const hp = hpBuffers + <usize>v * stride;
    const p = params + (<usize>(v * PARAMS) << 2);
    lowPass(x + hist, hp + hist, p, n);
    const g0 = load<f32>(p + (P_PREV_GAIN << 2));
    const g1 = load<f32>(p + (P_GAIN << 2));
    if (g0 != 0 || g1 != 0) {
      renderEar(x, hp, left, n, g0, g1, p + (P_PREV_DELAY_L << 2), p + (P_DELAY_L << 2),
        load<f32>(p + (P_PREV_ALPHA_L << 2)), load<f32>(p + (P_ALPHA_L << 2)));
      renderEar(x, hp, right, n, g0, g1, p + (P_PREV_DELAY_R << 2), p + (P_DELAY_R << 2),
        load<f32>(p + (P_PREV_ALPHA_R << 2)), load<f32>(p + (P_ALPHA_R << 2)));
    }
    store<f32>(p + (P_PREV_GAIN << 2), g1);
    store<f32>(p + (P_PREV_DELAY_L << 2), load<f32>(p + (P_DELAY_L << 2)));
    store<f32>(p + (P_PREV_DELAY_R << 2), load<f32>(p + (P_DELAY_R << 2)));
    store<f32>(p + (P_PREV_ALPHA_L << 2), load<f32>(p + (P_ALPHA_L << 2)));
    store<f32>(p + (P_PREV_ALPHA_R << 2), load<f32>(p + (P_ALPHA_R << 2)));
    // The frame's last HISTORY samples become the next frame's past.
    memory.copy(x, x + bytes, hist);
    memory.copy(hp, hp + bytes, hist);
  }
  if (limited) {
    // Interleaved L/R through the one limiter: one gain curve for both ears, so the image
    // does not shift when a loud voice on one side is limited.
    for (let i: usize = 0; i < bytes; i += 16) {
      const l = v128.load(left + i);
      const r = v128.load(right + i);
      v128.store(interleaved + (i << 1), v128.shuffle<f32>(l, r, 0, 4, 1, 5));
      v128.store(interleaved + (i << 1), v128.shuffle<f32>(l, r, 2, 6, 3, 7), 16);
    }
    limit(interleaved, n << 1);
    for (let i: usize = 0; i < bytes; i += 16) {
      const a = v128.load(interleaved + (i << 1));
      const b = v128.load(interleaved + (i << 1), 16);
      v128.store(left + i, v128.shuffle<f32>(a, b, 0, 2, 4, 6));
      v128.store(right + i, v128.shuffle<f32>(a, b, 1, 3, 5, 7));
    }
  }
  const half = f32x4.splat(0.5);
  for (let i: usize = 0; i < bytes; i += 16) {
    v128.store(mono + i, f32x4.mul(half, f32x4.add(v128.load(left + i), v128.load(right + i))));
  }
}

// One-pole low pass (bilinear transform of β/(s+β)) over the current frame; writes hp = x − lp.
// lp[n] = u[n] + c·lp[n−1] with u[n] = b·(x[n] + x[n−1]) and c = −a1 is a recursion; it runs
// four samples per step as a parallel prefix (a log-step scan inside the vector, then the carry
// from the previous vector's last lane times [c, c², c³, c⁴]), so the serial dependency is one
// multiply-add per 4 samples instead of per sample. x[−1] is the last sample of the history.
function lowPass(x: usize, hp: usize, p: usize, n: i32): void {
  const c: f32 = -lpA1;
  const bv = f32x4.splat(lpB);
  const c1 = f32x4.splat(c);
  const c2 = f32x4.splat(c * c);
  const carry = f32x4(c, c * c, c * c * c, c * c * c * c);
  const zero = f32x4.splat(0);
  let last = load<f32>(p + (P_LP_STATE << 2));
  const bytes = <usize>n << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    const xv = v128.load(x + i);
    const u = f32x4.mul(bv, f32x4.add(xv, v128.load(x + i - 4)));
    const w1 = f32x4.add(u, f32x4.mul(c1, v128.shuffle<f32>(zero, u, 0, 4, 5, 6)));
    const w = f32x4.add(w1, f32x4.mul(c2, v128.shuffle<f32>(zero, w1, 0, 1, 4, 5)));
    const lp = f32x4.add(w, f32x4.mul(carry, f32x4.splat(last)));
    v128.store(hp + i, f32x4.sub(xv, lp));
    last = f32x4.extract_lane(lp, 3);
  }
  // Flush denormals: a decaying filter state must not slow the audio thread.
  if (Mathf.abs(last) < 1e-20) last = 0;
  store<f32>(p + (P_LP_STATE << 2), last);
}

// out[k] += g(k)·(rx(k) + (α(k) − 1)·rh(k)) with g and α ramped to their targets at the frame's
// end, rx/rh the delayed reads of x and hp; a changed delay cross-fades old → new read.
function renderEar(
  x: usize,
  hp: usize,
  out: usize,
  n: i32,
  g0: f32,
  g1: f32,
  d0Ptr: usize,
  d1Ptr: usize,
  a0: f32,
  a1: f32,
): void {
  const d0 = load<f32>(d0Ptr);
  const d1 = load<f32>(d1Ptr);
  const invN: f32 = 1.0 / <f32>n;
  const gStep = f32x4.splat((g1 - g0) * invN);
  const aStep = f32x4.splat((a1 - a0) * invN);
  const gBase = f32x4.splat(g0);
  const aBase = f32x4.splat(a0 - 1);
  const four = f32x4.splat(4);
  const hist = <usize>HISTORY << 2;
  const k0 = <i32>Mathf.floor(d0);
  const f0 = f32x4.splat(d0 - <f32>k0);
  const w0 = f32x4.splat(1 - (d0 - <f32>k0));
  const x0 = x + hist - (<usize>k0 << 2);
  const h0 = hp + hist - (<usize>k0 << 2);
  let ramp = f32x4(1, 2, 3, 4);
  const bytes = <usize>n << 2;
  if (d0 == d1 && g0 == g1 && a0 == a1) {
    // A voice standing still (the common case): four taps with constant weights.
    const wx = d0 - <f32>k0;
    const cx0 = f32x4.splat(g1 * (1 - wx));
    const cx1 = f32x4.splat(g1 * wx);
    const ch0 = f32x4.splat(g1 * (a1 - 1) * (1 - wx));
    const ch1 = f32x4.splat(g1 * (a1 - 1) * wx);
    for (let i: usize = 0; i < bytes; i += 16) {
      let y = f32x4.add(f32x4.mul(cx0, v128.load(x0 + i)), f32x4.mul(cx1, v128.load(x0 + i - 4)));
      y = f32x4.add(y, f32x4.mul(ch0, v128.load(h0 + i)));
      y = f32x4.add(y, f32x4.mul(ch1, v128.load(h0 + i - 4)));
      v128.store(out + i, f32x4.add(v128.load(out + i), y));
    }
    return;
  }
  if (d0 == d1) {
    for (let i: usize = 0; i < bytes; i += 16) {
      const rx = f32x4.add(f32x4.mul(w0, v128.load(x0 + i)), f32x4.mul(f0, v128.load(x0 + i - 4)));
      const rh = f32x4.add(f32x4.mul(w0, v128.load(h0 + i)), f32x4.mul(f0, v128.load(h0 + i - 4)));
      const g = f32x4.add(gBase, f32x4.mul(gStep, ramp));
      const am1 = f32x4.add(aBase, f32x4.mul(aStep, ramp));
      const y = f32x4.mul(g, f32x4.add(rx, f32x4.mul(am1, rh)));
      v128.store(out + i, f32x4.add(v128.load(out + i), y));
      ramp = f32x4.add(ramp, four);
    }
    return;
  }
  const k1 = <i32>Mathf.floor(d1);
  const f1 = f32x4.splat(d1 - <f32>k1);
  const w1 = f32x4.splat(1 - (d1 - <f32>k1));
  const x1 = x + hist - (<usize>k1 << 2);
  const h1 = hp + hist - (<usize>k1 << 2);
  const one = f32x4.splat(1);
  const invNv = f32x4.splat(invN);
  for (let i: usize = 0; i < bytes; i += 16) {
    const c = f32x4.mul(ramp, invNv);
    const oc = f32x4.sub(one, c);
    const rx0 = f32x4.add(f32x4.mul(w0, v128.load(x0 + i)), f32x4.mul(f0, v128.load(x0 + i - 4)));
    const rh0 = f32x4.add(f32x4.mul(w0, v128.load(h0 + i)), f32x4.mul(f0, v128.load(h0 + i - 4)));
    const rx1 = f32x4.add(f32x4.mul(w1, v128.load(x1 + i)), f32x4.mul(f1, v128.load(x1 + i - 4)));
    const rh1 = f32x4.add(f32x4.mul(w1, v128.load(h1 + i)), f32x4.mul(f1, v128.load(h1 + i - 4)));
    const rx = f32x4.add(f32x4.mul(oc, rx0), f32x4.mul(c, rx1));
    const rh = f32x4.add(f32x4.mul(oc, rh0), f32x4.mul(c, rh1));
    const g = f32x4.add(gBase, f32x4.mul(gStep, ramp));
    const am1 = f32x4.add(aBase, f32x4.mul(aStep, ramp));
    const y = f32x4.mul(g, f32x4.add(rx, f32x4.mul(am1, rh)));
    v128.store(out + i, f32x4.add(v128.load(out + i), y));
    ramp = f32x4.add(ramp, four);
  }
}

/** Voices allocated by init. */
export function capacity(): i32 {
  return voiceCapacity;
}
