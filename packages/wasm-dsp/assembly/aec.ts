// Acoustic echo canceller kernel: 48 kHz mono, 960-sample frames processed as two 480-sample
// blocks. Algorithm (mirrored step for step by src/reference/aec.ts):
// - Partitioned-block frequency-domain adaptive filter (MDF/PBFDAF; J.-S. Soo & K. K. Pang,
//   "Multidelay block frequency domain adaptive filter", IEEE Trans. ASSP 38(2), 1990):
//   overlap-save with 1024-point FFTs, 480-sample partitions, ceil(tail / 10 ms) partitions,
//   per-bin step normalised by the far-end power summed over the partitions, proportionate step
//   per partition (speexdsp mdf.c mdf_adjust_prop) and one rotating gradient constraint per block
//   (speexdsp mdf.c).
// - Two filters (speexdsp TWO_PATH): a background filter adapts, a foreground filter produces the
//   output and is replaced only when the background is significantly better; a diverged
//   background (double talk) is reset from the foreground.
// - Learning rate from the estimated residual-to-error ratio and the leak estimate (J.-M. Valin,
//   "On adjusting the learning rate in frequency domain echo cancellation with double-talk",
//   IEEE Trans. ASLP 15(3), 2007; speexdsp mdf.c), so near-end speech slows adaptation.
// - Residual echo suppressor on sqrt-Hann 50 % overlap-add frames (adds one block, 10 ms, of
//   latency): per-bin gain from the largest of the leak-scaled echo estimate, a far-end-power ×
//   echo-return-loss estimate and the decaying previous estimate; while the far end talks alone
//   (no error energy beyond echo + noise floor) every bin is capped at the floor, which is what
//   gives the old WebRTC AEC its ERLE, and the cap lifts as soon as near-end energy appears.
// Bulk delay between reference and microphone is absorbed by the filter length (tailMs).
import { allocF32, RealFft } from './lib/fft';

const FS: f32 = 48000;
const FRAME: i32 = 960;
const B: i32 = 480;
const L: i32 = 1024;
const H: i32 = 513; // bins
const HP: i32 = 516; // bins padded to a multiple of 4 for f32x4 loops

// Tuning (identical in src/reference/aec.ts).
const MIN_LEAK: f32 = 0.01; // speexdsp uses 0.005
const SPEC_AVERAGE: f32 = (4.0 * <f32>B) / FS; // speexdsp: frame/rate; 4x faster tracking
const BETA0: f32 = (8.0 * <f32>B) / FS;
const BETA_MAX: f32 = (2.0 * <f32>B) / FS;
const MU_MAX: f32 = 1;
const MU_INIT: f32 = 1;
const RES_OVER: f32 = 2;
const RES_FLOOR: f32 = 0.03;
const SUM_ADAPT: f32 = 40;
const DELTA: f32 = 1e-2;
const BACKTRACK: f32 = 16; // speexdsp VAR_BACKTRACK is 4; 16 stops resets of a good background
const PROP_FLOOR: f32 = 0.1;
const GAMMA: f32 = 0.3;
const NOISE_UP: f32 = 1.01;
const NEAR_NOISE: f32 = 4;
const NEAR_FRAC: f32 = 0.5;
const NEAR_HOLD: i32 = 5;
const DT_MU: f32 = 0.1; // learning rate scale while near-end speech is detected
const DT_OVER: f32 = 1;

@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
@inline function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}
@inline function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    f32x4.extract_lane(v, 2) +
    f32x4.extract_lane(v, 3)
  );
}

// Σ a[i]·b[i] over `bytes` (multiple of 16).
@inline function dot(a: usize, b: usize, bytes: usize): f32 {
  let acc = f32x4.splat(0);
  for (let o: usize = 0; o < bytes; o += 16) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  return hsum(acc);
}

// dst[0..B) = a·win[0..B), dst[B..2B) = b·win[B..2B).
@inline function windowPair(dst: usize, a: usize, b: usize): void {
  const bytes = <usize>B << 2;
  for (let o: usize = 0; o < bytes; o += 16) {
    v128.store(dst + o, f32x4.mul(v128.load(a + o), v128.load(win + o)));
    v128.store(dst + bytes + o, f32x4.mul(v128.load(b + o), v128.load(win + bytes + o)));
  }
}

