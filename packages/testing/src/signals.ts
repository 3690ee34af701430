// Test signals and quality metrics for DSP tests and benchmarks (Node only). Everything is
// seeded and deterministic; speech comes from espeak-ng (Debian) resampled with sox.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav } from '@concord/wasm-dsp';

export const FS = 48_000;

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gaussian white noise (Box-Muller), unit variance. */
export function whiteNoise(samples: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < samples) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Pink (1/f) noise from white noise through Paul Kellet's refined filter. */
export function pinkNoise(samples: number, seed: number): Float32Array {
  const w = whiteNoise(samples, seed);
  const out = new Float32Array(samples);
  let b0 = 0,
    b1 = 0,
    b2 = 0,
    b3 = 0,
    b4 = 0,
    b5 = 0,
    b6 = 0;
  for (let i = 0; i < samples; i++) {
    const x = w[i]!;
    b0 = 0.99886 * b0 + x * 0.0555179;
    b1 = 0.99332 * b1 + x * 0.0750759;
    b2 = 0.969 * b2 + x * 0.153852;
    b3 = 0.8665 * b3 + x * 0.3104856;
    b4 = 0.55 * b4 + x * 0.5329522;
    b5 = -0.7616 * b5 - x * 0.016898;
    out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + x * 0.5362;
    b6 = x * 0.115926;
  }
  return out;
}

/** Sine tone: `freqHz` at peak amplitude `amp`. */
export function tone(samples: number, freqHz: number, amp = 0.5, sampleRateHz = FS): Float32Array {
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++)
    out[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / sampleRateHz);
  return out;
}

const speechCache = new Map<string, Float32Array>();

/**
 * Speech from espeak-ng, resampled by sox to `sampleRateHz` (48 kHz by default; 44.1 kHz for
 * Chromium's fake microphone). `voice` picks an espeak voice (e.g. 'en-us', 'en-gb+f3') so
 * babble can mix several speakers; `trim` removes espeak's leading and trailing silence so
 * burst layouts are exactly what they say. Cached per arguments.
 */
export function speech(
  text: string,
  voice = 'en-us',
  wordsPerMinute = 160,
  { sampleRateHz = FS, trim = false }: { sampleRateHz?: number; trim?: boolean } = {},
): Float32Array {
  const key = `${voice}|${wordsPerMinute}|${sampleRateHz}|${trim}|${text}`;
  const hit = speechCache.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'concord-speech-'));
  try {
    const raw = join(dir, 'raw.wav');
    const out = join(dir, 'out.wav');
    execFileSync('espeak-ng', ['-v', voice, '-s', String(wordsPerMinute), '-w', raw, text]);
    execFileSync('sox', [
      raw,
      '-r',
      String(sampleRateHz),
      '-c',
      '1',
      '-e',
      'floating-point',
      '-b',
      '32',
      out,
    ]);
    const decoded = decodeWav(readFileSync(out)).channels[0]!;
    const samples = trim ? trimSilence(decoded) : decoded;
    speechCache.set(key, samples);
    return samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `x` without its leading and trailing samples below `threshold` in magnitude. */
export function trimSilence(x: Float32Array, threshold = 1e-3): Float32Array {
  let a = 0;
  let b = x.length;
  while (a < b && Math.abs(x[a]!) < threshold) a++;
  while (b > a && Math.abs(x[b - 1]!) < threshold) b--;
  return x.slice(a, b);
}

/** Standard test sentences (Harvard list 1). */
export const SENTENCES = [
  'The birch canoe slid on the smooth planks.',
  'Glue the sheet to the dark blue background.',
  'It is easy to tell the depth of a well.',
  'These days a chicken leg is a rare dish.',
  'Rice is often served in round bowls.',
  'The juice of lemons makes fine punch.',
  'The box was thrown beside the parked truck.',
  'The hogs were fed chopped corn and garbage.',
];

/** Speech of at least `samples` length: sentences separated by `pauseMs` of silence. */
export function speechTrack(
  samples: number,
  voice = 'en-us',
  pauseMs = 400,
  offset = 0,
): Float32Array {
  const out = new Float32Array(samples);
  const pause = Math.round((pauseMs * FS) / 1000);
  let at = 0;
  for (let k = offset; at < samples; k++) {
    const s = speech(SENTENCES[k % SENTENCES.length]!, voice);
    out.set(s.subarray(0, Math.min(s.length, samples - at)), at);
    at += s.length + pause;
  }
  return out;
}

/** Babble: several different voices talking at once, each starting at a different sentence. */
export function babble(
  samples: number,
  voices = ['en-us', 'en-gb', 'en-us+f3', 'en-gb+m3'],
): Float32Array {
  const out = new Float32Array(samples);
  voices.forEach((v, i) => {
    const t = speechTrack(samples, v, 150, i * 2);
    for (let n = 0; n < samples; n++) out[n]! += t[n]!;
  });
  return out;
}

/** RMS of `x` (optionally a range). */
export function rms(x: Float32Array, start = 0, end = x.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, end - start));
}

