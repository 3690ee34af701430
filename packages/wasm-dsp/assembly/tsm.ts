// Time-scale modification kernel (48 kHz mono): accelerate removes one pitch period from a frame,
// preemptive expand inserts one, both by a pitch-synchronous overlap-add (the time-domain
// WSOLA/PSOLA family: Verhelst & Roelands, "An overlap-add technique based on waveform similarity
// (WSOLA) for high quality time-scale modification of speech", ICASSP 1993). The decisions
// follow WebRTC NetEq (modules/audio_coding/neteq/time_stretch.cc, accelerate.cc,
// preemptive_expand.cc): a pitch search on a signal decimated to a few kHz, a full-rate
// normalised correlation at that lag, a 0.9 threshold for voiced speech, and stretching anyway
// when the signal is quiet.
//
// Layout: `sig` holds HISTORY samples already played (the last output of this kernel) followed
// by the current input frame, so the signal is continuous across the boundary. Every output
// starts with a cross-fade that begins on the input's first sample (continuous with the history)
// and ends with the input's last sample (continuous with the next frame): no splice ever lands on
// a frame boundary. After each call the history takes the output.
//
// Every sum runs in f32 with four lanes combined as (l0 + l1) + (l2 + l3), then a scalar tail,
// and every ratio in f64, so src/reference/ScalarTimeStretcher.ts reproduces it bit for bit.

/** Past output kept as context: the coarse search window plus the longest lag (40 ms). */
const HISTORY: i32 = 1920;
/** Longest input frame per call (60 ms). */
const MAX_INPUT: i32 = 2880;
/** Pitch lags searched, in samples at 48 kHz: 2.5–20 ms (400–50 Hz), as NetEq's 2.5–15 ms
 * widened for low voices. */
const MIN_LAG: i32 = 120;
const MAX_LAG: i32 = 960;
/** The coarse search runs at 8 kHz: boxcar sums of 6 samples (first null at 8 kHz). */
const DECIMATION: i32 = 6;
/** Coarse template length (20 ms), ending at the input's last sample. */
const WINDOW: i32 = 960;
const D_WINDOW: i32 = WINDOW / DECIMATION;
const D_MIN_LAG: i32 = MIN_LAG / DECIMATION;
const D_MAX_LAG: i32 = MAX_LAG / DECIMATION;
const D_LEN: i32 = (WINDOW + MAX_LAG) / DECIMATION;
/** Full-rate refinement around the coarse lag: ± one decimation step. */
const REFINE: i32 = DECIMATION;
/** Shortest cross-fade (1.25 ms): below it a splice is refused. */
const MIN_OVERLAP: i32 = 60;
/** A later (shorter) lag wins over the best one if its correlation is at least this share of
 * the best: prefers the fundamental period over its multiples. */
const OCTAVE_RATIO: f64 = 0.9;

/** Outcome codes written to stats[0]; TimeStretcher.ts names them. */
const PASSED: f64 = 0;
const VOICED: f64 = 1;
const QUIET: f64 = 2;
const LOW_CORRELATION: f64 = 3;
const NO_ROOM: f64 = 4;

let sig: usize = 0;
let out: usize = 0;
let dec: usize = 0;
let cum: usize = 0;
let corr: usize = 0;
let stats: usize = 0;

let threshold: f64 = 0.9;
let quietMeanSquare: f64 = 3.1622776601683795e-5;

// Second result of dot2 (AssemblyScript has no tuples).
let dotEnergy: f32 = 0;
// Results of coarsePitch and refine besides the lag.
let coarseCorrelation: f64 = 0;
let refinedCorrelation: f64 = 0;
let refinedMeanSquare: f64 = 0;

/** Allocates every buffer once (the stub runtime never frees or grows after this). */
export function init(): void {
  sig = heap.alloc(<usize>(HISTORY + MAX_INPUT) << 2);
  out = heap.alloc(<usize>(MAX_INPUT + MAX_LAG) << 2);
  dec = heap.alloc(<usize>D_LEN << 2);
  cum = heap.alloc(<usize>(D_LEN + 1) << 3);
  corr = heap.alloc(<usize>(D_MAX_LAG + 1) << 3);
  stats = heap.alloc(8 << 3);
  reset();
}