let K: i32 = 0;
let fft: RealFft | null = null;
let micBuf: usize = 0;
let refBuf: usize = 0;
let outBuf: usize = 0;
let xTime: usize = 0;
let xr: usize = 0;
let xi: usize = 0;
// Three filter buffers (re at filtR[i], im at filtI[i]); the foreground and background are
// indices into them, so promoting one filter to the other is an index copy, not 80 KB of memory
// traffic. The background is updated in place unless it is also the foreground, in which case
// the update writes into the free buffer.
let filtR: StaticArray<usize> = new StaticArray<usize>(3);
let filtI: StaticArray<usize> = new StaticArray<usize>(3);
let fgIdx: i32 = 0;
let bgIdx: i32 = 0;
let psum: usize = 0;
let ar: usize = 0;
let ai: usize = 0;
let br: usize = 0;
let bi: usize = 0;
let er: usize = 0;
let ei: usize = 0;
let time: usize = 0;
let yf: usize = 0;
let yb: usize = 0;
let ef: usize = 0;
let eb: usize = 0;
let prevE: usize = 0;
let prevY: usize = 0;
let ola: usize = 0;
let win: usize = 0;
let rf: usize = 0;
let yfp: usize = 0;
let eh: usize = 0;
let yh: usize = 0;
let mu: usize = 0;
let echo: usize = 0;
let noise: usize = 0;
let echoDt: usize = 0;
let prop: usize = 0;
let stats: usize = 0;

let suppression: bool = true;
let head: i32 = 0;
let constrainAt: i32 = 0;
let sPey: f32 = 0;
let sPyy: f32 = 1;
let davg1: f32 = 0;
let davg2: f32 = 0;
let dvar1: f32 = 0;
let dvar2: f32 = 0;
let adapted: bool = false;
let sumAdapt: f32 = 0;
let sdS: f32 = 0;
let soS: f32 = 0;
let sxS: f32 = 0;
let syS: f32 = 0;
let pathY: f32 = 0;
let pathX: f32 = 0;
let nearHold: i32 = 0;
let cap: f32 = 1;

/**
 * Allocates every buffer once: `partitions` × 10 ms of echo tail. Call once per instance.
 * Stats block (f32): [erleDb, echoReturnLossDb, doubleTalk (0/1), leakEstimate].
 */
export function init(partitions: i32, suppress: i32): void {
  K = partitions;
  fft = new RealFft(L);
  micBuf = allocF32(FRAME);
  refBuf = allocF32(FRAME);
  outBuf = allocF32(FRAME);
  xTime = allocF32(L);
  const n = K * HP;
  xr = allocF32(n);
  xi = allocF32(n);
  for (let i = 0; i < 3; i++) {
    filtR[i] = allocF32(n);
    filtI[i] = allocF32(n);
  }
  psum = allocF32(HP);
  ar = allocF32(HP);
  ai = allocF32(HP);
  br = allocF32(HP);
  bi = allocF32(HP);
  er = allocF32(HP);
  ei = allocF32(HP);
  time = allocF32(L);
  yf = allocF32(B);
  yb = allocF32(B);
  ef = allocF32(B);
  eb = allocF32(B);
  prevE = allocF32(B);
  prevY = allocF32(B);
  ola = allocF32(B);
  win = allocF32(2 * B);
  rf = allocF32(HP);
  yfp = allocF32(HP);
  eh = allocF32(HP);
  yh = allocF32(HP);
  mu = allocF32(HP);
  echo = allocF32(HP);
  noise = allocF32(HP);
  echoDt = allocF32(HP);
  prop = allocF32(K);
  stats = allocF32(4);
  // Periodic sqrt-Hann: analysis × synthesis windows at 50 % overlap sum to one.
  for (let i = 0; i < 2 * B; i++) {
    stf(win, i, <f32>Math.sqrt(0.5 - 0.5 * Math.cos((Math.PI * <f64>i) / <f64>B)));
  }
  suppression = suppress != 0;
  reset();
}

/** Byte offsets of the 960-sample microphone, reference and output frames, and the stats. */
export function micPtr(): usize {
  return micBuf;
}
export function refPtr(): usize {
  return refBuf;
}
export function outPtr(): usize {
  return outBuf;
}
export function statsPtr(): usize {
  return stats;
}

