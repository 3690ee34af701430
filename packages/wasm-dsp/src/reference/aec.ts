// Scalar TypeScript reference of the echo canceller in assembly/aec.ts: the same algorithm, step
// for step, on plain Float32Arrays. Tests compare the kernel with it and benchmarks time both.
// See assembly/aec.ts for the algorithm notes and citations.
import { ReferenceFft } from './fft.js';

/** Options shared by the reference and the WASM echo canceller. */
export interface ReferenceAecOptions {
  /** Echo tail covered by the adaptive filter, in ms (default 200). */
  tailMs?: number;
  /** Residual echo suppression on (default true). */
  suppression?: boolean;
}

const FS = 48_000;
/** Block (hop) of the adaptive filter and length of one partition, in samples (5 ms). */
export const AEC_BLOCK_SAMPLES = 240;
/** FFT length of the adaptive filter, in samples. */
export const AEC_FFT_SIZE = 512;
/** Hop of the residual echo suppressor, in samples (2.5 ms): its overlap-add delay. */
export const AEC_SUPPRESSOR_HOP_SAMPLES = 120;
/** FFT length of the suppressor (a 240-sample window zero-padded), in samples. */
export const AEC_SUPPRESSOR_FFT_SIZE = 256;

// Tuning constants, identical in assembly/aec.ts (see the notes there).
const A2 = 0.9985; // Kalman state transition squared, per 5 ms block
const PSI_SMOOTH = 0.5;
const MIN_LEAK = 0.01;
const SPEC_AVERAGE = (4 * AEC_SUPPRESSOR_HOP_SAMPLES) / FS;
const BETA0 = (8 * AEC_SUPPRESSOR_HOP_SAMPLES) / FS;
const BETA_MAX = (2 * AEC_SUPPRESSOR_HOP_SAMPLES) / FS;
const RES_OVER = 2;
const RES_FLOOR = 0.03;
const GAMMA = 0.3;
const ECHO_DECAY = 0.88;
const FAR_SMOOTH = 0.95;
const PATH_SMOOTH = 0.987;
const NEAR_FRAC = 0.5;
const NEAR_HOLD = 20;
const CAP_SMOOTH = 0.84;
const DT_OVER = 1;
const DIAG_SMOOTH = 0.974;
const WARM_HOPS = 120;
const MIC_OVER = 2;
const MIC_FRAC = 0.5;
const FAR_HOLD = 40;
const PATH_SMOOTH_DT = 0.998;

/**
 * Scalar reference of Concord's echo canceller: a partitioned-block frequency-domain Kalman
 * filter (5 ms partitions) and a residual echo suppressor on 2.5 ms hops. 48 kHz mono; frames of
 * any multiple of 240 samples (480 or 960 in practice). Allocation-free per frame. Any thread.
 */
export class ReferenceEchoCanceller {
  /** Filter block (partition) length in samples. */
  readonly blockSamples = AEC_BLOCK_SAMPLES;
  /** Number of 5 ms filter partitions: ceil(tailMs / 5). */
  readonly partitions: number;
  /** Output delay in samples introduced by the suppressor's overlap-add (120 = 2.5 ms). */
  readonly latencySamples = AEC_SUPPRESSOR_HOP_SAMPLES;
  /** Residual echo suppression on; may change between frames. */
  suppression: boolean;
  /** Smoothed ERLE over far-end-active hops, in dB. */
  erleDb = 0;
  /** Smoothed echo return loss (far-end over estimated echo power), in dB. */
  echoReturnLossDb = 0;
  /** True when the last hop had far-end and near-end activity together. */
  doubleTalk = false;
  /** Leak estimate: residual echo power over echo estimate power (0.01–1). */
  leakEstimate = 0;

