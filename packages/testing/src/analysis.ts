// Loopback analysis: sine fits, SNR, frequency, levels, envelope alignment, onsets and latency.
// Node or browser; allocates (analysis, not audio-thread code).
import { bestLag, dbfs } from './signals.js';

/** Samples per 20 ms frame at 48 kHz. */
export const FRAME_SAMPLES = 960;
/** Concord's sample rate, in Hz. */
export const SAMPLE_RATE_HZ = 48_000;

/** Least-squares fit of `a·sin + b·cos + c` at `freqHz` over `x`; returns amplitude and residual. */
export function fitSine(
  x: Float32Array,
  freqHz: number,
  sampleRateHz = SAMPLE_RATE_HZ,
): { amplitude: number; phase: number; residual: Float64Array } {
  return fitSines(x, [freqHz], sampleRateHz).tones[0]!;
}

/**
 * Joint least-squares fit of sinusoids at `freqsHz` (plus DC) over `x` (normal equations in
 * double precision). Returns each tone's amplitude/phase and the residual.
 */
export function fitSines(
  x: Float32Array,
  freqsHz: readonly number[],
  sampleRateHz = SAMPLE_RATE_HZ,
): {
  tones: Array<{ amplitude: number; phase: number; residual: Float64Array }>;
  residual: Float64Array;
} {
  const k = 2 * freqsHz.length + 1;
  const basis = (i: number, j: number): number => {
    if (j === k - 1) return 1;
    const w = (2 * Math.PI * freqsHz[j >> 1]! * i) / sampleRateHz;
    return j & 1 ? Math.cos(w) : Math.sin(w);
  };
  const ata = Array.from({ length: k }, () => new Float64Array(k));
  const atb = new Float64Array(k);
  const row = new Float64Array(k);
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < k; j++) row[j] = basis(i, j);
    for (let a = 0; a < k; a++) {
      atb[a]! += row[a]! * x[i]!;
      for (let b = 0; b < k; b++) ata[a]![b]! += row[a]! * row[b]!;
    }
  }
  const coef = solve(ata, atb);
  const residual = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let y = 0;
    for (let j = 0; j < k; j++) y += coef[j]! * basis(i, j);
    residual[i] = x[i]! - y;
  }
  const tones = freqsHz.map((_, t) => ({
    amplitude: Math.hypot(coef[2 * t]!, coef[2 * t + 1]!),
    phase: Math.atan2(coef[2 * t + 1]!, coef[2 * t]!),
    residual,
  }));
  return { tones, residual };
}

function solve(a: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length;
  const m = a.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j <= n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return Float64Array.from({ length: n }, (_, i) => m[i]![n]! / m[i]![i]!);
}

/** Energy ratio in dB of `x` over `residual` (the fitted tone's SNR). */
export function snrDb(x: Float32Array, residual: Float64Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i]! * x[i]!;
    e += residual[i]! * residual[i]!;
  }
  return 10 * Math.log10(s / Math.max(e, 1e-30));
}

/** Upward zero crossings in `x`. */
export function zeroCrossings(x: Float32Array): number {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1]! < 0 && x[i]! >= 0) n++;
  return n;
}

/**
 * Frequency from the phase drift of a sine fitted at `nominalHz` on consecutive blocks:
 * precise to millihertz over a few seconds, and blind to a whole-cycle ambiguity only when
 * the error exceeds blockRate/2.
 */
export function measureFrequencyHz(
  x: Float32Array,
  nominalHz: number,
  blockSamples = 4_800,
  sampleRateHz = SAMPLE_RATE_HZ,
): number {
  const phases: number[] = [];
  for (let at = 0; at + blockSamples <= x.length; at += blockSamples) {
    phases.push(fitSine(x.subarray(at, at + blockSamples), nominalHz, sampleRateHz).phase);
  }
  // Each block's phase is measured from its own start: at the nominal frequency it advances
  // by 2π·f·T per block; what is left over is the frequency error.
  const advance = (2 * Math.PI * nominalHz * blockSamples) / sampleRateHz;
  let drift = 0;
  for (let b = 1; b < phases.length; b++) {
    let d = phases[b]! - phases[b - 1]! - advance;
    d -= 2 * Math.PI * Math.round(d / (2 * Math.PI));
    drift += d;
  }
  const seconds = ((phases.length - 1) * blockSamples) / sampleRateHz;
  // a·sin(wt) + b·cos(wt) = A·sin(wt + atan2(b, a)): a positive offset advances the phase.
  return nominalHz + drift / (2 * Math.PI * seconds);
}