/** Sets the voiced-correlation threshold and the quiet level (mean square, full scale 1). */
export function configure(correlationThreshold: f64, quietLevel: f64): void {
  threshold = correlationThreshold;
  quietMeanSquare = quietLevel;
}

/** Forgets the history (silence) and the last call's report. */
export function reset(): void {
  memory.fill(sig, 0, <usize>(HISTORY + MAX_INPUT) << 2);
  memory.fill(out, 0, <usize>(MAX_INPUT + MAX_LAG) << 2);
  memory.fill(stats, 0, 8 << 3);
}

export function inputPtr(): usize {
  return sig + (<usize>HISTORY << 2);
}
export function outputPtr(): usize {
  return out;
}
export function statsPtr(): usize {
  return stats;
}

/** Records `n` input samples as played unchanged and copies them to `out`. Returns n. */
export function pass(n: i32): i32 {
  memory.copy(out, sig + (<usize>HISTORY << 2), <usize>n << 2);
  memory.copy(sig, sig + (<usize>n << 2), <usize>HISTORY << 2);
  report(PASSED, 0, 0, 0, 0);
  return n;
}

/**
 * Removes one pitch period from the `n` input samples into `out`. Returns the output length
 * (n − period, or n when refused: then `out` holds the input).
 */
export function accelerate(n: i32): i32 {
  const h = HISTORY;
  const p0 = coarsePitch(n);
  // The output keeps at least one sample after the cross-fade: it ends on x[n − 1] exactly.
  const room = n - MIN_OVERLAP - 1;
  let pLo = max(MIN_LAG, p0 - REFINE);
  let pHi = min(min(MAX_LAG, p0 + REFINE), room);
  const fits = pHi >= pLo;
  let centre = p0;
  if (!fits) {
    // The period does not fit. Quiet frames may still lose the longest lag that fits.
    if (room < MIN_LAG) return refuse(n, NO_ROOM, p0, coarseCorrelation);
    centre = max(MIN_LAG, room - REFINE);
    pLo = max(MIN_LAG, centre - REFINE);
    pHi = room;
  }
  const overlap = min(centre, n - pHi - 1);
  const p = refine(centre, pLo, pHi, overlap, 1);
  const outcome = decide();
  if (!fits && outcome != QUIET) return refuse(n, NO_ROOM, p0, coarseCorrelation);
  if (outcome == LOW_CORRELATION) return refuse(n, outcome, p, refinedCorrelation);
  // y[i] = x[i] → x[i + p] over the overlap, then x[i + p]: p samples fewer.
  const a = sig + (<usize>h << 2);
  const b = a + (<usize>p << 2);
  crossFade(a, b, overlap);
  const m = n - p;
  memory.copy(out + (<usize>overlap << 2), b + (<usize>overlap << 2), <usize>(m - overlap) << 2);
  commit(m);
  report(outcome, -p, p, refinedCorrelation, refinedMeanSquare);
  return m;
}

/**
 * Inserts one pitch period into the `n` input samples into `out`. Returns the output length
 * (n + period, or n when refused: then `out` holds the input).
 */
export function expand(n: i32): i32 {
  const h = HISTORY;
  const p0 = coarsePitch(n);
  if (n < MIN_OVERLAP) return refuse(n, NO_ROOM, p0, coarseCorrelation);
  const pLo = max(MIN_LAG, p0 - REFINE);
  const pHi = min(MAX_LAG, p0 + REFINE);
  const overlap = min(p0, n);
  const p = refine(p0, pLo, pHi, overlap, -1);
  const outcome = decide();
  if (outcome == LOW_CORRELATION) return refuse(n, outcome, p, refinedCorrelation);
  // y[i] = x[i] → x[i − p] over the overlap, then x[i − p]: p samples more, the last one x[n − 1].
  const a = sig + (<usize>h << 2);
  const b = a - (<usize>p << 2);
  crossFade(a, b, overlap);
  const m = n + p;
  memory.copy(out + (<usize>overlap << 2), b + (<usize>overlap << 2), <usize>(m - overlap) << 2);
  commit(m);
  report(outcome, p, p, refinedCorrelation, refinedMeanSquare);
  return m;
}