/** RMS level in dBFS (full scale sine = -3 dBFS convention is NOT used: 1.0 RMS = 0 dBFS). */
export function dbfs(x: Float32Array, start = 0, end = x.length): number {
  return 20 * Math.log10(Math.max(rms(x, start, end), 1e-10));
}

/** Returns a copy of `x` scaled so its RMS is `levelDbfs`. */
export function scaleTo(x: Float32Array, levelDbfs: number): Float32Array {
  const g = 10 ** (levelDbfs / 20) / Math.max(rms(x), 1e-12);
  return x.map((v) => v * g);
}

/** Active-speech level (ITU-T P.56 flavoured): RMS over 20 ms frames within 20 dB of the loudest. */
export function activeLevelDbfs(x: Float32Array, frame = 960): number {
  const levels: number[] = [];
  for (let i = 0; i + frame <= x.length; i += frame) levels.push(dbfs(x, i, i + frame));
  const max = Math.max(...levels);
  const active = levels.filter((l) => l > max - 20);
  const p = active.reduce((s, l) => s + 10 ** (l / 10), 0) / active.length;
  return 10 * Math.log10(p);
}

/**
 * Synthetic room impulse response: `directDelayMs` of silence, a unit direct path, then
 * exponentially decaying seeded noise reaching -60 dB at `rt60Ms`. Normalised to unit energy.
 */
export function roomImpulseResponse(
  rt60Ms: number,
  directDelayMs: number,
  seed: number,
): Float32Array {
  const delay = Math.round((directDelayMs * FS) / 1000);
  const tail = Math.round((rt60Ms * FS) / 1000);
  const ir = new Float32Array(delay + tail);
  const n = whiteNoise(tail, seed);
  const decay = Math.log(1000) / tail; // amplitude e^{-decay t}: -60 dB at t = tail
  ir[delay] = 1;
  for (let i = 1; i < tail; i++) ir[delay + i] = 0.3 * n[i]! * Math.exp(-decay * i);
  const e = Math.sqrt(ir.reduce((s, v) => s + v * v, 0));
  return ir.map((v) => v / e);
}

/** In-place iterative radix-2 complex FFT (double precision), `re`/`im` of power-of-two length. */
export function fftInPlace(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a]! += tr;
        im[a]! += ti;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i]! /= n;
      im[i]! /= n;
    }
  }
}

/** Linear convolution of `x` with `h` via FFT; output has `x.length` samples. */
export function convolve(x: Float32Array, h: Float32Array): Float32Array {
  let n = 1;
  while (n < x.length + h.length) n <<= 1;
  const xr = new Float64Array(n),
    xi = new Float64Array(n);
  const hr = new Float64Array(n),
    hi = new Float64Array(n);
  xr.set(x);
  hr.set(h);
  fftInPlace(xr, xi);
  fftInPlace(hr, hi);
  for (let i = 0; i < n; i++) {
    const r = xr[i]! * hr[i]! - xi[i]! * hi[i]!;
    xi[i] = xr[i]! * hi[i]! + xi[i]! * hr[i]!;
    xr[i] = r;
  }
  fftInPlace(xr, xi, true);
  return Float32Array.from(xr.subarray(0, x.length));
}

/** Lag (in samples, `y` behind `x` when positive) maximising the cross-correlation, |lag| ≤ maxLag. */
export function bestLag(x: Float32Array, y: Float32Array, maxLag: number): number {
  let n = 1;
  while (n < x.length + y.length) n <<= 1;
  const ar = new Float64Array(n),
    ai = new Float64Array(n);
  const br = new Float64Array(n),
    bi = new Float64Array(n);
  ar.set(x);
  br.set(y);
  fftInPlace(ar, ai);
  fftInPlace(br, bi);
  for (let i = 0; i < n; i++) {
    // conj(X) * Y
    const r = ar[i]! * br[i]! + ai[i]! * bi[i]!;
    const im = ar[i]! * bi[i]! - ai[i]! * br[i]!;
    ar[i] = r;
    ai[i] = im;
  }
  fftInPlace(ar, ai, true);
  let best = 0;
  let bestVal = -Infinity;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    const v = ar[(lag + n) % n]!;
    if (v > bestVal) {
      bestVal = v;
      best = lag;
    }
  }
  return best;
}