/** Turns the residual echo suppressor on (1) or off (0). */
export function setSuppression(on: i32): void {
  suppression = on != 0;
}

/** Clears all filter, suppressor and diagnostic state. */
export function reset(): void {
  const n = <usize>(K * HP) << 2;
  memory.fill(xTime, 0, <usize>L << 2);
  memory.fill(xr, 0, n);
  memory.fill(xi, 0, n);
  for (let i = 0; i < 3; i++) {
    memory.fill(filtR[i], 0, n);
    memory.fill(filtI[i], 0, n);
  }
  fgIdx = 0;
  bgIdx = 0;
  const hb = <usize>HP << 2;
  memory.fill(psum, 0, hb);
  memory.fill(eh, 0, hb);
  memory.fill(yh, 0, hb);
  memory.fill(echo, 0, hb);
  memory.fill(noise, 0, hb);
  const bb = <usize>B << 2;
  memory.fill(prevE, 0, bb);
  memory.fill(prevY, 0, bb);
  memory.fill(ola, 0, bb);
  memory.fill(stats, 0, 16);
  for (let k = 0; k < K; k++) stf(prop, k, 1);
  head = 0;
  constrainAt = 0;
  sPey = 0;
  sPyy = 1;
  davg1 = 0;
  davg2 = 0;
  dvar1 = 0;
  dvar2 = 0;
  adapted = false;
  sumAdapt = 0;
  sdS = 0;
  soS = 0;
  sxS = 0;
  syS = 0;
  pathY = 0;
  pathX = 0;
  nearHold = 0;
  cap = 1;
}

/** Processes the frame in the mic/ref buffers into the out buffer. */
export function process(): void {
  processBlock(micBuf, refBuf, outBuf);
  processBlock(micBuf + (<usize>B << 2), refBuf + (<usize>B << 2), outBuf + (<usize>B << 2));
}

/**
 * Processes one half (block 0 or 1, B samples each) of the frame in the mic/ref buffers: two
 * calls, half 0 then half 1, equal one process(). Lets an audio thread spread a frame's work
 * over two render quanta.
 */
export function processHalf(half: i32): void {
  const at = <usize>(half & 1) * (<usize>B << 2);
  processBlock(micBuf + at, refBuf + at, outBuf + at);
}

// |X|² of one partition added (sign 1) or removed (sign -1) from the partition power sum.
function accumulatePower(slot: usize, sign: f32): void {
  const s = f32x4.splat(sign);
  const z = f32x4.splat(0);
  const pxr = xr + slot;
  const pxi = xi + slot;
  for (let o: usize = 0; o < (<usize>HP << 2); o += 16) {
    const a = v128.load(pxr + o);
    const b = v128.load(pxi + o);
    const p = f32x4.add(f32x4.mul(a, a), f32x4.mul(b, b));
    v128.store(psum + o, f32x4.max(z, f32x4.add(v128.load(psum + o), f32x4.mul(s, p))));
  }
}