function decide(): f64 {
  if (refinedMeanSquare < quietMeanSquare) return QUIET;
  return refinedCorrelation >= threshold ? VOICED : LOW_CORRELATION;
}

function refuse(n: i32, outcome: f64, p: i32, r: f64): i32 {
  memory.copy(out, sig + (<usize>HISTORY << 2), <usize>n << 2);
  commit(n);
  report(outcome, 0, p, r, refinedMeanSquare);
  return n;
}

function report(outcome: f64, change: i32, p: i32, r: f64, meanSquare: f64): void {
  store<f64>(stats, outcome);
  store<f64>(stats, <f64>change, 8);
  store<f64>(stats, <f64>p, 16);
  store<f64>(stats, r, 24);
  store<f64>(stats, meanSquare, 32);
}

/** The history becomes the last HISTORY samples of (history, out[0..m)). */
function commit(m: i32): void {
  const bytes = <usize>HISTORY << 2;
  if (m >= HISTORY) {
    memory.copy(sig, out + (<usize>(m - HISTORY) << 2), bytes);
  } else {
    const keep = <usize>(HISTORY - m) << 2;
    memory.copy(sig, sig + (<usize>m << 2), keep);
    memory.copy(sig + keep, out, <usize>m << 2);
  }
}

/**
 * Coarse pitch lag in samples at 48 kHz: the normalised autocorrelation of the last 20 ms
 * against 2.5–20 ms earlier, at 8 kHz, with a parabolic peak fit. Sets `coarseCorrelation`.
 */
function coarsePitch(n: i32): i32 {
  refinedMeanSquare = 0;
  // The decimated span ends at the input's last sample: sig[n .. HISTORY + n).
  let x = sig + (<usize>n << 2);
  let e: f64 = 0;
  store<f64>(cum, 0);
  for (let j = 0; j < D_LEN; j++) {
    let s = load<f32>(x);
    s += load<f32>(x, 4);
    s += load<f32>(x, 8);
    s += load<f32>(x, 12);
    s += load<f32>(x, 16);
    s += load<f32>(x, 20);
    store<f32>(dec + (<usize>j << 2), s);
    e += <f64>s * <f64>s;
    store<f64>(cum + (<usize>(j + 1) << 3), e);
    x += <usize>DECIMATION << 2;
  }
  const t = dec + (<usize>D_WINDOW << 2);
  const et = cumAt(D_LEN) - cumAt(D_WINDOW);
  let best: f64 = -2;
  let bestLag = D_MIN_LAG;
  for (let lag = D_MIN_LAG; lag <= D_MAX_LAG; lag++) {
    const c = <f64>dot(t, t - (<usize>lag << 2), D_WINDOW);
    const el = cumAt(D_LEN - lag) - cumAt(D_WINDOW - lag);
    const r = normalise(c, et, el);
    store<f64>(corr + (<usize>lag << 3), r);
    if (r > best) {
      best = r;
      bestLag = lag;
    }
  }
  // The shortest interior local maximum close to the best: the fundamental, not a multiple.
  let lag = bestLag;
  for (let k = D_MIN_LAG + 1; k < bestLag; k++) {
    const r = corrAt(k);
    if (r >= OCTAVE_RATIO * best && r >= corrAt(k - 1) && r >= corrAt(k + 1)) {
      lag = k;
      break;
    }
  }
  coarseCorrelation = corrAt(lag);
  let pos = <f64>lag;
  if (lag > D_MIN_LAG && lag < D_MAX_LAG) {
    const rm = corrAt(lag - 1);
    const r0 = corrAt(lag);
    const rp = corrAt(lag + 1);
    const den = rm - 2 * r0 + rp;
    if (den < 0) {
      let d = (0.5 * (rm - rp)) / den;
      d = d > 0.5 ? 0.5 : d < -0.5 ? -0.5 : d;
      pos += d;
    }
  }
  const p = <i32>Math.floor(pos * <f64>DECIMATION + 0.5);
  return min(MAX_LAG, max(MIN_LAG, p));
}

