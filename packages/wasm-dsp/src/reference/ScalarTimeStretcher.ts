import {
  checkTsmInput,
  checkTsmOutput,
  TSM_HISTORY_SAMPLES,
  TSM_MAX_INPUT_SAMPLES,
  TSM_MAX_PERIOD_SAMPLES,
  TSM_MIN_OVERLAP_SAMPLES,
  TSM_MIN_PERIOD_SAMPLES,
  TSM_OUTCOMES,
  tsmParams,
  type TimeStretcherOptions,
  type TimeStretchOutcome,
} from '../tsmOptions.js';

const f = Math.fround;
const H = TSM_HISTORY_SAMPLES;
const MIN_LAG = TSM_MIN_PERIOD_SAMPLES;
const MAX_LAG = TSM_MAX_PERIOD_SAMPLES;
const MIN_OVERLAP = TSM_MIN_OVERLAP_SAMPLES;
const DECIMATION = 6;
const WINDOW = 960;
const D_WINDOW = WINDOW / DECIMATION;
const D_MIN_LAG = MIN_LAG / DECIMATION;
const D_MAX_LAG = MAX_LAG / DECIMATION;
const D_LEN = (WINDOW + MAX_LAG) / DECIMATION;
const REFINE = DECIMATION;
const OCTAVE_RATIO = 0.9;
const [PASSED, VOICED, QUIET, LOW_CORRELATION, NO_ROOM] = [0, 1, 2, 3, 4] as const;

/**
 * Plain-TS reference of the time-stretch kernel (assembly/tsm.ts): the same algorithm with the
 * same f32 roundings and summation order (four lanes, then a tail), so the WASM kernel must
 * match it bit for bit. Tests and benchmarks only; see {@link TimeStretcher} for the contract.
 */
export class ScalarTimeStretcher {
  /** History (played output) followed by the current input. */
  private readonly sig = new Float32Array(H + TSM_MAX_INPUT_SAMPLES);
  private readonly out = new Float32Array(TSM_MAX_INPUT_SAMPLES + MAX_LAG);
  private readonly dec = new Float32Array(D_LEN);
  private readonly cum = new Float64Array(D_LEN + 1);
  private readonly corr = new Float64Array(D_MAX_LAG + 1);
  private readonly threshold: number;
  private readonly quietMeanSquare: number;
  private coarseCorrelation = 0;
  private refinedCorrelation = 0;
  private refinedMeanSquare = 0;
  private dotEnergy = 0;
  private stats = [0, 0, 0, 0, 0];

  constructor(options: TimeStretcherOptions = {}) {
    [this.threshold, this.quietMeanSquare] = tsmParams(options);
  }

  /** See {@link TimeStretcher.accelerate}. */
  accelerate(input: Float32Array, output: Float32Array): number {
    const n = checkTsmInput(input);
    checkTsmOutput(output, n, 'accelerate');
    this.sig.set(input, H);
    return this.copyOut(this.runAccelerate(n), output);
  }

  /** See {@link TimeStretcher.preemptiveExpand}. */
  preemptiveExpand(input: Float32Array, output: Float32Array): number {
    const n = checkTsmInput(input);
    checkTsmOutput(output, n + MAX_LAG, 'preemptiveExpand');
    this.sig.set(input, H);
    return this.copyOut(this.runExpand(n), output);
  }

  /** See {@link TimeStretcher.passThrough}. */
  passThrough(input: Float32Array): number {
    const n = checkTsmInput(input);
    this.sig.set(input, H);
    this.sig.copyWithin(0, n, n + H);
    this.report(PASSED, 0, 0, 0, 0);
    return n;
  }

  /** See {@link TimeStretcher.reset}. */
  reset(): void {
    this.sig.fill(0);
    this.out.fill(0);
    this.stats = [0, 0, 0, 0, 0];
  }

  get lastOutcome(): TimeStretchOutcome {
    return TSM_OUTCOMES[this.stats[0]!]!;
  }
  get lastChangeSamples(): number {
    return this.stats[1]!;
  }
  get lastPeriodSamples(): number {
    return this.stats[2]!;
  }
  get lastCorrelation(): number {
    return this.stats[3]!;
  }
  get lastLevelDbfs(): number {
    return 10 * Math.log10(this.stats[4]!);
  }

  private copyOut(m: number, output: Float32Array): number {
    output.set(this.out.subarray(0, m));
    return m;
  }