function processBlock(d: usize, x: usize, out: usize): void {
  const rfft = fft!;
  const bytesB = <usize>B << 2;
  const bytesHP = <usize>HP << 2;
  const stride = <usize>HP << 2;

  // 1. Far-end spectrum of the last L samples (overlap-save), newest partition at `head`.
  memory.copy(xTime, xTime + bytesB, <usize>(L - B) << 2);
  memory.copy(xTime + (<usize>(L - B) << 2), x, bytesB);
  const sxx = dot(x, x, bytesB);
  head = (head + K - 1) % K;
  const slot = <usize>head * stride;
  accumulatePower(slot, -1);
  rfft.forward(xTime, xr + slot, xi + slot);
  if (head == 0) {
    memory.fill(psum, 0, bytesHP);
    for (let k = 0; k < K; k++) accumulatePower(<usize>k * stride, 1);
  } else {
    accumulatePower(slot, 1);
  }

  // 2. Foreground and background echo estimates (f32x4 over bins, both filters per X load).
  const fr = filtR[fgIdx];
  const fi = filtI[fgIdx];
  const wr = filtR[bgIdx];
  const wi = filtI[bgIdx];
  // Module globals hoisted into locals for the hot loops.
  const xrL = xr;
  const xiL = xi;
  // Bins outer, partitions inner: the four accumulators stay in registers. The far-end ring is
  // walked in two runs (slots head…K−1, then 0…head−1) to avoid a modulo per partition.
  for (let o: usize = 0; o < bytesHP; o += 16) {
    let yr = f32x4.splat(0);
    let yi = f32x4.splat(0);
    let zr = f32x4.splat(0);
    let zi = f32x4.splat(0);
    let wo: usize = o;
    for (let run = 0; run < 2; run++) {
      const first = run == 0 ? head : 0;
      const last = run == 0 ? K : head;
      for (let slotK = first; slotK < last; slotK++) {
        const xo = <usize>slotK * stride + o;
        const a = v128.load(xrL + xo);
        const b = v128.load(xiL + xo);
        const cr = v128.load(fr + wo);
        const ci = v128.load(fi + wo);
        const vr = v128.load(wr + wo);
        const vi = v128.load(wi + wo);
        yr = f32x4.add(yr, f32x4.sub(f32x4.mul(a, cr), f32x4.mul(b, ci)));
        yi = f32x4.add(yi, f32x4.add(f32x4.mul(a, ci), f32x4.mul(b, cr)));
        zr = f32x4.add(zr, f32x4.sub(f32x4.mul(a, vr), f32x4.mul(b, vi)));
        zi = f32x4.add(zi, f32x4.add(f32x4.mul(a, vi), f32x4.mul(b, vr)));
        wo += stride;
      }
    }
    v128.store(ar + o, yr);
    v128.store(ai + o, yi);
    v128.store(br + o, zr);
    v128.store(bi + o, zi);
  }
  const tail = time + (<usize>(L - B) << 2);
  rfft.inverse(ar, ai, time);
  memory.copy(yf, tail, bytesB);
  rfft.inverse(br, bi, time);
  memory.copy(yb, tail, bytesB);
  let vff = f32x4.splat(0);
  let vee = f32x4.splat(0);
  let vbf = f32x4.splat(0);
  let vdd = f32x4.splat(0);
  for (let o: usize = 0; o < bytesB; o += 16) {
    const dn = v128.load(d + o);
    const e1 = f32x4.sub(dn, v128.load(yf + o));
    const e2 = f32x4.sub(dn, v128.load(yb + o));
    v128.store(ef + o, e1);
    v128.store(eb + o, e2);
    const de = f32x4.sub(e1, e2);
    vff = f32x4.add(vff, f32x4.mul(e1, e1));
    vee = f32x4.add(vee, f32x4.mul(e2, e2));
    vbf = f32x4.add(vbf, f32x4.mul(de, de));
    vdd = f32x4.add(vdd, f32x4.mul(dn, dn));
  }
  let sff = hsum(vff);
  let see = hsum(vee);
  const dbf = hsum(vbf);
  const sdd = hsum(vdd);

  // 3. Two-path decision (speexdsp mdf.c, TWO_PATH).
  const diff = sff - see;
  davg1 = 0.6 * davg1 + 0.4 * diff;
  davg2 = 0.85 * davg2 + 0.15 * diff;
  dvar1 = 0.36 * dvar1 + 0.16 * sff * dbf;
  dvar2 = 0.7225 * dvar2 + 0.0225 * sff * dbf;
  if (
    diff * Mathf.abs(diff) > sff * dbf ||
    davg1 * Mathf.abs(davg1) > 0.5 * dvar1 ||
    davg2 * Mathf.abs(davg2) > 0.25 * dvar2
  ) {
    davg1 = 0;
    davg2 = 0;
    dvar1 = 0;
    dvar2 = 0;
    fgIdx = bgIdx;
    memory.copy(ef, eb, bytesB);
    memory.copy(yf, yb, bytesB);
    sff = see;
  } else if (
    -diff * Mathf.abs(diff) > BACKTRACK * sff * dbf ||
    -davg1 * Mathf.abs(davg1) > BACKTRACK * dvar1 ||
    -davg2 * Mathf.abs(davg2) > BACKTRACK * dvar2
  ) {
    davg1 = 0;
    davg2 = 0;
    dvar1 = 0;
    dvar2 = 0;
    bgIdx = fgIdx;
    memory.copy(eb, ef, bytesB);
    see = sff;
  }

  // 4. Windowed spectra of the output error (kept in er/ei for the suppressor) and of the echo
  //    estimate, sqrt-Hann over the last two blocks.
  memory.fill(time + (bytesB << 1), 0, <usize>(L - 2 * B) << 2);
  windowPair(time, prevE, ef);
  rfft.forward(time, er, ei);
  windowPair(time, prevY, yf);
  rfft.forward(time, br, bi);
  const syy = dot(yf, yf, bytesB);
  const sey = dot(ef, yf, bytesB);
  let vey = f32x4.splat(0);
  let vyy = f32x4.splat(0);
  const sa = f32x4.splat(SPEC_AVERAGE);
  const sa1 = f32x4.splat(1 - SPEC_AVERAGE);
  for (let o: usize = 0; o < bytesHP; o += 16) {
    const a = v128.load(er + o);
    const b = v128.load(ei + o);
    const c = v128.load(br + o);
    const e = v128.load(bi + o);
    const r = f32x4.add(f32x4.mul(a, a), f32x4.mul(b, b));
    const y = f32x4.add(f32x4.mul(c, c), f32x4.mul(e, e));
    v128.store(rf + o, r);
    v128.store(yfp + o, y);
    const ehv = v128.load(eh + o);
    const yhv = v128.load(yh + o);
    const de = f32x4.sub(r, ehv);
    const dy = f32x4.sub(y, yhv);
    vey = f32x4.add(vey, f32x4.mul(de, dy));
    vyy = f32x4.add(vyy, f32x4.mul(dy, dy));
    v128.store(eh + o, f32x4.add(f32x4.mul(sa1, ehv), f32x4.mul(sa, r)));
    v128.store(yh + o, f32x4.add(f32x4.mul(sa1, yhv), f32x4.mul(sa, y)));
  }
  let pey = hsum(vey);
  let pyy = hsum(vyy);

  // 5. Leak estimate and learning rate (Valin 2007; speexdsp mdf.c).
  pyy = Mathf.sqrt(pyy);
  pey = pey / Mathf.max(pyy, 1e-30);
  let alpha: f32 = Mathf.min(BETA0 * syy, BETA_MAX * sff) / Mathf.max(sff, 1e-30);
  if (!(alpha <= 1)) alpha = 0;
  sPey = (1 - alpha) * sPey + alpha * pey;
  sPyy = Mathf.max((1 - alpha) * sPyy + alpha * pyy, 1e-20);
  sPey = Mathf.min(Mathf.max(sPey, MIN_LEAK * sPyy), sPyy);
  const leak = sPey / sPyy;
  let rer: f32 = (1e-4 * sxx + 3 * leak * syy) / Mathf.max(sff, 1e-30);
  const rerMin: f32 = (sey * sey) / (1e-30 + sff * syy);
  if (rer < rerMin) rer = rerMin;
  if (rer > 0.5) rer = 0.5;
  if (!adapted && sumAdapt > SUM_ADAPT) adapted = true;
  const farActive = sxx > <f32>B * 1e-8;
  if (!farActive) {
    memory.fill(mu, 0, bytesHP);
  } else if (adapted) {
    const vleak = f32x4.splat(leak);
    const vrer = f32x4.splat(0.3 * rer);
    const scale = f32x4.splat((nearHold > 0 ? DT_MU : MU_MAX) * 2);
    const tiny = f32x4.splat(1e-20);
    const half = f32x4.splat(0.5);
    const c07 = f32x4.splat(0.7);
    for (let o: usize = 0; o < bytesHP; o += 16) {
      const e = f32x4.add(v128.load(rf + o), tiny);
      const r = f32x4.min(f32x4.mul(vleak, v128.load(yfp + o)), f32x4.mul(half, e));
      const rr = f32x4.add(f32x4.mul(c07, r), f32x4.mul(vrer, e));
      v128.store(mu + o, f32x4.div(f32x4.mul(scale, rr), e));
    }
  } else {
    const rate = MU_INIT * Mathf.min(1, sxx / Mathf.max(see, 1e-30));
    for (let f = 0; f < H; f++) stf(mu, f, rate);
    sumAdapt += rate;
  }

  // 6. Background update: W_k += p_k · mu · conj(X_k) · E / (Σ_k |X_k|² + δ).
  memory.fill(time, 0, <usize>(L - B) << 2);
  memory.copy(tail, eb, bytesB);
  rfft.forward(time, ar, ai);
  let vp = f32x4.splat(0);
  for (let o: usize = 0; o < bytesHP; o += 16) vp = f32x4.add(vp, v128.load(psum + o));
  const delta = f32x4.splat((hsum(vp) / <f32>H) * DELTA + 1e-12);
  for (let o: usize = 0; o < bytesHP; o += 16) {
    const g = f32x4.div(v128.load(mu + o), f32x4.add(v128.load(psum + o), delta));
    v128.store(ar + o, f32x4.mul(v128.load(ar + o), g));
    v128.store(ai + o, f32x4.mul(v128.load(ai + o), g));
  }
  if (farActive) {
    // Proportionate step per partition (speexdsp mdf_adjust_prop, after Duttweiler's PNLMS).
    const srcR = filtR[bgIdx];
    const srcI = filtI[bgIdx];
    if (bgIdx == fgIdx) bgIdx = (bgIdx + 1) % 3;
    const dstR = filtR[bgIdx];
    const dstI = filtI[bgIdx];
    let maxNorm: f32 = 0;
    for (let k = 0; k < K; k++) maxNorm = Mathf.max(maxNorm, ldf(prop, k));
    let propSum: f32 = 0;
    for (let k = 0; k < K; k++) propSum += ldf(prop, k) + PROP_FLOOR * maxNorm;
    for (let k = 0; k < K; k++) {
      const xo = <usize>((head + k) % K) * stride;
      const wo = <usize>k * stride;
      const p = f32x4.splat((<f32>K * (ldf(prop, k) + PROP_FLOOR * maxNorm)) / propSum);
      let norm = f32x4.splat(0);
      const px = xrL + xo;
      const py = xiL + xo;
      const gpr = ar;
      const gpi = ai;
      const sr = srcR + wo;
      const si = srcI + wo;
      const dr = dstR + wo;
      const di = dstI + wo;
      for (let o: usize = 0; o < bytesHP; o += 16) {
        const a = v128.load(px + o);
        const b = v128.load(py + o);
        const gr = v128.load(gpr + o);
        const gi = v128.load(gpi + o);
        const nr = f32x4.add(
          v128.load(sr + o),
          f32x4.mul(p, f32x4.add(f32x4.mul(a, gr), f32x4.mul(b, gi))),
        );
        const ni = f32x4.add(
          v128.load(si + o),
          f32x4.mul(p, f32x4.sub(f32x4.mul(a, gi), f32x4.mul(b, gr))),
        );
        v128.store(dr + o, nr);
        v128.store(di + o, ni);
        norm = f32x4.add(norm, f32x4.add(f32x4.mul(nr, nr), f32x4.mul(ni, ni)));
      }
      const s =
        f32x4.extract_lane(norm, 0) +
        f32x4.extract_lane(norm, 1) +
        f32x4.extract_lane(norm, 2) +
        f32x4.extract_lane(norm, 3);
      stf(prop, k, Mathf.sqrt(s + 1e-12));
    }
    // Gradient constraint on one partition per block, rotating (speexdsp mdf.c).
    const c = <usize>constrainAt * stride;
    constrainAt = (constrainAt + 1) % K;
    rfft.inverse(dstR + c, dstI + c, time);
    memory.fill(time + bytesB, 0, <usize>(L - B) << 2);
    rfft.forward(time, dstR + c, dstI + c);
  }

  // 7. Residual echo suppressor.
  const leak2 = Mathf.min(1, 2 * leak);
  if (farActive && nearHold == 0) {
    pathY = 0.95 * pathY + 0.05 * sdd;
    pathX = 0.95 * pathX + 0.05 * sxx;
  }
  const rho: f32 = (GAMMA * pathY * 2 * <f32>B) / (pathX * <f32>K * <f32>L + 1e-30);
  let vex = f32x4.splat(0);
  let vtot = f32x4.splat(0);
  {
    const vl2 = f32x4.splat(leak2);
    const vrho = f32x4.splat(rho);
    const c06 = f32x4.splat(0.6);
    const c07 = f32x4.splat(0.7);
    const c03 = f32x4.splat(0.3);
    const up = f32x4.splat(NOISE_UP);
    const tiny = f32x4.splat(1e-30);
    const over = f32x4.splat(RES_OVER);
    const nnk = f32x4.splat(NEAR_NOISE);
    const zero = f32x4.splat(0);
    for (let o: usize = 0; o < bytesHP; o += 16) {
      const ly = f32x4.mul(vl2, v128.load(yfp + o));
      const ec = f32x4.max(
        f32x4.max(f32x4.mul(c06, v128.load(echo + o)), ly),
        f32x4.mul(vrho, v128.load(psum + o)),
      );
      v128.store(echo + o, ec);
      v128.store(echoDt + o, ly);
      const r = v128.load(rf + o);
      const nf = v128.load(noise + o);
      const down = f32x4.add(f32x4.mul(c07, nf), f32x4.mul(c03, r));
      const rise = f32x4.add(f32x4.mul(nf, up), tiny);
      const nn = v128.bitselect(down, rise, f32x4.lt(r, nf));
      v128.store(noise + o, nn);
      const ex = f32x4.sub(f32x4.sub(r, f32x4.mul(over, ec)), f32x4.mul(nnk, nn));
      vex = f32x4.add(vex, f32x4.max(ex, zero));
      vtot = f32x4.add(vtot, r);
    }
  }
  const near = hsum(vex) > NEAR_FRAC * hsum(vtot);
  nearHold = near ? NEAR_HOLD : max(0, nearHold - 1);
  const capTarget: f32 = farActive && nearHold == 0 ? RES_FLOOR : 1;
  cap = capTarget < cap ? 0.5 * cap + 0.5 * capTarget : capTarget;
  let vout = f32x4.splat(0);
  let vwin = f32x4.splat(0);
  // During double talk only the leak-scaled estimate counts, with less over-subtraction, so
  // near-end speech keeps its spectrum.
  const dt = nearHold > 0;
  const est = dt ? echoDt : echo;
  {
    const over = f32x4.splat(suppression ? (dt ? DT_OVER : RES_OVER) : 0);
    const one = f32x4.splat(1);
    const tiny = f32x4.splat(1e-20);
    const lo = f32x4.splat(suppression ? RES_FLOOR : 1);
    const hi = f32x4.splat(suppression ? cap : 1);
    for (let o: usize = 0; o < bytesHP; o += 16) {
      const r = v128.load(rf + o);
      const g0 = f32x4.sub(one, f32x4.div(f32x4.mul(over, v128.load(est + o)), f32x4.add(r, tiny)));
      const g = f32x4.min(f32x4.max(g0, lo), hi);
      v128.store(er + o, f32x4.mul(v128.load(er + o), g));
      v128.store(ei + o, f32x4.mul(v128.load(ei + o), g));
      vout = f32x4.add(vout, f32x4.mul(f32x4.mul(g, g), r));
      vwin = f32x4.add(vwin, r);
    }
  }
  const sout = hsum(vout);
  const swin = hsum(vwin);
  rfft.inverse(er, ei, time);
  for (let o: usize = 0; o < bytesB; o += 16) {
    v128.store(
      out + o,
      f32x4.add(v128.load(ola + o), f32x4.mul(v128.load(time + o), v128.load(win + o))),
    );
    v128.store(
      ola + o,
      f32x4.mul(v128.load(time + bytesB + o), v128.load(win + bytesB + o)),
    );
  }
  memory.copy(prevE, ef, bytesB);
  memory.copy(prevY, yf, bytesB);

  // 8. Diagnostics.
  if (farActive) {
    sdS = 0.9 * sdS + 0.1 * sdd;
    soS = 0.9 * soS + 0.1 * (sout / Mathf.max(swin, 1e-30)) * sff;
    sxS = 0.9 * sxS + 0.1 * sxx;
    syS = 0.9 * syS + 0.1 * syy;
  }
  stf(stats, 0, 10 * Mathf.log10((sdS + 1e-20) / (soS + 1e-20)));
  stf(stats, 1, 10 * Mathf.log10((sxS + 1e-20) / (syS + 1e-20)));
  stf(stats, 2, farActive && nearHold > 0 ? 1 : 0);
  stf(stats, 3, leak);
}
