import { beforeAll, describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { DENOISER_DELAY_SAMPLES, Denoiser, type DenoiserModel } from '../src/Denoiser.js';
import {
  parseRnnoiseGlue,
  readRnnoiseSource,
  RnnoiseWasm,
  SIMD_RNNOISE_NAMES,
  simdRnnoiseSource,
  wasmSimdSupported,
  type RnnoiseWasmSource,
} from '../src/RnnoiseWasm.js';
import {
  activeLevelDbfs,
  babble,
  bestLag,
  FS,
  mix,
  pinkNoise,
  rms,
  scaleTo,
  siSdr,
  speechTrack,
  whiteNoise,
} from '@concord/testing';

const FRAME = 960;
const SECONDS = 8;
const N = FS * SECONDS;
/** The builds under test: the rnnoise 0.1 model with and without WASM SIMD, and rnnoise 0.2. */
const BUILDS = ['fast-simd', 'fast-nosimd', 'quality'] as const;
type Build = (typeof BUILDS)[number];
const MODEL_OF: Record<Build, DenoiserModel> = {
  'fast-simd': 'fast',
  'fast-nosimd': 'fast',
  quality: 'quality',
};

// Speech at -20 dBFS RMS (≈ -17 dBFS active level), with 600 ms pauses between sentences so the
// pause metric has whole frames of noise only.
let clean: Float32Array;

/**
 * Speech plus `noise` at `snrDb`, SNR taken against the active speech level (ITU-T P.56 style,
 * `activeLevelDbfs`) as is usual for speech enhancement; against the plain RMS including pauses
 * the same mixture would read about 2.7 dB cleaner.
 */
function noisy(noise: Float32Array, snrDb: number): Float32Array {
  return mix(clean, scaleTo(noise, activeLevelDbfs(clean) - snrDb));
}

function denoise(d: Denoiser, x: Float32Array): { out: Float32Array; vad: Float32Array } {
  const out = new Float32Array(x.length);
  const vad = new Float32Array(Math.floor(x.length / FRAME));
  for (let f = 0; f < vad.length; f++) {
    const s = f * FRAME;
    vad[f] = d.process(x.subarray(s, s + FRAME), out.subarray(s, s + FRAME));
  }
  return { out, vad };
}

/** 20 ms frame indices whose clean signal is silent, with ≥ 100 ms of silence on each side. */
function pauseFrames(): number[] {
  const frames = Math.floor(N / FRAME);
  const silent = (f: number): boolean =>
    f >= 0 && f < frames && rms(clean, f * FRAME, (f + 1) * FRAME) < 1e-6;
  const out: number[] = [];
  for (let f = 0; f < frames; f++) {
    let ok = true;
    for (let k = -5; k <= 5 && ok; k++) ok = silent(f + k);
    if (ok) out.push(f);
  }
  return out;
}

/** Noise power in speech pauses before over after denoising (output compensated for `delay`). */
function pauseAttenuationDb(x: Float32Array, out: Float32Array, delay: number): number {
  let pin = 0;
  let pout = 0;
  for (const f of pauseFrames()) {
    for (let i = f * FRAME; i < (f + 1) * FRAME && i + delay < N; i++) {
      pin += x[i]! * x[i]!;
      pout += out[i + delay]! * out[i + delay]!;
    }
  }
  return 10 * Math.log10(pin / Math.max(pout, 1e-30));
}

interface Scenario {
  gainDb: number;
  lag: number;
  pauseAttenuationDb: number;
}

const results = new Map<string, Scenario>();

function measure(build: Build, noiseName: string, noise: Float32Array): Scenario {
  const key = `${build}/${noiseName}`;
  const hit = results.get(key);
  if (hit) return hit;
  const x = noisy(noise, 5);
  const d = sources.get(build)!;
  const denoiser = Denoiser.createSync(d);
  const { out } = denoise(denoiser, x);
  // What alignedSiSdr(clean, out) computes, reusing the one cross-correlation (a 1M-point FFT).
  const lag = bestLag(clean, out, 4_800);
  const n = N - Math.abs(lag);
  const aligned =
    lag >= 0
      ? siSdr(clean.subarray(0, n), out.subarray(lag, lag + n))
      : siSdr(clean.subarray(-lag, -lag + n), out.subarray(0, n));
  const r = {
    gainDb: aligned - siSdr(clean, x),
    lag,
    pauseAttenuationDb: pauseAttenuationDb(x, out, lag),
  };
  denoiser.destroy();
  results.set(key, r);
  return r;
}

const sources = new Map<Build, RnnoiseWasmSource>();

beforeAll(async () => {
  clean = scaleTo(speechTrack(N, 'en-us', 600), -20);
  for (const build of BUILDS) {
    const s = await readRnnoiseSource(MODEL_OF[build], { simd: build === 'fast-simd' });
    // Compile once: createSync then shares one instance per build across the whole file.
    const wasm = s.wasm instanceof WebAssembly.Module ? s.wasm : new WebAssembly.Module(s.wasm);
    sources.set(build, { ...s, wasm });
  }
});

describe.each(BUILDS)('Denoiser (%s build)', (build) => {
  const model = MODEL_OF[build];
  it('improves SI-SDR by at least 8 dB on speech in white noise at 5 dB SNR', () => {
    expect(measure(build, 'white', whiteNoise(N, 11)).gainDb).toBeGreaterThanOrEqual(8);
  });

  it('improves SI-SDR by at least 6 dB on speech in pink noise at 5 dB SNR', () => {
    expect(measure(build, 'pink', pinkNoise(N, 12)).gainDb).toBeGreaterThanOrEqual(6);
  });

  it('attenuates noise in speech pauses by at least 25 dB (white and pink)', () => {
    expect(measure(build, 'white', whiteNoise(N, 11)).pauseAttenuationDb).toBeGreaterThanOrEqual(
      25,
    );
    expect(measure(build, 'pink', pinkNoise(N, 12)).pauseAttenuationDb).toBeGreaterThanOrEqual(25);
  });

  it('delays the signal by exactly RNNoise’s own delay and the wrapper adds none', () => {
    expect(measure(build, 'white', whiteNoise(N, 11)).lag).toBe(DENOISER_DELAY_SAMPLES[model]);
    expect(measure(build, 'pink', pinkNoise(N, 12)).lag).toBe(DENOISER_DELAY_SAMPLES[model]);
  });

  it('gives the same output for 20 ms frames, 10 ms frames and in-place processing', () => {
    const x = noisy(whiteNoise(FS, 21), 5).subarray(0, FS);
    const a = Denoiser.createSync(sources.get(build)!);
    const b = Denoiser.createSync(sources.get(build)!);
    const c = Denoiser.createSync(sources.get(build)!);
    const outA = new Float32Array(FS);
    const outB = new Float32Array(FS);
    const inPlace = Float32Array.from(x);
    for (let s = 0; s < FS; s += FRAME) {
      const vadA = a.process(x.subarray(s, s + FRAME), outA.subarray(s, s + FRAME));
      const v1 = b.process(x.subarray(s, s + 480), outB.subarray(s, s + 480));
      const v2 = b.process(x.subarray(s + 480, s + FRAME), outB.subarray(s + 480, s + FRAME));
      expect(vadA).toBe(Math.max(v1, v2));
      c.process(inPlace.subarray(s, s + FRAME));
    }
    expect(outB).toEqual(outA);
    expect(inPlace).toEqual(outA);
    for (const d of [a, b, c]) d.destroy();
  });

  it('reports a higher speech probability in speech than in pauses', () => {
    const d = Denoiser.createSync(sources.get(build)!);
    const { vad } = denoise(d, noisy(pinkNoise(N, 12), 5));
    d.destroy();
    const pauses = new Set(pauseFrames());
    let inSpeech = 0;
    let speechCount = 0;
    let inPause = 0;
    for (let f = 0; f < vad.length; f++) {
      if (pauses.has(f)) inPause += vad[f]!;
      else if (rms(clean, f * FRAME, (f + 1) * FRAME) > 0.05) {
        inSpeech += vad[f]!;
        speechCount++;
      }
    }
    expect(inSpeech / speechCount).toBeGreaterThan(0.6);
    expect(inPause / pauses.size).toBeLessThan(0.2);
  });

  it('leaves the RNNoise heap flat over 1,000 create/destroy cycles', () => {
    // Same compiled module, so the same instance as the denoisers below: a malloc probe then
    // shows whether anything stayed allocated (emmalloc hands the lowest fitting block back).
    const rt = RnnoiseWasm.fromSource(sources.get(build)!);
    const probe = (): number => {
      const p = rt.malloc(1_024);
      rt.free(p);
      return p;
    };
    const first = Denoiser.createSync(sources.get(build)!);
    const frame = new Float32Array(FRAME);
    first.process(frame);
    const heapBefore = first.heapBytes;
    first.destroy();
    const probeBefore = probe();
    for (let i = 0; i < 1_000; i++) {
      const d = Denoiser.createSync(sources.get(build)!);
      d.process(frame);
      d.destroy();
    }
    expect(probe()).toBe(probeBefore);
    const last = Denoiser.createSync(sources.get(build)!);
    expect(last.heapBytes).toBe(heapBefore);
    last.destroy();
  });
});

describe('Denoiser model choice', () => {
  it('quality (rnnoise 0.2) beats fast (rnnoise 0.1) on babble by at least 1 dB SI-SDR', () => {
    const b = babble(N);
    const fast = measure('fast-simd', 'babble', b);
    const quality = measure('quality', 'babble', b);
    expect(quality.gainDb - fast.gainDb).toBeGreaterThanOrEqual(1);
  });
});

describe('Denoiser SIMD build', () => {
  it('is what this engine loads for the fast model, and has the names it is loaded by', () => {
    expect(wasmSimdSupported()).toBe(true);
    const simd = sources.get('fast-simd')!;
    expect(simd.simd).toBe(true);
    expect(simd.names).toEqual(SIMD_RNNOISE_NAMES);
    expect(sources.get('fast-nosimd')!.simd).toBe(false);
    const module = simd.wasm as WebAssembly.Module;
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    for (const name of ['memory', 'malloc', 'free', 'rnnoise_create', 'rnnoise_process_frame'])
      expect(exports).toContain(name);
  });

  it('gives the same output as the build without SIMD (same rnnoise 0.1 model), to 1e-5', () => {
    const x = noisy(pinkNoise(2 * FS, 31), 5).subarray(0, 2 * FS);
    const a = Denoiser.createSync(sources.get('fast-simd')!);
    const b = Denoiser.createSync(sources.get('fast-nosimd')!);
    expect([a.simd, b.simd]).toEqual([true, false]);
    const outA = new Float32Array(x.length);
    const outB = new Float32Array(x.length);
    let worstVad = 0;
    for (let s = 0; s < x.length; s += FRAME) {
      const va = a.process(x.subarray(s, s + FRAME), outA.subarray(s, s + FRAME));
      const vb = b.process(x.subarray(s, s + FRAME), outB.subarray(s, s + FRAME));
      worstVad = Math.max(worstVad, Math.abs(va - vb));
    }
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(outA[i]! - outB[i]!));
    expect(rms(outA)).toBeGreaterThan(0.01);
    expect(worst).toBeLessThan(1e-5);
    expect(worstVad).toBeLessThan(1e-4);
    a.destroy();
    b.destroy();
  });

  it('simdRnnoiseSource() takes the package bytes, as a browser fetches them', async () => {
    const { readFile } = await import('node:fs/promises');
    const { createRequire } = await import('node:module');
    const path = createRequire(import.meta.url).resolve(
      '@shiguredo/rnnoise-wasm/dist/rnnoise_simd.wasm',
    );
    const d = Denoiser.createSync(simdRnnoiseSource(new Uint8Array(await readFile(path))));
    expect([d.model, d.simd, d.delaySamples]).toEqual(['fast', true, 480]);
    const frame = Float32Array.from({ length: FRAME }, (_, i) => 0.1 * Math.sin(i / 5));
    expect(d.process(frame)).toBeGreaterThanOrEqual(0);
    d.destroy();
  });

  it('parseRnnoiseGlue() still loads the jitsi build without SIMD', async () => {
    const s = await readRnnoiseSource('fast', { simd: false });
    expect(s.simd).toBe(false);
    expect(() => parseRnnoiseGlue('fast', 'not a glue file', new Uint8Array(8))).toThrow(DspError);
  });
});