  private readonly fft = new ReferenceFft(AEC_FFT_SIZE);
  private readonly sfft = new ReferenceFft(AEC_SUPPRESSOR_FFT_SIZE);
  private readonly bins = AEC_FFT_SIZE / 2 + 1;
  private readonly sbins = AEC_SUPPRESSOR_FFT_SIZE / 2 + 1;
  private readonly xTime = new Float32Array(AEC_FFT_SIZE);
  private readonly time = new Float32Array(AEC_FFT_SIZE);
  private readonly xr: Float32Array;
  private readonly xi: Float32Array;
  private readonly wr: Float32Array;
  private readonly wi: Float32Array;
  private readonly pk: Float32Array;
  private readonly yr: Float32Array;
  private readonly yi: Float32Array;
  private readonly er: Float32Array;
  private readonly ei: Float32Array;
  private readonly sp: Float32Array;
  private readonly psi: Float32Array;
  private readonly y = new Float32Array(AEC_BLOCK_SAMPLES);
  private readonly e = new Float32Array(AEC_BLOCK_SAMPLES);
  // Suppressor state (2.5 ms hops, 240-sample sqrt-Hann windows in 256-point FFTs).
  private readonly stime = new Float32Array(AEC_SUPPRESSOR_FFT_SIZE);
  private readonly win = new Float32Array(2 * AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly prevE = new Float32Array(AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly prevY = new Float32Array(AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly prevX = new Float32Array(AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly prevD = new Float32Array(AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly df: Float32Array;
  private readonly ola = new Float32Array(AEC_SUPPRESSOR_HOP_SAMPLES);
  private readonly ser: Float32Array;
  private readonly sei: Float32Array;
  private readonly sar: Float32Array;
  private readonly sai: Float32Array;
  private readonly rf: Float32Array;
  private readonly yfp: Float32Array;
  private readonly xf: Float32Array;
  private readonly eh: Float32Array;
  private readonly yh: Float32Array;
  private readonly echo: Float32Array;
  private readonly echoDt: Float32Array;
  private head = 0;
  private constrainAt = 0;
  private pInit = false;
  private pey = 0;
  private pyy = 1;
  private pathY = 0;
  private pathX = 0;
  private nearHold = 0;
  private cap = 1;
  private farHold = 0;
  private warm = 0;
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
    this.pk = new Float32Array(n);
    const b = this.bins;
    this.yr = new Float32Array(b);
    this.yi = new Float32Array(b);
    this.er = new Float32Array(b);
    this.ei = new Float32Array(b);
    this.sp = new Float32Array(b);
    this.psi = new Float32Array(b);
    const s = this.sbins;
    this.ser = new Float32Array(s);
    this.sei = new Float32Array(s);
    this.sar = new Float32Array(s);
    this.sai = new Float32Array(s);
    this.rf = new Float32Array(s);
    this.yfp = new Float32Array(s);
    this.xf = new Float32Array(s);
    this.df = new Float32Array(s);
    this.eh = new Float32Array(s);
    this.yh = new Float32Array(s);
    this.echo = new Float32Array(s);
    this.echoDt = new Float32Array(s);
    // Periodic sqrt-Hann: analysis × synthesis windows at 50 % overlap sum to one.
    const R = AEC_SUPPRESSOR_HOP_SAMPLES;
    for (let i = 0; i < 2 * R; i++)
      this.win[i] = Math.sqrt(0.5 - 0.5 * Math.cos((Math.PI * i) / R));
    this.reset();
  }

  /** Clears all filter and suppressor state. */
  reset(): void {
    for (const a of [this.xTime, this.xr, this.xi, this.wr, this.wi, this.psi]) a.fill(0);
    for (const a of [this.prevE, this.prevY, this.prevX, this.prevD, this.ola, this.eh, this.yh])
      a.fill(0);
    this.echo.fill(0);
    this.pk.fill(1);
    this.head = 0;
    this.constrainAt = 0;
    this.pInit = false;
    this.pey = 0;
    this.pyy = 1;
    this.pathY = this.pathX = 0;
    this.nearHold = 0;
    this.cap = 1;
    this.farHold = 0;
    this.warm = 0;
    this.sdS = this.soS = this.sxS = this.syS = 0;
    this.erleDb = this.echoReturnLossDb = this.leakEstimate = 0;
    this.doubleTalk = false;
  }

  /**
   * Processes one frame (a multiple of 240 samples, normally 480 or 960): `out` receives `mic`
   * without the echo of `ref`, delayed by {@link latencySamples}.
   */
  process(mic: Float32Array, ref: Float32Array, out: Float32Array): void {
    const B = AEC_BLOCK_SAMPLES;
    for (let o = 0; o + B <= mic.length; o += B) {
      this.processBlock(mic.subarray(o, o + B), ref.subarray(o, o + B), out.subarray(o, o + B));
    }
  }

  private processBlock(d: Float32Array, x: Float32Array, out: Float32Array): void {
    const B = AEC_BLOCK_SAMPLES;
    const N = AEC_FFT_SIZE;
    const H = this.bins;
    const K = this.partitions;
    const { xr, xi, wr, wi, pk, yr, yi, er, ei, sp, psi, time, y, e } = this;

    // 1. Far-end spectrum of the last N samples (overlap-save), newest partition at `head`.
    this.xTime.copyWithin(0, B);
    this.xTime.set(x, N - B);
    let sxx = 0;
    for (let n = 0; n < B; n++) sxx += x[n]! * x[n]!;
    this.head = (this.head + K - 1) % K;
    const slot = this.head * H;
    this.fft.forward(this.xTime, xr.subarray(slot, slot + H), xi.subarray(slot, slot + H));

    // 2. Echo estimate Y = Σ_k W_k·X_k and the predicted misalignment power S = Σ_k P_k·|X_k|².
    yr.fill(0);
    yi.fill(0);
    sp.fill(0);
    for (let k = 0; k < K; k++) {
      const xo = ((this.head + k) % K) * H;
      const wo = k * H;
      for (let f = 0; f < H; f++) {
        const a = xr[xo + f]!;
        const b = xi[xo + f]!;
        const c = wr[wo + f]!;
        const s = wi[wo + f]!;
        yr[f]! += a * c - b * s;
        yi[f]! += a * s + b * c;
        sp[f]! += pk[wo + f]! * (a * a + b * b);
      }
    }
    this.fft.inverse(yr, yi, time);
    for (let n = 0; n < B; n++) {
      y[n] = time[N - B + n]!;
      e[n] = d[n]! - y[n]!;
    }

    // 3. Error spectrum, observation-noise estimate and Kalman update.
    time.fill(0, 0, N - B);
    time.set(e, N - B);
    this.fft.forward(time, er, ei);
    const farActive = sxx > B * 1e-8;
    if (farActive) {
      let see = 0;
      for (let f = 0; f < H; f++) {
        const p = er[f]! * er[f]! + ei[f]! * ei[f]!;
        psi[f] = PSI_SMOOTH * psi[f]! + (1 - PSI_SMOOTH) * p;
        see += p;
      }
      if (!this.pInit) {
        // First far-end block: set P so that the first step is about half an NLMS step whatever
        // the echo level (P is in units of |W|², so a fixed initial value is level-dependent).
        let sxk = 0;
        for (let k = 0; k < K; k++) {
          const xo = k * H;
          for (let f = 0; f < H; f++) sxk += xr[xo + f]! ** 2 + xi[xo + f]! ** 2;
        }
        const p0 = ((N / B) * see) / Math.max(sxk, 1e-30);
        pk.fill(p0);
        this.pInit = true;
        sp.fill(0);
        for (let k = 0; k < K; k++) {
          const xo = ((this.head + k) % K) * H;
          const wo = k * H;
          for (let f = 0; f < H; f++) sp[f]! += pk[wo + f]! * (xr[xo + f]! ** 2 + xi[xo + f]! ** 2);
        }
      }
      const nb = N / B;
      for (let f = 0; f < H; f++) sp[f] = 1 / (sp[f]! + nb * psi[f]! + 1e-30);
      for (let k = 0; k < K; k++) {
        const xo = ((this.head + k) % K) * H;
        const wo = k * H;
        for (let f = 0; f < H; f++) {
          const a = xr[xo + f]!;
          const b = xi[xo + f]!;
          const p = pk[wo + f]!;
          const g = p * sp[f]!;
          const gr = g * er[f]!;
          const gi = g * ei[f]!;
          // W += g·conj(X)·E
          const nr = wr[wo + f]! + a * gr + b * gi;
          const ni = wi[wo + f]! + a * gi - b * gr;
          wr[wo + f] = nr;
          wi[wo + f] = ni;
          pk[wo + f] =
            A2 * p * (1 - (B / N) * g * (a * a + b * b)) + (1 - A2) * (nr * nr + ni * ni);
        }
      }
      // Gradient constraint on one partition per block, rotating (speexdsp mdf.c).
      const c = this.constrainAt * H;
      this.constrainAt = (this.constrainAt + 1) % K;
      this.fft.inverse(wr.subarray(c, c + H), wi.subarray(c, c + H), time);
      time.fill(0, B);
      this.fft.forward(time, wr.subarray(c, c + H), wi.subarray(c, c + H));
    }

    // 4. Residual echo suppressor on two 120-sample hops.
    const R = AEC_SUPPRESSOR_HOP_SAMPLES;
    this.suppressHop(d.subarray(0, R), x.subarray(0, R), 0, out.subarray(0, R));
    this.suppressHop(d.subarray(R, B), x.subarray(R, B), R, out.subarray(R, B));
  }

  private windowed(prev: Float32Array, cur: Float32Array): Float32Array {
    const R = AEC_SUPPRESSOR_HOP_SAMPLES;
    const t = this.stime;
    for (let n = 0; n < R; n++) {
      t[n] = prev[n]! * this.win[n]!;
      t[R + n] = cur[n]! * this.win[R + n]!;
    }
    t.fill(0, 2 * R);
    return t;
  }

  private suppressHop(d: Float32Array, x: Float32Array, at: number, out: Float32Array): void {
    const R = AEC_SUPPRESSOR_HOP_SAMPLES;
    const S = this.sbins;
    const { ser, sei, sar, sai, rf, yfp, xf, eh, yh, echo, echoDt } = this;
    const e = this.e.subarray(at, at + R);
    const y = this.y.subarray(at, at + R);
    this.sfft.forward(this.windowed(this.prevE, e), ser, sei);
    this.sfft.forward(this.windowed(this.prevY, y), sar, sai);
    for (let f = 0; f < S; f++) yfp[f] = sar[f]! ** 2 + sai[f]! ** 2;
    this.sfft.forward(this.windowed(this.prevD, d), sar, sai);
    for (let f = 0; f < S; f++) this.df[f] = sar[f]! ** 2 + sai[f]! ** 2;
    this.sfft.forward(this.windowed(this.prevX, x), sar, sai);
    let sff = 0;
    let syy = 0;
    let sdd = 0;
    let sxx = 0;
    for (let n = 0; n < R; n++) {
      sff += e[n]! * e[n]!;
      syy += y[n]! * y[n]!;
      sdd += d[n]! * d[n]!;
      sxx += x[n]! * x[n]!;
    }
    // Leak estimate (Valin 2007; speexdsp mdf.c): regression of the error power on the echo
    // estimate power, per bin, smoothed.
    let pey = 0;
    let pyy = 0;
    for (let f = 0; f < S; f++) {
      const r = ser[f]! ** 2 + sei[f]! ** 2;
      const yv = yfp[f]!;
      rf[f] = r;
      xf[f] = FAR_SMOOTH * xf[f]! + (1 - FAR_SMOOTH) * (sar[f]! ** 2 + sai[f]! ** 2);
      const de = r - eh[f]!;
      const dy = yv - yh[f]!;
      pey += de * dy;
      pyy += dy * dy;
      eh[f] = (1 - SPEC_AVERAGE) * eh[f]! + SPEC_AVERAGE * r;
      yh[f] = (1 - SPEC_AVERAGE) * yh[f]! + SPEC_AVERAGE * yv;
    }
    pyy = Math.sqrt(pyy);
    pey = pey / Math.max(pyy, 1e-30);
    let alpha = Math.min(BETA0 * syy, BETA_MAX * sff) / Math.max(sff, 1e-30);
    if (!(alpha <= 1)) alpha = 0;
    this.pey = (1 - alpha) * this.pey + alpha * pey;
    this.pyy = Math.max((1 - alpha) * this.pyy + alpha * pyy, 1e-20);
    this.pey = Math.min(Math.max(this.pey, MIN_LEAK * this.pyy), this.pyy);
    const leak = this.pey / this.pyy;

    const farActive = sxx > R * 1e-8;
    if (farActive) {
      const a = this.nearHold === 0 || this.warm < WARM_HOPS ? PATH_SMOOTH : PATH_SMOOTH_DT;
      this.warm++;
      this.pathY = a * this.pathY + (1 - a) * sdd;
      this.pathX = a * this.pathX + (1 - a) * sxx;
    }
    const rho = (GAMMA * this.pathY) / (this.pathX + 1e-30);
    const leak2 = Math.min(1, 2 * leak);
    let exSum = 0;
    let tot = 0;
    for (let f = 0; f < S; f++) {
      const ly = leak2 * yfp[f]!;
      const ec = Math.max(ECHO_DECAY * echo[f]!, ly, rho * xf[f]!);
      echo[f] = ec;
      echoDt[f] = ly;
      const r = rf[f]!;
      exSum += Math.max(r - RES_OVER * ec, 0);
      tot += r;
    }
    const gain = this.pathY / (this.pathX + 1e-30);
    let exMic = 0;
    let totMic = 0;
    for (let f = 0; f < S; f++) {
      exMic += Math.max(this.df[f]! - MIC_OVER * gain * xf[f]!, 0);
      totMic += this.df[f]!;
    }
    const resNear = exSum > NEAR_FRAC * tot;
    const micNear = exMic > MIC_FRAC * totMic;
    const near = resNear && micNear;

    this.nearHold = near && this.warm >= WARM_HOPS ? NEAR_HOLD : Math.max(0, this.nearHold - 1);
    this.farHold = farActive ? FAR_HOLD : Math.max(0, this.farHold - 1);
    const capTarget = this.farHold > 0 && this.nearHold === 0 ? RES_FLOOR : 1;
    this.cap =
      capTarget < this.cap ? CAP_SMOOTH * this.cap + (1 - CAP_SMOOTH) * capTarget : capTarget;
    const dt = this.nearHold > 0;
    const est = dt ? echoDt : echo;
    const over = this.suppression ? (dt ? DT_OVER : RES_OVER) : 0;
    const lo = this.suppression ? RES_FLOOR : 1;
    const hi = this.suppression ? this.cap : 1;
    let sout = 0;
    let swin = 0;
    for (let f = 0; f < S; f++) {
      const r = rf[f]!;
      const g = Math.min(Math.max(1 - (over * est[f]!) / (r + 1e-20), lo), hi);
      ser[f]! *= g;
      sei[f]! *= g;
      sout += g * g * r;
      swin += r;
    }
    const t = this.stime;
    this.sfft.inverse(ser, sei, t);
    for (let n = 0; n < R; n++) {
      out[n] = this.ola[n]! + t[n]! * this.win[n]!;
      this.ola[n] = t[R + n]! * this.win[R + n]!;
    }
    this.prevE.set(e);
    this.prevY.set(y);
    this.prevX.set(x);
    this.prevD.set(d);

    // Diagnostics.
    if (farActive) {
      const a = DIAG_SMOOTH;
      this.sdS = a * this.sdS + (1 - a) * sdd;
      this.soS = a * this.soS + (1 - a) * (sout / Math.max(swin, 1e-30)) * sff;
      this.sxS = a * this.sxS + (1 - a) * sxx;
      this.syS = a * this.syS + (1 - a) * syy;
    }
    this.erleDb = 10 * Math.log10((this.sdS + 1e-20) / (this.soS + 1e-20));
    this.echoReturnLossDb = 10 * Math.log10((this.sxS + 1e-20) / (this.syS + 1e-20));
    this.doubleTalk = farActive && this.nearHold > 0;
    this.leakEstimate = leak;
  }
}
