// Scalar TypeScript reference of the echo canceller in assembly/aec.ts: the same algorithm, step
// for step, on plain Float32Arrays. Tests compare the kernel's quality with it and benchmarks
// time both. See assembly/aec.ts for the algorithm notes and citations.
import { ReferenceFft } from './fft.js';

/** Options shared by the reference and the WASM echo canceller. */
export interface ReferenceAecOptions {
  /** Echo tail covered by the adaptive filter, in ms (default 200). */
  tailMs?: number;
  /** Residual echo suppression on (default true). */
  suppression?: boolean;
}

const FS = 48_000;
/** Block (hop) of the adaptive filter, in samples: two blocks per 20 ms frame. */
export const AEC_BLOCK_SAMPLES = 480;
/** FFT length of the adaptive filter and of the suppressor, in samples. */
export const AEC_FFT_SIZE = 1024;

// Tuning constants, identical in assembly/aec.ts (see the notes there).
const MIN_LEAK = 0.01; // speexdsp mdf.c uses 0.005 ("no hope of better than 33 dB")
const SPEC_AVERAGE = (4 * AEC_BLOCK_SAMPLES) / FS; // speexdsp: frame/rate; 4x faster here
const BETA0 = (8 * AEC_BLOCK_SAMPLES) / FS;
const BETA_MAX = (2 * AEC_BLOCK_SAMPLES) / FS;
const MU_MAX = 1;
const MU_INIT = 1;
const RES_OVER = 2;
const RES_FLOOR = 0.03;
const SUM_ADAPT = 40;
const DELTA = 1e-2;
const BACKTRACK = 16; // speexdsp VAR_BACKTRACK is 4
const PROP_FLOOR = 0.1;
const GAMMA = 0.3;
const NOISE_UP = 1.01;
const NEAR_NOISE = 4;
const NEAR_FRAC = 0.5;
const NEAR_HOLD = 5;
const DT_MU = 0.1;
const DT_OVER = 1;

/**
 * Scalar reference of Concord's echo canceller (MDF/PBFDAF with speex-style two-path filters,
 * Valin's learning-rate control and a residual echo suppressor). 48 kHz mono, 960-sample frames.
 * Not real-time safe in spirit (no WASM), but allocation-free per frame. Any thread.
 */
export class ReferenceEchoCanceller {
  /** Filter block (partition) length in samples. */
  readonly blockSamples = AEC_BLOCK_SAMPLES;
  /** Number of 10 ms filter partitions: ceil(tailMs / 10). */
  readonly partitions: number;
  /** Output delay in samples introduced by the suppressor's overlap-add. */
  readonly latencySamples = AEC_BLOCK_SAMPLES;
  /** Residual echo suppression on; may change between frames. */
  suppression: boolean;
  /** Smoothed ERLE over far-end-active blocks, in dB. */
  erleDb = 0;
  /** Smoothed echo return loss (far-end over estimated echo power), in dB. */
  echoReturnLossDb = 0;
  /** True when the last block had far-end and near-end activity together. */
  doubleTalk = false;
  /** Leak estimate: residual echo power over echo estimate power (0.01–1). */
  leakEstimate = 0;

  private readonly fft = new ReferenceFft(AEC_FFT_SIZE);
  private readonly bins = AEC_FFT_SIZE / 2 + 1;
  private readonly xTime = new Float32Array(AEC_FFT_SIZE);
  private readonly xr: Float32Array;
  private readonly xi: Float32Array;
  private readonly wr: Float32Array;
  private readonly wi: Float32Array;
  private readonly fr: Float32Array;
  private readonly fi: Float32Array;
  private readonly psum: Float32Array;
  private readonly ar: Float32Array;
  private readonly ai: Float32Array;
  private readonly br: Float32Array;
  private readonly bi: Float32Array;
  private readonly er: Float32Array;
  private readonly ei: Float32Array;
  private readonly time = new Float32Array(AEC_FFT_SIZE);
  private readonly yf = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly yb = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly ef = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly eb = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly prevE = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly prevY = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly ola = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly win = new Float32Array(2 * AEC_BLOCK_SAMPLES);
  private readonly rf: Float32Array;
  private readonly yfp: Float32Array;
  private readonly eh: Float32Array;
  private readonly yh: Float32Array;
  private readonly mu: Float32Array;
  private readonly echo: Float32Array;
  private readonly noise: Float32Array;
  private readonly echoDt: Float32Array;
  private readonly prop: Float32Array;
  private pathY = 0;
  private pathX = 0;
  private nearHold = 0;
  private cap = 1;
  private head = 0;
  private constrainAt = 0;
  private pey = 0;
  private pyy = 1;
  private davg1 = 0;
  private davg2 = 0;
  private dvar1 = 0;
  private dvar2 = 0;
  private adapted = false;
  private sumAdapt = 0;
  private sdS = 0;
  private soS = 0;
  private sxS = 0;
  private syS = 0;