/** Per-frame RMS level in dBFS of `x`, in frames of `frameSamples`. */
export function frameLevels(x: Float32Array, frameSamples = FRAME_SAMPLES): number[] {
  const out: number[] = [];
  for (let i = 0; i + frameSamples <= x.length; i += frameSamples) {
    out.push(dbfs(x, i, i + frameSamples));
  }
  return out;
}

/** Power mean in dB of per-frame levels (dB). */
export function powerMeanDb(levelsDb: readonly number[]): number {
  const p = levelsDb.reduce((s, l) => s + 10 ** (l / 10), 0) / Math.max(1, levelsDb.length);
  return 10 * Math.log10(p);
}

/**
 * Circular alignment of a recorded per-frame envelope against a looping file's per-frame
 * envelope (both linear RMS): the offset `o` (in frames) such that recorded frame `m` holds
 * file frame `(m + o) mod K`, maximising the normalised correlation. Returns it with the score.
 */
export function alignToLoop(
  recorded: readonly number[],
  loop: readonly number[],
): { offset: number; score: number } {
  const k = loop.length;
  const centre = (v: readonly number[]): number[] => {
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    return v.map((x) => x - mean);
  };
  const r = centre(recorded);
  const l = centre(loop);
  const norm = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  let best = { offset: 0, score: -Infinity };
  for (let o = 0; o < k; o++) {
    let s = 0;
    let ll = 0;
    for (let m = 0; m < r.length; m++) {
      const y = l[(m + o) % k]!;
      s += r[m]! * y;
      ll += y * y;
    }
    const score = s / (norm(r) * Math.sqrt(ll) || 1);
    if (score > best.score) best = { offset: o, score };
  }
  return best;
}

/** Linear RMS per frame of `x`. */
export function frameRms(x: Float32Array, frameSamples: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + frameSamples <= x.length; i += frameSamples) {
    let s = 0;
    for (let j = i; j < i + frameSamples; j++) s += x[j]! * x[j]!;
    out.push(Math.sqrt(s / frameSamples));
  }
  return out;
}

/** One detected burst: where the envelope rose above and fell below the threshold. */
export interface Onset {
  /** First sample of the burst. */
  startSample: number;
  /** First sample after the burst. */
  endSample: number;
  /** Peak block level inside the burst, in dBFS. */
  peakDbfs: number;
}

/**
 * Finds bursts (tone bursts, speech) in `x`: blocks of `blockSamples` whose RMS level is above
 * `thresholdDbfs`, merged across gaps shorter than `minGapSamples`. Sample-accurate enough for
 * latency on tone bursts when `blockSamples` is small (default 48 = 1 ms at 48 kHz).
 */
export function detectOnsets(
  x: Float32Array,
  { thresholdDbfs = -40, blockSamples = 48, minGapSamples = 4_800 } = {},
): Onset[] {
  const out: Onset[] = [];
  let current: Onset | undefined;
  let lastLoud = -Infinity;
  for (let at = 0; at + blockSamples <= x.length; at += blockSamples) {
    const level = dbfs(x, at, at + blockSamples);
    if (level >= thresholdDbfs) {
      if (!current || at - lastLoud > minGapSamples) {
        if (current) out.push(current);
        current = { startSample: at, endSample: at + blockSamples, peakDbfs: level };
      }
      current.endSample = at + blockSamples;
      current.peakDbfs = Math.max(current.peakDbfs, level);
      lastLoud = at;
    }
  }
  if (current) out.push(current);
  return out;
}

/**
 * Delay of `recorded` behind `reference` in ms, from the peak of their cross-correlation
 * (searched up to `maxLagMs`). Both at `sampleRateHz`.
 */
export function latencyMs(
  reference: Float32Array,
  recorded: Float32Array,
  sampleRateHz = SAMPLE_RATE_HZ,
  maxLagMs = 500,
): number {
  const lag = bestLag(reference, recorded, Math.round((maxLagMs * sampleRateHz) / 1000));
  return (lag * 1000) / sampleRateHz;
}
