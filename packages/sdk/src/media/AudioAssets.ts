import {
  opusWasmSimdSupported,
  parseRnnoiseGlue,
  simdRnnoiseSource,
  wasmSimdSupported,
  type CaptureChainSources,
  type DenoiserModel,
} from '@concord/wasm-dsp';
import { MediaError } from '../errors.js';

/** Everything the audio worklets need, loaded once per page. */
export interface AudioAssets {
  /** URL of the worklet bundle (both processors), for `audioWorklet.addModule`. */
  processorsUrl: string;
  /** DSP kernels for the capture chain (bytes: posted to the audio thread, compiled there). */
  capture: CaptureChainSources;
  /** Mixer kernel bytes. */
  mixer: ArrayBuffer;
  /** Resampler kernel bytes. */
  resampler: ArrayBuffer;
  /** Spatial (binaural) renderer kernel bytes. */
  spatial: ArrayBuffer;
}

/**
 * Default location of the assets: `assets/` next to the SDK bundle (`npm run build` copies the
 * worklet bundle, the kernels and RNNoise there).
 */
export function defaultAssetsUrl(): string {
  return new URL('./assets/', import.meta.url).href;
}

const cache = new Map<string, Promise<AudioAssets>>();

/**
 * Fetches the worklet bundle URL, the WASM kernels and the RNNoise build from `baseUrl`
 * (cached per URL and model). Main thread.
 * @throws {MediaError} `CONCORD_ERR_MEDIA_ASSETS` when a file cannot be fetched.
 */
export function loadAudioAssets(baseUrl: string, nsModel: DenoiserModel): Promise<AudioAssets> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const key = `${base}|${nsModel}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = fetchAssets(base, nsModel);
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
  }
  return hit;
}

async function fetchAssets(base: string, nsModel: DenoiserModel): Promise<AudioAssets> {
  const get = async (name: string): Promise<Response> => {
    const url = new URL(name, base).href;
    let res: Response;
    try {
      res = await fetch(url);
    } catch (cause) {
      throw MediaError.assets(url, cause);
    }
    if (!res.ok) throw MediaError.assets(url, new Error(`HTTP ${res.status}`));
    return res;
  };
  const bytes = async (name: string): Promise<ArrayBuffer> => (await get(name)).arrayBuffer();
  // 'fast' is the WASM SIMD build where the engine has SIMD (1.4–1.5× faster, same model and
  // delay), jitsi's scalar build elsewhere; 'quality' is jitsi's rnnoise 0.2 (no SIMD build).
  const simd = nsModel === 'fast' && wasmSimdSupported();
  const glueName = nsModel === 'fast' ? 'rnnoise.js' : 'rnnoise-sync.js';
  const [aec, agc, vad, mixer, resampler, spatial, rnnoise] = await Promise.all([
    bytes('aec.wasm'),
    bytes('agc.wasm'),
    bytes('vad.wasm'),
    bytes('mixer.wasm'),
    bytes('resampler.wasm'),
    bytes('spatial.wasm'),
    simd
      ? bytes('rnnoise_simd.wasm').then(simdRnnoiseSource)
      : Promise.all([
          get(glueName).then((r) => r.text()),
          nsModel === 'fast' ? bytes('rnnoise.wasm') : Promise.resolve(undefined),
        ]).then(([glue, wasm]) => parseRnnoiseGlue(nsModel, glue, wasm)),
  ]);
  return {
    processorsUrl: new URL('concord-processors.js', base).href,
    capture: { aec, agc, vad, rnnoise },
    mixer,
    resampler,
    spatial,
  };
}

/** File names of the libopus builds in the assets folder (copied from `@evan/opus/wasm/`). */
export const OPUS_WASM_ASSETS = Object.freeze({ simd: 'opus-simd.wasm', scalar: 'opus.wasm' });

const opusCache = new Map<string, Promise<WebAssembly.Module>>();

/**
 * Fetches and compiles the libopus build for this engine (SIMD when supported) from `baseUrl`
 * (cached per URL): the codec of the media path, shared by every encoder and decoder of the page.
 * Main thread (or a Worker); async.
 * @throws {MediaError} `CONCORD_ERR_MEDIA_ASSETS` when the file cannot be fetched or compiled.
 */
export function loadOpusWasm(baseUrl: string): Promise<WebAssembly.Module> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return compileAsset(
    new URL(opusWasmSimdSupported() ? OPUS_WASM_ASSETS.simd : OPUS_WASM_ASSETS.scalar, base).href,
  );
}

/**
 * Fetches and compiles the time-scale modification kernel (`tsm.wasm`) from `baseUrl`, once
 * per URL, for the jitter buffers' `TimeStretcher`s. Main thread or a worker.
 * @throws {MediaError} `CONCORD_ERR_MEDIA_ASSETS` when it cannot be fetched or compiled.
 */
export function loadTimeStretchWasm(baseUrl: string): Promise<WebAssembly.Module> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return compileAsset(new URL('tsm.wasm', base).href);
}

function compileAsset(url: string): Promise<WebAssembly.Module> {
  let hit = opusCache.get(url);
  if (!hit) {
    hit = (async () => {
      try {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return await WebAssembly.compile(await res.arrayBuffer());
      } catch (cause) {
        throw MediaError.assets(url, cause);
      }
    })();
    hit.catch(() => opusCache.delete(url));
    opusCache.set(url, hit);
  }
  return hit;
}