  /** @param options tail length (ms, default 200) and suppression (default on). */
  constructor(options: ReferenceAecOptions = {}) {
    const tailMs = options.tailMs ?? 200;
    this.suppression = options.suppression ?? true;
    this.partitions = Math.max(1, Math.ceil((tailMs * FS) / 1000 / AEC_BLOCK_SAMPLES));
    const n = this.partitions * this.bins;
    this.xr = new Float32Array(n);
    this.xi = new Float32Array(n);
    this.wr = new Float32Array(n);
    this.wi = new Float32Array(n);
    this.fr = new Float32Array(n);
    this.fi = new Float32Array(n);
    const b = this.bins;
    this.prop = new Float32Array(this.partitions).fill(1);
    this.psum = new Float32Array(b);
    this.ar = new Float32Array(b);
    this.ai = new Float32Array(b);
    this.br = new Float32Array(b);
    this.bi = new Float32Array(b);
    this.er = new Float32Array(b);
    this.ei = new Float32Array(b);
    this.rf = new Float32Array(b);
    this.yfp = new Float32Array(b);
    this.eh = new Float32Array(b);
    this.yh = new Float32Array(b);
    this.mu = new Float32Array(b);
    this.echo = new Float32Array(b);
    this.noise = new Float32Array(b);
    this.echoDt = new Float32Array(b);
    // Periodic sqrt-Hann: analysis × synthesis windows at 50 % overlap sum to one.
    for (let i = 0; i < 2 * AEC_BLOCK_SAMPLES; i++) {
      this.win[i] = Math.sqrt(0.5 - 0.5 * Math.cos((Math.PI * i) / AEC_BLOCK_SAMPLES));
    }
  }

  /** Clears all filter and suppressor state. */
  reset(): void {
    for (const a of [this.xTime, this.xr, this.xi, this.wr, this.wi, this.fr, this.fi, this.psum]) {
      a.fill(0);
    }
    for (const a of [this.prevE, this.prevY, this.ola, this.eh, this.yh, this.echo, this.noise])
      a.fill(0);
    this.prop.fill(1);
    this.head = 0;
    this.constrainAt = 0;
    this.pey = 0;
    this.pyy = 1;
    this.davg1 = this.davg2 = this.dvar1 = this.dvar2 = 0;
    this.adapted = false;
    this.sumAdapt = 0;
    this.sdS = this.soS = this.sxS = this.syS = 0;
  }

  /**
   * Processes one frame (a multiple of 480 samples, normally 960): `out` receives `mic` without
   * the echo of `ref`, delayed by {@link latencySamples}.
   */
  process(mic: Float32Array, ref: Float32Array, out: Float32Array): void {
    const B = AEC_BLOCK_SAMPLES;
    for (let o = 0; o + B <= mic.length; o += B) {
      this.processBlock(mic.subarray(o, o + B), ref.subarray(o, o + B), out.subarray(o, o + B));
    }
  }

