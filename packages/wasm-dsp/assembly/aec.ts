// Acoustic echo canceller kernel: 48 kHz mono, frames of 480 or 960 samples processed as
// 240-sample (5 ms) blocks. Algorithm (mirrored step for step by src/reference/aec.ts):
// - Partitioned-block frequency-domain adaptive Kalman filter (diagonal state-space model per
//   bin and partition: G. Enzner & P. Vary, "Frequency-domain adaptive Kalman filter for
//   acoustic echo control in hands-free telephones", Signal Processing 86(6), 2006; partitioned
//   form: F. Kuech, E. Mabande, G. Enzner, "State-space architecture of the partitioned-block-
//   based acoustic echo controller", ICASSP 2014). Overlap-save with 512-point FFTs and 240-tap
//   partitions (ceil(tail / 5 ms) of them). Per bin and partition the step is
//   P_k / (Σ_j P_j·|X_j|² + (N/B)·Ψ), Ψ the smoothed error power, so it is large while the
//   state uncertainty P is large (fast start) and small when the error is dominated by
//   near-end speech or noise (double talk). P starts at a level set from the first far-end
//   block (so the start is as fast at −30 dB as at +10 dB echo) and is refilled by the
//   random-walk term (1 − A²)·|W|². One partition per block gets the gradient constraint,
//   rotating (speexdsp mdf.c), which keeps the cost at five FFTs per block.
// - Residual echo suppressor on 120-sample hops (240-sample periodic sqrt-Hann windows,
//   zero-padded 256-point FFTs), so its overlap-add adds only 120 samples (2.5 ms) of delay, the
//   canceller's whole latency (the filter's blocks divide the frame, so it adds none). Per-bin
//   gain from the largest of the leak-scaled echo estimate (leak: Valin, "On adjusting the
//   learning rate in frequency domain echo cancellation with double-talk", IEEE Trans. ASLP
//   15(3), 2007), a far-end power × echo-path-gain estimate and the decaying previous estimate.
//   While the far end talks alone (and for 100 ms after, the echo's reverberation) every bin is
//   capped at the floor (the old WebRTC AEC's non-linear processor does the same). Near-end
//   speech is declared only when both the residual exceeds the echo estimate and the microphone
//   holds more than the far end can explain (a far-end power × path-gain test); the second
//   test keeps a misaligned filter (echo path change) from looking like double talk.
// Bulk delay between reference and microphone is absorbed by the filter length (tailMs).
import { allocF32, RealFft } from './lib/fft';

const FRAME_MAX: i32 = 960;
const B: i32 = 240; // filter block and partition length
const N: i32 = 512; // filter FFT
const H: i32 = 257; // filter bins
const HP: i32 = 260; // filter bins padded to a multiple of 4 for f32x4 loops
const R: i32 = 120; // suppressor hop
const NS: i32 = 256; // suppressor FFT
const S: i32 = 129; // suppressor bins

// Tuning (identical in src/reference/aec.ts).
const A2: f32 = 0.9985; // Kalman state transition squared, per block
const PSI_SMOOTH: f32 = 0.5;
const MIN_LEAK: f32 = 0.01; // speexdsp uses 0.005
const SPEC_AVERAGE: f32 = (4.0 * <f32>R) / 48000.0; // speexdsp: frame/rate; 4x faster tracking
const BETA0: f32 = (8.0 * <f32>R) / 48000.0;
const BETA_MAX: f32 = (2.0 * <f32>R) / 48000.0;
const RES_OVER: f32 = 2;
const RES_FLOOR: f32 = 0.03;
const GAMMA: f32 = 0.3;
const ECHO_DECAY: f32 = 0.88; // per hop (0.6 per 10 ms block in the previous kernel)
const FAR_SMOOTH: f32 = 0.95;
const PATH_SMOOTH: f32 = 0.987;
const NEAR_FRAC: f32 = 0.5;
const NEAR_HOLD: i32 = 20; // hops (50 ms)
const CAP_SMOOTH: f32 = 0.84;
const DT_OVER: f32 = 1;
const DIAG_SMOOTH: f32 = 0.974;
const WARM_HOPS: i32 = 120; // far-end hops (300 ms) before double talk can be declared
const MIC_OVER: f32 = 2;
const MIC_FRAC: f32 = 0.5;
const FAR_HOLD: i32 = 40; // hops (100 ms) the far end counts as active after it stops
const PATH_SMOOTH_DT: f32 = 0.998;

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