  private runAccelerate(n: number): number {
    const p0 = this.coarsePitch(n);
    const room = n - MIN_OVERLAP - 1;
    let pLo = Math.max(MIN_LAG, p0 - REFINE);
    let pHi = Math.min(MAX_LAG, p0 + REFINE, room);
    const fits = pHi >= pLo;
    let centre = p0;
    if (!fits) {
      if (room < MIN_LAG) return this.refuse(n, NO_ROOM, p0, this.coarseCorrelation);
      centre = Math.max(MIN_LAG, room - REFINE);
      pLo = Math.max(MIN_LAG, centre - REFINE);
      pHi = room;
    }
    const overlap = Math.min(centre, n - pHi - 1);
    const p = this.refine(centre, pLo, pHi, overlap, 1);
    const outcome = this.decide();
    if (!fits && outcome !== QUIET) return this.refuse(n, NO_ROOM, p0, this.coarseCorrelation);
    if (outcome === LOW_CORRELATION) return this.refuse(n, outcome, p, this.refinedCorrelation);
    this.crossFade(H, H + p, overlap);
    const m = n - p;
    this.out.set(this.sig.subarray(H + p + overlap, H + p + m), overlap);
    this.commit(m);
    this.report(outcome, -p, p, this.refinedCorrelation, this.refinedMeanSquare);
    return m;
  }

  private runExpand(n: number): number {
    const p0 = this.coarsePitch(n);
    if (n < MIN_OVERLAP) return this.refuse(n, NO_ROOM, p0, this.coarseCorrelation);
    const pLo = Math.max(MIN_LAG, p0 - REFINE);
    const pHi = Math.min(MAX_LAG, p0 + REFINE);
    const overlap = Math.min(p0, n);
    const p = this.refine(p0, pLo, pHi, overlap, -1);
    const outcome = this.decide();
    if (outcome === LOW_CORRELATION) return this.refuse(n, outcome, p, this.refinedCorrelation);
    this.crossFade(H, H - p, overlap);
    const m = n + p;
    this.out.set(this.sig.subarray(H - p + overlap, H - p + m), overlap);
    this.commit(m);
    this.report(outcome, p, p, this.refinedCorrelation, this.refinedMeanSquare);
    return m;
  }

  private decide(): number {
    if (this.refinedMeanSquare < this.quietMeanSquare) return QUIET;
    return this.refinedCorrelation >= this.threshold ? VOICED : LOW_CORRELATION;
  }

  private refuse(n: number, outcome: number, p: number, r: number): number {
    this.out.set(this.sig.subarray(H, H + n));
    this.commit(n);
    this.report(outcome, 0, p, r, this.refinedMeanSquare);
    return n;
  }

  private report(outcome: number, change: number, p: number, r: number, ms: number): void {
    const s = this.stats;
    s[0] = outcome;
    s[1] = change;
    s[2] = p;
    s[3] = r;
    s[4] = ms;
  }

  private commit(m: number): void {
    if (m >= H) {
      this.sig.set(this.out.subarray(m - H, m));
    } else {
      this.sig.copyWithin(0, m, H);
      this.sig.set(this.out.subarray(0, m), H - m);
    }
  }

  private coarsePitch(n: number): number {
    const { sig, dec, cum, corr } = this;
    this.refinedMeanSquare = 0;
    let x = n;
    let e = 0;
    cum[0] = 0;
    for (let j = 0; j < D_LEN; j++) {
      let s = sig[x]!;
      for (let k = 1; k < DECIMATION; k++) s = f(s + sig[x + k]!);
      dec[j] = s;
      e += s * s;
      cum[j + 1] = e;
      x += DECIMATION;
    }
    const et = cum[D_LEN]! - cum[D_WINDOW]!;
    let best = -2;
    let bestLag = D_MIN_LAG;
    for (let lag = D_MIN_LAG; lag <= D_MAX_LAG; lag++) {
      const c = this.dot(dec, D_WINDOW, dec, D_WINDOW - lag, D_WINDOW);
      const el = cum[D_LEN - lag]! - cum[D_WINDOW - lag]!;
      const r = normalise(c, et, el);
      corr[lag] = r;
      if (r > best) {
        best = r;
        bestLag = lag;
      }
    }
    let lag = bestLag;
    for (let k = D_MIN_LAG + 1; k < bestLag; k++) {
      const r = corr[k]!;
      if (r >= OCTAVE_RATIO * best && r >= corr[k - 1]! && r >= corr[k + 1]!) {
        lag = k;
        break;
      }
    }
    this.coarseCorrelation = corr[lag]!;
    let pos = lag;
    if (lag > D_MIN_LAG && lag < D_MAX_LAG) {
      const rm = corr[lag - 1]!;
      const r0 = corr[lag]!;
      const rp = corr[lag + 1]!;
      const den = rm - 2 * r0 + rp;
      if (den < 0) {
        let d = (0.5 * (rm - rp)) / den;
        d = d > 0.5 ? 0.5 : d < -0.5 ? -0.5 : d;
        pos += d;
      }
    }
    const p = Math.floor(pos * DECIMATION + 0.5);
    return Math.min(MAX_LAG, Math.max(MIN_LAG, p));
  }