/**
 * Best full-rate lag in [pLo, pHi] for a splice whose cross-fade covers `overlap` samples from
 * the input's start: the normalised correlation of x[t] with x[t + dir·lag] over one coarse
 * period ending where the cross-fade ends. Sets `refinedCorrelation` and `refinedMeanSquare`.
 */
function refine(p0: i32, pLo: i32, pHi: i32, overlap: i32, dir: i32): i32 {
  const t0 = HISTORY + overlap - p0;
  const a = sig + (<usize>t0 << 2);
  const ea = <f64>dot(a, a, p0);
  let best: f64 = -2;
  let bestLag = pLo;
  let bestEnergy: f64 = 0;
  for (let p = pLo; p <= pHi; p++) {
    const b = sig + (<usize>(t0 + dir * p) << 2);
    const c = <f64>dot2(a, b, p0);
    const eb = <f64>dotEnergy;
    const r = normalise(c, ea, eb);
    if (r > best) {
      best = r;
      bestLag = p;
      bestEnergy = eb;
    }
  }
  refinedCorrelation = best;
  // The louder of the two periods: quiet means both are.
  refinedMeanSquare = max(ea, bestEnergy) / <f64>p0;
  return bestLag;
}

function normalise(c: f64, e1: f64, e2: f64): f64 {
  const d = e1 * e2;
  return d > 1e-20 ? c / Math.sqrt(d) : 0;
}

/**
 * out[i] = a[i] + w_i·(b[i] − a[i]) with the smoothstep w = t²(3 − 2t), t = (i + 1)/(len + 1):
 * flat at both ends, so the junctions with the history and with the rest of b add (almost)
 * no step of their own (a linear ramp adds |b − a|/len at each).
 */
function crossFade(a: usize, b: usize, len: i32): void {
  const inv = <f32>1 / <f32>(len + 1);
  const vinv = f32x4.splat(inv);
  const three = f32x4.splat(3);
  let k = i32x4(1, 2, 3, 4);
  const four = i32x4.splat(4);
  const bytes = <usize>len << 2;
  const vecBytes = bytes & ~(<usize>15);
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const t = f32x4.mul(f32x4.convert_i32x4_s(k), vinv);
    const w = f32x4.mul(f32x4.mul(t, t), f32x4.sub(three, f32x4.add(t, t)));
    const va = v128.load(a + i);
    const vb = v128.load(b + i);
    v128.store(out + i, f32x4.add(va, f32x4.mul(w, f32x4.sub(vb, va))));
    k = i32x4.add(k, four);
  }
  for (; i < bytes; i += 4) {
    const t = <f32>(<i32>(i >> 2) + 1) * inv;
    const w = t * t * (<f32>3 - (t + t));
    const va = load<f32>(a + i);
    const vb = load<f32>(b + i);
    store<f32>(out + i, va + w * (vb - va));
  }
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

/** Σ a[i]·b[i] over `len` samples: four f32 lanes, then a scalar tail. */
function dot(a: usize, b: usize, len: i32): f32 {
  const bytes = <usize>len << 2;
  const vecBytes = bytes & ~(<usize>15);
  let acc = f32x4.splat(0);
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + i), v128.load(b + i)));
  }
  let s = hsum(acc);
  for (; i < bytes; i += 4) s += load<f32>(a + i) * load<f32>(b + i);
  return s;
}

/** Σ a[i]·b[i], returned, and Σ b[i]², left in `dotEnergy`: one pass over both. */
function dot2(a: usize, b: usize, len: i32): f32 {
  const bytes = <usize>len << 2;
  const vecBytes = bytes & ~(<usize>15);
  let acc = f32x4.splat(0);
  let eacc = f32x4.splat(0);
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const vb = v128.load(b + i);
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + i), vb));
    eacc = f32x4.add(eacc, f32x4.mul(vb, vb));
  }
  let s = hsum(acc);
  let e = hsum(eacc);
  for (; i < bytes; i += 4) {
    const vb = load<f32>(b + i);
    s += load<f32>(a + i) * vb;
    e += vb * vb;
  }
  dotEnergy = e;
  return s;
}

function cumAt(j: i32): f64 {
  return load<f64>(cum + (<usize>j << 3));
}

function corrAt(lag: i32): f64 {
  return load<f64>(corr + (<usize>lag << 3));
}