describe('Denoiser lifecycle and arguments', () => {
  it('create() loads the default model, SIMD build, from the installed package', async () => {
    const d = await Denoiser.create();
    expect([d.model, d.simd, d.delaySamples]).toEqual(['fast', true, 480]);
    d.destroy();
    const old = await Denoiser.create({ simd: false });
    expect([old.model, old.simd]).toEqual(['fast', false]);
    old.destroy();
  });

  it('destroy() is idempotent and process() afterwards throws DspError destroyed', async () => {
    const d = await Denoiser.create({ model: 'fast' });
    d.destroy();
    d.destroy();
    expect(d.isDestroyed).toBe(true);
    expect(() => d.process(new Float32Array(FRAME))).toThrow(DspError);
    try {
      d.process(new Float32Array(FRAME));
    } catch (e) {
      expect((e as DspError).code).toBe('CONCORD_ERR_DSP_DESTROYED');
    }
  });

  it('rejects bad frame lengths and unknown models with RangeError', async () => {
    const d = await Denoiser.create({ model: 'fast' });
    expect(() => d.process(new Float32Array(128))).toThrow(RangeError);
    expect(() => d.process(new Float32Array(FRAME), new Float32Array(480))).toThrow(RangeError);
    d.destroy();
    await expect(Denoiser.create({ model: 'best' as DenoiserModel })).rejects.toThrow(RangeError);
    expect(() => Denoiser.createSync(sources.get('fast-simd')!, { model: 'quality' })).toThrow(
      RangeError,
    );
  });
});