  private refine(p0: number, pLo: number, pHi: number, overlap: number, dir: number): number {
    const sig = this.sig;
    const t0 = H + overlap - p0;
    const ea = this.dot(sig, t0, sig, t0, p0);
    let best = -2;
    let bestLag = pLo;
    let bestEnergy = 0;
    for (let p = pLo; p <= pHi; p++) {
      const c = this.dot2(sig, t0, t0 + dir * p, p0);
      const eb = this.dotEnergy;
      const r = normalise(c, ea, eb);
      if (r > best) {
        best = r;
        bestLag = p;
        bestEnergy = eb;
      }
    }
    this.refinedCorrelation = best;
    this.refinedMeanSquare = Math.max(ea, bestEnergy) / p0;
    return bestLag;
  }

  private crossFade(a: number, b: number, len: number): void {
    const { sig, out } = this;
    const inv = f(1 / (len + 1));
    for (let i = 0; i < len; i++) {
      const t = f((i + 1) * inv);
      const w = f(f(t * t) * f(3 - f(t + t)));
      const va = sig[a + i]!;
      out[i] = f(va + f(w * f(sig[b + i]! - va)));
    }
  }

  /** Σ x[a+i]·y[b+i], four f32 lanes summed as (l0 + l1) + (l2 + l3), then the tail. */
  private dot(x: Float32Array, a: number, y: Float32Array, b: number, len: number): number {
    const n4 = len & ~3;
    let l0 = 0;
    let l1 = 0;
    let l2 = 0;
    let l3 = 0;
    let i = 0;
    for (; i < n4; i += 4) {
      l0 = f(l0 + f(x[a + i]! * y[b + i]!));
      l1 = f(l1 + f(x[a + i + 1]! * y[b + i + 1]!));
      l2 = f(l2 + f(x[a + i + 2]! * y[b + i + 2]!));
      l3 = f(l3 + f(x[a + i + 3]! * y[b + i + 3]!));
    }
    let s = f(f(l0 + l1) + f(l2 + l3));
    for (; i < len; i++) s = f(s + f(x[a + i]! * y[b + i]!));
    return s;
  }

  /** Σ sig[a+i]·sig[b+i] returned, Σ sig[b+i]² in `dotEnergy`, same order as the kernel. */
  private dot2(x: Float32Array, a: number, b: number, len: number): number {
    const n4 = len & ~3;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    let e0 = 0;
    let e1 = 0;
    let e2 = 0;
    let e3 = 0;
    let i = 0;
    for (; i < n4; i += 4) {
      const b0 = x[b + i]!;
      const b1 = x[b + i + 1]!;
      const b2 = x[b + i + 2]!;
      const b3 = x[b + i + 3]!;
      c0 = f(c0 + f(x[a + i]! * b0));
      c1 = f(c1 + f(x[a + i + 1]! * b1));
      c2 = f(c2 + f(x[a + i + 2]! * b2));
      c3 = f(c3 + f(x[a + i + 3]! * b3));
      e0 = f(e0 + f(b0 * b0));
      e1 = f(e1 + f(b1 * b1));
      e2 = f(e2 + f(b2 * b2));
      e3 = f(e3 + f(b3 * b3));
    }
    let s = f(f(c0 + c1) + f(c2 + c3));
    let en = f(f(e0 + e1) + f(e2 + e3));
    for (; i < len; i++) {
      const vb = x[b + i]!;
      s = f(s + f(x[a + i]! * vb));
      en = f(en + f(vb * vb));
    }
    this.dotEnergy = en;
    return s;
  }
}

function normalise(c: number, e1: number, e2: number): number {
  const d = e1 * e2;
  return d > 1e-20 ? c / Math.sqrt(d) : 0;
}