/** Scale-invariant SDR in dB of `estimate` against `reference` (same length, aligned). */
export function siSdr(
  reference: Float32Array,
  estimate: Float32Array,
  start = 0,
  end = reference.length,
): number {
  let dot = 0;
  let refE = 0;
  for (let i = start; i < end; i++) {
    dot += reference[i]! * estimate[i]!;
    refE += reference[i]! * reference[i]!;
  }
  const a = dot / Math.max(refE, 1e-20);
  let target = 0;
  let noise = 0;
  for (let i = start; i < end; i++) {
    const t = a * reference[i]!;
    const e = estimate[i]! - t;
    target += t * t;
    noise += e * e;
  }
  return 10 * Math.log10(Math.max(target, 1e-20) / Math.max(noise, 1e-20));
}

/** SI-SDR after aligning `estimate` to `reference` by cross-correlation (|lag| ≤ maxLag). */
export function alignedSiSdr(
  reference: Float32Array,
  estimate: Float32Array,
  maxLag = 4800,
): number {
  const lag = bestLag(reference, estimate, maxLag);
  const n = Math.min(reference.length, estimate.length) - Math.abs(lag);
  const ref = lag >= 0 ? reference.subarray(0, n) : reference.subarray(-lag, -lag + n);
  const est = lag >= 0 ? estimate.subarray(lag, lag + n) : estimate.subarray(0, n);
  return siSdr(ref, est);
}

/** ERLE in dB over [start, end): energy of the echo-bearing mic signal over the residual. */
export function erleDb(
  mic: Float32Array,
  residual: Float32Array,
  start = 0,
  end = mic.length,
): number {
  return dbfs(mic, start, end) - dbfs(residual, start, end);
}

/** Element-wise sum of equal-length signals. */
export function mix(...xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs[0]!.length);
  for (const x of xs) for (let i = 0; i < out.length; i++) out[i]! += x[i]!;
  return out;
}

/** Layout of a tone-burst signal: where each burst starts, in samples. */
export interface ToneBursts {
  samples: Float32Array;
  /** First sample of each burst. */
  burstStarts: number[];
}

/**
 * Tone bursts for loopback latency and routing tests: `count` bursts of `burstMs` at `freqHz`
 * separated by `gapMs` of silence (leading with one gap), each with 2 ms raised-cosine edges so
 * the onset is sharp but click-free. Peak amplitude `amp`.
 */
export function toneBursts({
  freqHz = 1000,
  burstMs = 100,
  gapMs = 400,
  count = 5,
  amp = 0.5,
  sampleRateHz = FS,
}: {
  freqHz?: number;
  burstMs?: number;
  gapMs?: number;
  count?: number;
  amp?: number;
  sampleRateHz?: number;
} = {}): ToneBursts {
  const burst = Math.round((burstMs * sampleRateHz) / 1000);
  const gap = Math.round((gapMs * sampleRateHz) / 1000);
  const edge = Math.round((2 * sampleRateHz) / 1000);
  const samples = new Float32Array(count * (burst + gap) + gap);
  const burstStarts: number[] = [];
  for (let b = 0; b < count; b++) {
    const start = gap + b * (burst + gap);
    burstStarts.push(start);
    for (let i = 0; i < burst; i++) {
      const ramp = Math.min(1, i / edge, (burst - 1 - i) / edge);
      const w = 0.5 - 0.5 * Math.cos(Math.PI * Math.max(0, ramp));
      samples[start + i] = amp * w * Math.sin((2 * Math.PI * freqHz * i) / sampleRateHz);
    }
  }
  return { samples, burstStarts };
}

/** Linear chirp from `f0Hz` to `f1Hz` over `samples`, peak amplitude `amp`. */
export function chirp(
  samples: number,
  f0Hz: number,
  f1Hz: number,
  amp = 0.5,
  sampleRateHz = FS,
): Float32Array {
  const out = new Float32Array(samples);
  const seconds = samples / sampleRateHz;
  const k = (f1Hz - f0Hz) / seconds;
  for (let i = 0; i < samples; i++) {
    const t = i / sampleRateHz;
    out[i] = amp * Math.sin(2 * Math.PI * (f0Hz * t + 0.5 * k * t * t));
  }
  return out;
}