let K: i32 = 0;
let frameSamples: i32 = FRAME_MAX;
let fft: RealFft | null = null;
let sfft: RealFft | null = null;
let micBuf: usize = 0;
let refBuf: usize = 0;
let outBuf: usize = 0;
let stats: usize = 0;
// Filter state: far-end spectra ring, filter and state covariance (K × HP each).
let xTime: usize = 0;
let time: usize = 0;
let xr: usize = 0;
let xi: usize = 0;
let wr: usize = 0;
let wi: usize = 0;
let pk: usize = 0;
let yr: usize = 0;
let yi: usize = 0;
let er: usize = 0;
let ei: usize = 0;
let sp: usize = 0;
let psi: usize = 0;
let yb: usize = 0;
let eb: usize = 0;
// Suppressor state.
let stime: usize = 0;
let win: usize = 0;
let prevE: usize = 0;
let prevY: usize = 0;
let prevX: usize = 0;
let prevD: usize = 0;
let ola: usize = 0;
let ser: usize = 0;
let sei: usize = 0;
let sar: usize = 0;
let sai: usize = 0;
let rf: usize = 0;
let yfp: usize = 0;
let xf: usize = 0;
let df: usize = 0;
let eh: usize = 0;
let yh: usize = 0;
let echo: usize = 0;
let echoDt: usize = 0;

let suppression: bool = true;
let head: i32 = 0;
let constrainAt: i32 = 0;
let pInit: bool = false;
let sPey: f32 = 0;
let sPyy: f32 = 1;
let pathY: f32 = 0;
let pathX: f32 = 0;
let nearHold: i32 = 0;
let farHold: i32 = 0;
let warm: i32 = 0;
let cap: f32 = 1;
let sdS: f32 = 0;
let soS: f32 = 0;
let sxS: f32 = 0;
let syS: f32 = 0;

/**
 * Allocates every buffer once: `partitions` × 5 ms of echo tail, frames of `frame` samples (480
 * or 960). Call once per instance. Stats block (f32): [erleDb, echoReturnLossDb, doubleTalk
 * (0/1), leakEstimate].
 */
export function init(partitions: i32, suppress: i32, frame: i32): void {
  K = partitions;
  frameSamples = frame == 480 ? 480 : FRAME_MAX;
  fft = new RealFft(N);
  sfft = new RealFft(NS);
  micBuf = allocF32(FRAME_MAX);
  refBuf = allocF32(FRAME_MAX);
  outBuf = allocF32(FRAME_MAX);
  stats = allocF32(4);
  xTime = allocF32(N);
  time = allocF32(N);
  const n = K * HP;
  xr = allocF32(n);
  xi = allocF32(n);
  wr = allocF32(n);
  wi = allocF32(n);
  pk = allocF32(n);
  yr = allocF32(HP);
  yi = allocF32(HP);
  er = allocF32(HP);
  ei = allocF32(HP);
  sp = allocF32(HP);
  psi = allocF32(HP);
  yb = allocF32(B);
  eb = allocF32(B);
  stime = allocF32(NS);
  win = allocF32(2 * R);
  prevE = allocF32(R);
  prevY = allocF32(R);
  prevX = allocF32(R);
  prevD = allocF32(R);
  ola = allocF32(R);
  ser = allocF32(S + 3);
  sei = allocF32(S + 3);
  sar = allocF32(S + 3);
  sai = allocF32(S + 3);
  rf = allocF32(S);
  yfp = allocF32(S);
  xf = allocF32(S);
  df = allocF32(S);
  eh = allocF32(S);
  yh = allocF32(S);
  echo = allocF32(S);
  echoDt = allocF32(S);
  // Periodic sqrt-Hann: analysis × synthesis windows at 50 % overlap sum to one.
  for (let i = 0; i < 2 * R; i++) {
    stf(win, i, <f32>Math.sqrt(0.5 - 0.5 * Math.cos((Math.PI * <f64>i) / <f64>R)));
  }
  suppression = suppress != 0;
  reset();
}

