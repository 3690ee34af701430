import { beforeAll, describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { DENOISER_DELAY_SAMPLES, Denoiser, type DenoiserModel } from '../src/Denoiser.js';
import { readRnnoiseSource, RnnoiseWasm, type RnnoiseWasmSource } from '../src/RnnoiseWasm.js';
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
const MODELS: readonly DenoiserModel[] = ['fast', 'quality'];

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

function measure(model: DenoiserModel, noiseName: string, noise: Float32Array): Scenario {
  const key = `${model}/${noiseName}`;
  const hit = results.get(key);
  if (hit) return hit;
  const x = noisy(noise, 5);
  const d = sources.get(model)!;
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

const sources = new Map<DenoiserModel, RnnoiseWasmSource>();

beforeAll(async () => {
  clean = scaleTo(speechTrack(N, 'en-us', 600), -20);
  for (const model of MODELS) {
    const s = await readRnnoiseSource(model);
    // Compile once: createSync then shares one instance per model across the whole file.
    const wasm = s.wasm instanceof WebAssembly.Module ? s.wasm : new WebAssembly.Module(s.wasm);
    sources.set(model, { ...s, wasm });
  }
});

describe.each(MODELS)('Denoiser (%s model)', (model) => {
  it('improves SI-SDR by at least 8 dB on speech in white noise at 5 dB SNR', () => {
    expect(measure(model, 'white', whiteNoise(N, 11)).gainDb).toBeGreaterThanOrEqual(8);
  });

  it('improves SI-SDR by at least 6 dB on speech in pink noise at 5 dB SNR', () => {
    expect(measure(model, 'pink', pinkNoise(N, 12)).gainDb).toBeGreaterThanOrEqual(6);
  });

  it('attenuates noise in speech pauses by at least 25 dB (white and pink)', () => {
    expect(measure(model, 'white', whiteNoise(N, 11)).pauseAttenuationDb).toBeGreaterThanOrEqual(
      25,
    );
    expect(measure(model, 'pink', pinkNoise(N, 12)).pauseAttenuationDb).toBeGreaterThanOrEqual(25);
  });

  it('delays the signal by exactly RNNoise’s own delay and the wrapper adds none', () => {
    expect(measure(model, 'white', whiteNoise(N, 11)).lag).toBe(DENOISER_DELAY_SAMPLES[model]);
    expect(measure(model, 'pink', pinkNoise(N, 12)).lag).toBe(DENOISER_DELAY_SAMPLES[model]);
  });

  it('gives the same output for 20 ms frames, 10 ms frames and in-place processing', () => {
    const x = noisy(whiteNoise(FS, 21), 5).subarray(0, FS);
    const a = Denoiser.createSync(sources.get(model)!);
    const b = Denoiser.createSync(sources.get(model)!);
    const c = Denoiser.createSync(sources.get(model)!);
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
    const d = Denoiser.createSync(sources.get(model)!);
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
    const rt = RnnoiseWasm.fromSource(sources.get(model)!);
    const probe = (): number => {
      const p = rt.malloc(1_024);
      rt.free(p);
      return p;
    };
    const first = Denoiser.createSync(sources.get(model)!);
    const frame = new Float32Array(FRAME);
    first.process(frame);
    const heapBefore = first.heapBytes;
    first.destroy();
    const probeBefore = probe();
    for (let i = 0; i < 1_000; i++) {
      const d = Denoiser.createSync(sources.get(model)!);
      d.process(frame);
      d.destroy();
    }
    expect(probe()).toBe(probeBefore);
    const last = Denoiser.createSync(sources.get(model)!);
    expect(last.heapBytes).toBe(heapBefore);
    last.destroy();
  });
});

describe('Denoiser model choice', () => {
  it('quality (rnnoise 0.2) beats fast (rnnoise 0.1) on babble by at least 1 dB SI-SDR', () => {
    const b = babble(N);
    const fast = measure('fast', 'babble', b);
    const quality = measure('quality', 'babble', b);
    expect(quality.gainDb - fast.gainDb).toBeGreaterThanOrEqual(1);
  });
});

describe('Denoiser lifecycle and arguments', () => {
  it('create() loads the default model from the installed package', async () => {
    const d = await Denoiser.create();
    expect(d.model).toBe('fast');
    expect(d.delaySamples).toBe(480);
    d.destroy();
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
    expect(() => Denoiser.createSync(sources.get('fast')!, { model: 'quality' })).toThrow(
      RangeError,
    );
  });
});