  private processBlock(d: Float32Array, x: Float32Array, out: Float32Array): void {
    const B = AEC_BLOCK_SAMPLES;
    const L = AEC_FFT_SIZE;
    const H = this.bins;
    const K = this.partitions;
    const { xr, xi, wr, wi, fr, fi, psum, ar, ai, br, bi, er, ei, time } = this;

    // 1. Far-end spectrum of the last L samples (overlap-save), newest partition at `head`.
    this.xTime.copyWithin(0, B);
    this.xTime.set(x, L - B);
    let sxx = 0;
    for (let n = 0; n < B; n++) sxx += x[n]! * x[n]!;
    this.head = (this.head + K - 1) % K;
    const slot = this.head * H;
    for (let f = 0; f < H; f++) psum[f]! -= xr[slot + f]! ** 2 + xi[slot + f]! ** 2;
    this.fft.forward(this.xTime, xr.subarray(slot, slot + H), xi.subarray(slot, slot + H));
    if (this.head === 0) {
      psum.fill(0);
      for (let k = 0; k < K; k++) {
        for (let f = 0; f < H; f++) psum[f]! += xr[k * H + f]! ** 2 + xi[k * H + f]! ** 2;
      }
    } else {
      for (let f = 0; f < H; f++) {
        psum[f] = Math.max(0, psum[f]! + xr[slot + f]! ** 2 + xi[slot + f]! ** 2);
      }
    }

    // 2. Foreground and background echo estimates.
    ar.fill(0);
    ai.fill(0);
    br.fill(0);
    bi.fill(0);
    for (let k = 0; k < K; k++) {
      const xo = ((this.head + k) % K) * H;
      const wo = k * H;
      for (let f = 0; f < H; f++) {
        const a = xr[xo + f]!;
        const b = xi[xo + f]!;
        ar[f]! += a * fr[wo + f]! - b * fi[wo + f]!;
        ai[f]! += a * fi[wo + f]! + b * fr[wo + f]!;
        br[f]! += a * wr[wo + f]! - b * wi[wo + f]!;
        bi[f]! += a * wi[wo + f]! + b * wr[wo + f]!;
      }
    }
    this.fft.inverse(ar, ai, time);
    for (let n = 0; n < B; n++) this.yf[n] = time[L - B + n]!;
    this.fft.inverse(br, bi, time);
    for (let n = 0; n < B; n++) this.yb[n] = time[L - B + n]!;
    let sff = 0;
    let see = 0;
    let dbf = 0;
    let sdd = 0;
    for (let n = 0; n < B; n++) {
      const ef = d[n]! - this.yf[n]!;
      const eb = d[n]! - this.yb[n]!;
      this.ef[n] = ef;
      this.eb[n] = eb;
      sff += ef * ef;
      see += eb * eb;
      dbf += (ef - eb) ** 2;
      sdd += d[n]! * d[n]!;
    }

    // 3. Two-path decision (speexdsp mdf.c, TWO_PATH): promote the background filter when it is
    //    significantly better, fall back to the foreground when the background diverged.
    const diff = sff - see;
    this.davg1 = 0.6 * this.davg1 + 0.4 * diff;
    this.davg2 = 0.85 * this.davg2 + 0.15 * diff;
    this.dvar1 = 0.36 * this.dvar1 + 0.16 * sff * dbf;
    this.dvar2 = 0.7225 * this.dvar2 + 0.0225 * sff * dbf;
    if (
      diff * Math.abs(diff) > sff * dbf ||
      this.davg1 * Math.abs(this.davg1) > 0.5 * this.dvar1 ||
      this.davg2 * Math.abs(this.davg2) > 0.25 * this.dvar2
    ) {
      this.davg1 = this.davg2 = this.dvar1 = this.dvar2 = 0;
      fr.set(wr);
      fi.set(wi);
      this.ef.set(this.eb);
      this.yf.set(this.yb);
      sff = see;
    } else if (
      -diff * Math.abs(diff) > BACKTRACK * sff * dbf ||
      -this.davg1 * Math.abs(this.davg1) > BACKTRACK * this.dvar1 ||
      -this.davg2 * Math.abs(this.davg2) > BACKTRACK * this.dvar2
    ) {
      this.davg1 = this.davg2 = this.dvar1 = this.dvar2 = 0;
      wr.set(fr);
      wi.set(fi);
      this.eb.set(this.ef);
      see = sff;
    }

    // 4. Windowed spectra of the output error and the echo estimate (for the step size, the leak
    //    estimate and the suppressor), sqrt-Hann over the last two blocks.
    const win = this.win;
    time.fill(0);
    for (let n = 0; n < B; n++) {
      time[n] = this.prevE[n]! * win[n]!;
      time[B + n] = this.ef[n]! * win[B + n]!;
    }
    this.fft.forward(time, er, ei);
    for (let n = 0; n < B; n++) {
      time[n] = this.prevY[n]! * win[n]!;
      time[B + n] = this.yf[n]! * win[B + n]!;
    }
    this.fft.forward(time, br, bi);
    let syy = 0;
    let sey = 0;
    for (let n = 0; n < B; n++) {
      syy += this.yf[n]! * this.yf[n]!;
      sey += this.ef[n]! * this.yf[n]!;
    }
    const rf = this.rf;
    const yfp = this.yfp;
    let pey = 0;
    let pyy = 0;
    for (let f = 0; f < H; f++) {
      rf[f] = er[f]! * er[f]! + ei[f]! * ei[f]!;
      yfp[f] = br[f]! * br[f]! + bi[f]! * bi[f]!;
      const de = rf[f]! - this.eh[f]!;
      const dy = yfp[f]! - this.yh[f]!;
      pey += de * dy;
      pyy += dy * dy;
      this.eh[f] = (1 - SPEC_AVERAGE) * this.eh[f]! + SPEC_AVERAGE * rf[f]!;
      this.yh[f] = (1 - SPEC_AVERAGE) * this.yh[f]! + SPEC_AVERAGE * yfp[f]!;
    }

    // 5. Leak estimate and learning rate (Valin 2007; speexdsp mdf.c).
    pyy = Math.sqrt(pyy);
    pey = pey / Math.max(pyy, 1e-30);
    let alpha = Math.min(BETA0 * syy, BETA_MAX * sff) / Math.max(sff, 1e-30);
    if (!(alpha <= 1)) alpha = 0;
    this.pey = (1 - alpha) * this.pey + alpha * pey;
    this.pyy = Math.max((1 - alpha) * this.pyy + alpha * pyy, 1e-20);
    this.pey = Math.min(Math.max(this.pey, MIN_LEAK * this.pyy), this.pyy);
    const leak = this.pey / this.pyy;
    this.leakEstimate = leak;
    let rer = (1e-4 * sxx + 3 * leak * syy) / Math.max(sff, 1e-30);
    const rerMin = (sey * sey) / (1e-30 + sff * syy);
    if (rer < rerMin) rer = rerMin;
    if (rer > 0.5) rer = 0.5;
    if (!this.adapted && this.sumAdapt > SUM_ADAPT) this.adapted = true;
    const mu = this.mu;
    const farActive = sxx > B * 1e-8;
    if (!farActive) {
      mu.fill(0);
    } else if (this.adapted) {
      for (let f = 0; f < H; f++) {
        const e = rf[f]! + 1e-20;
        let r = leak * yfp[f]!;
        if (r > 0.5 * e) r = 0.5 * e;
        r = 0.7 * r + 0.3 * rer * e;
        mu[f] = ((this.nearHold > 0 ? DT_MU : MU_MAX) * 2 * r) / e;
      }
    } else {
      const rate = MU_INIT * Math.min(1, sxx / Math.max(see, 1e-30));
      mu.fill(rate);
      this.sumAdapt += rate;
    }

    // 6. Background update: W_k += mu · conj(X_k) · E / (Σ_k |X_k|² + δ).
    time.fill(0, 0, L - B);
    time.set(this.eb, L - B);
    this.fft.forward(time, ar, ai);
    let pmean = 0;
    for (let f = 0; f < H; f++) pmean += psum[f]!;
    const delta = (pmean / H) * DELTA + 1e-12;
    for (let f = 0; f < H; f++) {
      const g = mu[f]! / (psum[f]! + delta);
      ar[f]! *= g;
      ai[f]! *= g;
    }
    if (farActive) {
      // Proportionate step per partition (speexdsp mdf.c mdf_adjust_prop, after Duttweiler's
      // PNLMS): partitions holding more of the echo path adapt faster.
      let maxNorm = 0;
      for (let k = 0; k < K; k++) maxNorm = Math.max(maxNorm, this.prop[k]!);
      let propSum = 0;
      for (let k = 0; k < K; k++) propSum += this.prop[k]! + PROP_FLOOR * maxNorm;
      for (let k = 0; k < K; k++) {
        const xo = ((this.head + k) % K) * H;
        const wo = k * H;
        const p = (K * (this.prop[k]! + PROP_FLOOR * maxNorm)) / propSum;
        let norm = 1e-12;
        for (let f = 0; f < H; f++) {
          const a = xr[xo + f]!;
          const b = xi[xo + f]!;
          const nr = wr[wo + f]! + p * (a * ar[f]! + b * ai[f]!);
          const ni = wi[wo + f]! + p * (a * ai[f]! - b * ar[f]!);
          wr[wo + f] = nr;
          wi[wo + f] = ni;
          norm += nr * nr + ni * ni;
        }
        this.prop[k] = Math.sqrt(norm);
      }
      // Gradient constraint on one partition per block, rotating (speexdsp mdf.c does the same
      // to keep the unconstrained MDF from accumulating wrap-around terms cheaply).
      const c = this.constrainAt * H;
      this.constrainAt = (this.constrainAt + 1) % K;
      this.fft.inverse(wr.subarray(c, c + H), wi.subarray(c, c + H), time);
      time.fill(0, B);
      this.fft.forward(time, wr.subarray(c, c + H), wi.subarray(c, c + H));
    }

    // 7. Residual echo suppressor on the windowed error spectrum er/ei: per-bin gain from the
    //    largest of the leak-scaled echo estimate, far-end power × echo return loss and the
    //    decaying previous estimate (0.6/block, speexdsp preprocess.c); floor RES_FLOOR.
    const leak2 = Math.min(1, 2 * leak);
    if (farActive && this.nearHold === 0) {
      this.pathY = 0.95 * this.pathY + 0.05 * sdd;
      this.pathX = 0.95 * this.pathX + 0.05 * sxx;
    }
    const rho = (GAMMA * this.pathY * 2 * B) / (this.pathX * K * L + 1e-30);
    // Stationary noise floor per bin (fast down, slow up) and near-end presence: error energy
    // not explained by the residual echo estimate nor the noise floor.
    const noise = this.noise;
    let excess = 0;
    let total = 0;
    for (let f = 0; f < H; f++) {
      const echo = Math.max(0.6 * this.echo[f]!, leak2 * yfp[f]!, rho * psum[f]!);
      this.echo[f] = echo;
      this.echoDt[f] = leak2 * yfp[f]!;
      const r = rf[f]!;
      noise[f] = r < noise[f]! ? 0.7 * noise[f]! + 0.3 * r : noise[f]! * NOISE_UP + 1e-30;
      const ex = r - RES_OVER * echo - NEAR_NOISE * noise[f]!;
      if (ex > 0) excess += ex;
      total += r;
    }
    const near = excess > NEAR_FRAC * total;
    this.nearHold = near ? NEAR_HOLD : Math.max(0, this.nearHold - 1);
    // Broadband cap while the far end talks alone: squash noise and residual alike (the part of
    // the old WebRTC AEC's NLP that buys its ERLE), released at once when the near end appears.
    const cap = farActive && this.nearHold === 0 ? RES_FLOOR : 1;
    this.cap = cap < this.cap ? 0.5 * this.cap + 0.5 * cap : cap;
    let sout = 0;
    for (let f = 0; f < H; f++) {
      const echo = this.nearHold > 0 ? this.echoDt[f]! : this.echo[f]!;
      let g = 1;
      if (this.suppression) {
        g = 1 - ((this.nearHold > 0 ? DT_OVER : RES_OVER) * echo) / (rf[f]! + 1e-20);
        if (g < RES_FLOOR) g = RES_FLOOR;
        if (g > this.cap) g = this.cap;
      }
      er[f]! *= g;
      ei[f]! *= g;
      sout += g * g * rf[f]!;
    }
    this.fft.inverse(er, ei, time);
    for (let n = 0; n < B; n++) {
      out[n] = this.ola[n]! + time[n]! * win[n]!;
      this.ola[n] = time[B + n]! * win[B + n]!;
    }
    this.prevE.set(this.ef);
    this.prevY.set(this.yf);

    // 8. Diagnostics.
    let swin = 0;
    for (let f = 0; f < H; f++) swin += rf[f]!;
    if (farActive) {
      this.sdS = 0.9 * this.sdS + 0.1 * sdd;
      this.soS = 0.9 * this.soS + 0.1 * (sout / Math.max(swin, 1e-30)) * sff;
      this.sxS = 0.9 * this.sxS + 0.1 * sxx;
      this.syS = 0.9 * this.syS + 0.1 * syy;
    }
    this.erleDb = 10 * Math.log10((this.sdS + 1e-20) / (this.soS + 1e-20));
    this.echoReturnLossDb = 10 * Math.log10((this.sxS + 1e-20) / (this.syS + 1e-20));
    this.doubleTalk = farActive && this.nearHold > 0;
  }
}