/** Byte offsets of the microphone, reference and output frames (960 slots), and the stats. */
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
  memory.fill(xTime, 0, <usize>N << 2);
  memory.fill(xr, 0, n);
  memory.fill(xi, 0, n);
  memory.fill(wr, 0, n);
  memory.fill(wi, 0, n);
  const hb = <usize>HP << 2;
  memory.fill(psi, 0, hb);
  const rb = <usize>R << 2;
  memory.fill(prevE, 0, rb);
  memory.fill(prevY, 0, rb);
  memory.fill(prevX, 0, rb);
  memory.fill(prevD, 0, rb);
  memory.fill(ola, 0, rb);
  const sb = <usize>S << 2;
  memory.fill(eh, 0, sb);
  memory.fill(yh, 0, sb);
  memory.fill(echo, 0, sb);
  memory.fill(xf, 0, sb);
  memory.fill(stats, 0, 16);
  for (let i = 0; i < K * HP; i++) stf(pk, i, 1);
  head = 0;
  constrainAt = 0;
  pInit = false;
  sPey = 0;
  sPyy = 1;
  pathY = 0;
  pathX = 0;
  nearHold = 0;
  farHold = 0;
  warm = 0;
  cap = 1;
  sdS = 0;
  soS = 0;
  sxS = 0;
  syS = 0;
}

/** Processes the frame (480 or 960 samples, as set by init) in the mic/ref buffers. */
export function process(): void {
  for (let o = 0; o < frameSamples; o += B) {
    const at = <usize>o << 2;
    processBlock(micBuf + at, refBuf + at, outBuf + at);
  }
}

/**
 * Processes samples 480·half … 480·half + 479 of the frame in the mic/ref buffers: half 0 then
 * half 1 equal one process() of a 960-sample frame. Lets an audio thread spread a frame's work
 * over two render quanta.
 */
export function processHalf(half: i32): void {
  const base = <usize>(half & 1) * 480;
  for (let o: usize = 0; o < 480; o += <usize>B) {
    const at = (base + o) << 2;
    processBlock(micBuf + at, refBuf + at, outBuf + at);
  }
}

function processBlock(d: usize, x: usize, out: usize): void {
  const rfft = fft!;
  const bytesB = <usize>B << 2;
  const bytesHP = <usize>HP << 2;
  const stride = <usize>HP << 2;

  // 1. Far-end spectrum of the last N samples (overlap-save), newest partition at `head`.
  memory.copy(xTime, xTime + bytesB, <usize>(N - B) << 2);
  memory.copy(xTime + (<usize>(N - B) << 2), x, bytesB);
  let vxx = f32x4.splat(0);
  for (let o: usize = 0; o < bytesB; o += 16) {
    const v = v128.load(x + o);
    vxx = f32x4.add(vxx, f32x4.mul(v, v));
  }
  const sxx = hsum(vxx);
  head = (head + K - 1) % K;
  const slot = <usize>head * stride;
  rfft.forward(xTime, xr + slot, xi + slot);

  // 2. Echo estimate Y = Σ_k W_k·X_k and predicted misalignment power S = Σ_k P_k·|X_k|².
  // Bins outer, partitions inner: the accumulators stay in registers. The far-end ring is
  // walked in two runs (slots head…K−1, then 0…head−1) to avoid a modulo per partition.
  const xrL = xr;
  const xiL = xi;
  const wrL = wr;
  const wiL = wi;
  const pkL = pk;
  for (let o: usize = 0; o < bytesHP; o += 16) {
    let ar = f32x4.splat(0);
    let ai = f32x4.splat(0);
    let as = f32x4.splat(0);
    let wo: usize = o;
    for (let run = 0; run < 2; run++) {
      const first = run == 0 ? head : 0;
      const last = run == 0 ? K : head;
      for (let slotK = first; slotK < last; slotK++) {
        const xo = <usize>slotK * stride + o;
        const a = v128.load(xrL + xo);
        const b = v128.load(xiL + xo);
        const c = v128.load(wrL + wo);
        const s = v128.load(wiL + wo);
        ar = f32x4.add(ar, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        ai = f32x4.add(ai, f32x4.add(f32x4.mul(a, s), f32x4.mul(b, c)));
        as = f32x4.add(
          as,
          f32x4.mul(v128.load(pkL + wo), f32x4.add(f32x4.mul(a, a), f32x4.mul(b, b))),
        );
        wo += stride;
      }
    }
    v128.store(yr + o, ar);
    v128.store(yi + o, ai);
    v128.store(sp + o, as);
  }
  rfft.inverse(yr, yi, time);
  const tail = time + (<usize>(N - B) << 2);
  for (let o: usize = 0; o < bytesB; o += 16) {
    const yv = v128.load(tail + o);
    v128.store(yb + o, yv);
    v128.store(eb + o, f32x4.sub(v128.load(d + o), yv));
  }

  // 3. Error spectrum, observation-noise estimate Ψ and Kalman update.
  memory.fill(time, 0, <usize>(N - B) << 2);
  memory.copy(tail, eb, bytesB);
  rfft.forward(time, er, ei);
  const farActive = sxx > <f32>B * 1e-8;
  if (farActive) {
    let see: f32 = 0;
    for (let f = 0; f < H; f++) {
      const a = ldf(er, f);
      const b = ldf(ei, f);
      const p = a * a + b * b;
      stf(psi, f, PSI_SMOOTH * ldf(psi, f) + (1 - PSI_SMOOTH) * p);
      see += p;
    }
    if (!pInit) {
      // First far-end block: P so that the first step is about half an NLMS step whatever the
      // echo level (P is in units of |W|², so a fixed initial value is level-dependent).
      let sxk: f32 = 0;
      for (let k = 0; k < K; k++) {
        const xo = k * HP;
        for (let f = 0; f < H; f++) {
          const a = ldf(xr, xo + f);
          const b = ldf(xi, xo + f);
          sxk += a * a + b * b;
        }
      }
      const p0: f32 = ((<f32>N / <f32>B) * see) / Mathf.max(sxk, 1e-30);
      for (let i = 0; i < K * HP; i++) stf(pk, i, p0);
      pInit = true;
      memory.fill(sp, 0, bytesHP);
      for (let k = 0; k < K; k++) {
        const xo = ((head + k) % K) * HP;
        const wo = k * HP;
        for (let f = 0; f < H; f++) {
          const a = ldf(xr, xo + f);
          const b = ldf(xi, xo + f);
          stf(sp, f, ldf(sp, f) + ldf(pk, wo + f) * (a * a + b * b));
        }
      }
    }
    const nb: f32 = <f32>N / <f32>B;
    for (let f = 0; f < H; f++) stf(sp, f, 1 / (ldf(sp, f) + nb * ldf(psi, f) + 1e-30));
    for (let f = H; f < HP; f++) stf(sp, f, 0);
    const va2 = f32x4.splat(A2);
    const va2c = f32x4.splat(1 - A2);
    const vbn = f32x4.splat(<f32>B / <f32>N);
    const one = f32x4.splat(1);
    for (let k = 0; k < K; k++) {
      const px = xrL + <usize>((head + k) % K) * stride;
      const py = xiL + <usize>((head + k) % K) * stride;
      const wo = <usize>k * stride;
      const pwr = wrL + wo;
      const pwi = wiL + wo;
      const ppk = pkL + wo;
      for (let o: usize = 0; o < bytesHP; o += 16) {
        const a = v128.load(px + o);
        const b = v128.load(py + o);
        const p = v128.load(ppk + o);
        const g = f32x4.mul(p, v128.load(sp + o));
        const gr = f32x4.mul(g, v128.load(er + o));
        const gi = f32x4.mul(g, v128.load(ei + o));
        // W += g·conj(X)·E
        const nr = f32x4.add(v128.load(pwr + o), f32x4.add(f32x4.mul(a, gr), f32x4.mul(b, gi)));
        const ni = f32x4.add(v128.load(pwi + o), f32x4.sub(f32x4.mul(a, gi), f32x4.mul(b, gr)));
        v128.store(pwr + o, nr);
        v128.store(pwi + o, ni);
        const xx = f32x4.add(f32x4.mul(a, a), f32x4.mul(b, b));
        const shrink = f32x4.sub(one, f32x4.mul(f32x4.mul(vbn, g), xx));
        v128.store(
          ppk + o,
          f32x4.add(
            f32x4.mul(f32x4.mul(va2, p), shrink),
            f32x4.mul(va2c, f32x4.add(f32x4.mul(nr, nr), f32x4.mul(ni, ni))),
          ),
        );
      }
    }
    // Gradient constraint on one partition per block, rotating (speexdsp mdf.c).
    const c = <usize>constrainAt * stride;
    constrainAt = (constrainAt + 1) % K;
    rfft.inverse(wr + c, wi + c, time);
    memory.fill(time + bytesB, 0, <usize>(N - B) << 2);
    rfft.forward(time, wr + c, wi + c);
  }

  // 4. Residual echo suppressor on two 120-sample hops.
  const rb = <usize>R << 2;
  suppressHop(d, x, 0, out);
  suppressHop(d + rb, x + rb, rb, out + rb);
}

// stime = [prev·win[0..R), cur·win[R..2R), zeros].
function windowed(prev: usize, cur: usize): void {
  const rb = <usize>R << 2;
  for (let o: usize = 0; o < rb; o += 16) {
    v128.store(stime + o, f32x4.mul(v128.load(prev + o), v128.load(win + o)));
    v128.store(stime + rb + o, f32x4.mul(v128.load(cur + o), v128.load(win + rb + o)));
  }
  memory.fill(stime + (rb << 1), 0, <usize>(NS - 2 * R) << 2);
}

function suppressHop(d: usize, x: usize, at: usize, out: usize): void {
  const sf = sfft!;
  const rb = <usize>R << 2;
  const e = eb + at;
  const y = yb + at;
  windowed(prevE, e);
  sf.forward(stime, ser, sei);
  windowed(prevY, y);
  sf.forward(stime, sar, sai);
  for (let f = 0; f < S; f++) {
    const a = ldf(sar, f);
    const b = ldf(sai, f);
    stf(yfp, f, a * a + b * b);
  }
  windowed(prevD, d);
  sf.forward(stime, sar, sai);
  for (let f = 0; f < S; f++) {
    const a = ldf(sar, f);
    const b = ldf(sai, f);
    stf(df, f, a * a + b * b);
  }
  windowed(prevX, x);
  sf.forward(stime, sar, sai);
  let vff = f32x4.splat(0);
  let vyy = f32x4.splat(0);
  let vdd = f32x4.splat(0);
  let vxx = f32x4.splat(0);
  for (let o: usize = 0; o < rb; o += 16) {
    const ev = v128.load(e + o);
    const yv = v128.load(y + o);
    const dv = v128.load(d + o);
    const xv = v128.load(x + o);
    vff = f32x4.add(vff, f32x4.mul(ev, ev));
    vyy = f32x4.add(vyy, f32x4.mul(yv, yv));
    vdd = f32x4.add(vdd, f32x4.mul(dv, dv));
    vxx = f32x4.add(vxx, f32x4.mul(xv, xv));
  }
  const sff = hsum(vff);
  const syy = hsum(vyy);
  const sdd = hsum(vdd);
  const sxx = hsum(vxx);

  // Leak estimate (Valin 2007; speexdsp mdf.c): regression of the error power on the echo
  // estimate power over bins, smoothed.
  let pey: f32 = 0;
  let pyy: f32 = 0;
  for (let f = 0; f < S; f++) {
    const a = ldf(ser, f);
    const b = ldf(sei, f);
    const r = a * a + b * b;
    const yv = ldf(yfp, f);
    stf(rf, f, r);
    const c = ldf(sar, f);
    const s = ldf(sai, f);
    stf(xf, f, FAR_SMOOTH * ldf(xf, f) + (1 - FAR_SMOOTH) * (c * c + s * s));
    const de = r - ldf(eh, f);
    const dy = yv - ldf(yh, f);
    pey += de * dy;
    pyy += dy * dy;
    stf(eh, f, (1 - SPEC_AVERAGE) * ldf(eh, f) + SPEC_AVERAGE * r);
    stf(yh, f, (1 - SPEC_AVERAGE) * ldf(yh, f) + SPEC_AVERAGE * yv);
  }
  pyy = Mathf.sqrt(pyy);
  pey = pey / Mathf.max(pyy, 1e-30);
  let alpha: f32 = Mathf.min(BETA0 * syy, BETA_MAX * sff) / Mathf.max(sff, 1e-30);
  if (!(alpha <= 1)) alpha = 0;
  sPey = (1 - alpha) * sPey + alpha * pey;
  sPyy = Mathf.max((1 - alpha) * sPyy + alpha * pyy, 1e-20);
  sPey = Mathf.min(Mathf.max(sPey, MIN_LEAK * sPyy), sPyy);
  const leak = sPey / sPyy;

  const farActive = sxx > <f32>R * 1e-8;
  if (farActive) {
    // Echo-path gain (microphone over far-end power): slow while double talk is declared.
    const a: f32 = nearHold == 0 || warm < WARM_HOPS ? PATH_SMOOTH : PATH_SMOOTH_DT;
    warm++;
    pathY = a * pathY + (1 - a) * sdd;
    pathX = a * pathX + (1 - a) * sxx;
  }
  const rho: f32 = (GAMMA * pathY) / (pathX + 1e-30);
  const leak2 = Mathf.min(1, 2 * leak);
  let exSum: f32 = 0;
  let tot: f32 = 0;
  for (let f = 0; f < S; f++) {
    const ly = leak2 * ldf(yfp, f);
    const ec = Mathf.max(Mathf.max(ECHO_DECAY * ldf(echo, f), ly), rho * ldf(xf, f));
    stf(echo, f, ec);
    stf(echoDt, f, ly);
    const r = ldf(rf, f);
    exSum += Mathf.max(r - RES_OVER * ec, 0);
    tot += r;
  }
  const gain: f32 = pathY / (pathX + 1e-30);
  let exMic: f32 = 0;
  let totMic: f32 = 0;
  for (let f = 0; f < S; f++) {
    const m = ldf(df, f);
    exMic += Mathf.max(m - MIC_OVER * gain * ldf(xf, f), 0);
    totMic += m;
  }
  const near = exSum > NEAR_FRAC * tot && exMic > MIC_FRAC * totMic;
  nearHold = near && warm >= WARM_HOPS ? NEAR_HOLD : max(0, nearHold - 1);
  farHold = farActive ? FAR_HOLD : max(0, farHold - 1);
  const capTarget: f32 = farHold > 0 && nearHold == 0 ? RES_FLOOR : 1;
  cap = capTarget < cap ? CAP_SMOOTH * cap + (1 - CAP_SMOOTH) * capTarget : capTarget;
  // During double talk only the leak-scaled estimate counts, with less over-subtraction, so
  // near-end speech keeps its spectrum.
  const dt = nearHold > 0;
  const est = dt ? echoDt : echo;
  const over: f32 = suppression ? (dt ? DT_OVER : RES_OVER) : 0;
  const lo: f32 = suppression ? RES_FLOOR : 1;
  const hi: f32 = suppression ? cap : 1;
  let sout: f32 = 0;
  let swin: f32 = 0;
  for (let f = 0; f < S; f++) {
    const r = ldf(rf, f);
    const g = Mathf.min(Mathf.max(1 - (over * ldf(est, f)) / (r + 1e-20), lo), hi);
    stf(ser, f, ldf(ser, f) * g);
    stf(sei, f, ldf(sei, f) * g);
    sout += g * g * r;
    swin += r;
  }
  sf.inverse(ser, sei, stime);
  for (let o: usize = 0; o < rb; o += 16) {
    v128.store(
      out + o,
      f32x4.add(v128.load(ola + o), f32x4.mul(v128.load(stime + o), v128.load(win + o))),
    );
    v128.store(ola + o, f32x4.mul(v128.load(stime + rb + o), v128.load(win + rb + o)));
  }
  memory.copy(prevE, e, rb);
  memory.copy(prevY, y, rb);
  memory.copy(prevX, x, rb);
  memory.copy(prevD, d, rb);

  // Diagnostics.
  if (farActive) {
    sdS = DIAG_SMOOTH * sdS + (1 - DIAG_SMOOTH) * sdd;
    soS = DIAG_SMOOTH * soS + (1 - DIAG_SMOOTH) * (sout / Mathf.max(swin, 1e-30)) * sff;
    sxS = DIAG_SMOOTH * sxS + (1 - DIAG_SMOOTH) * sxx;
    syS = DIAG_SMOOTH * syS + (1 - DIAG_SMOOTH) * syy;
  }
  stf(stats, 0, 10 * Mathf.log10((sdS + 1e-20) / (soS + 1e-20)));
  stf(stats, 1, 10 * Mathf.log10((sxS + 1e-20) / (syS + 1e-20)));
  stf(stats, 2, farActive && nearHold > 0 ? 1 : 0);
  stf(stats, 3, leak);
}
