// Copies what the browser audio graph loads at run time next to the SDK bundle, in
// dist/assets/: the worklet bundle, the DSP kernels, RNNoise (jitsi's two builds and the SIMD
// build of @shiguredo/rnnoise-wasm) and libopus (SIMD and
// scalar builds of `@evan/opus`, the media path's codec).
// The codec worker bundle (concord-codec-worker.js) is written there by rollup directly.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const out = join(root, 'dist', 'assets');
mkdirSync(out, { recursive: true });

const dsp = join(root, '..', 'wasm-dsp', 'build');
const worklet = join(root, '..', 'audio-worklet', 'dist');
const rnnoise = dirname(require.resolve('@jitsi/rnnoise-wasm/dist/rnnoise.wasm'));
// The WASM SIMD build of RNNoise ('fast' where the engine has SIMD), from wasm-dsp's dependency.
const rnnoiseSimd = createRequire(join(root, '..', 'wasm-dsp', 'package.json')).resolve(
  '@shiguredo/rnnoise-wasm/dist/rnnoise_simd.wasm',
);
// @evan/opus is a dependency of wasm-dsp: resolve it from there.
const opus = dirname(
  createRequire(join(root, '..', 'wasm-dsp', 'package.json')).resolve('@evan/opus/wasm/simd.wasm'),
);
const files = [
  ...['aec', 'agc', 'vad', 'mixer', 'resampler', 'tsm', 'spatial'].map((k) => [
    join(dsp, `${k}.wasm`),
    `${k}.wasm`,
  ]),
  [join(worklet, 'concord-processors.js'), 'concord-processors.js'],
  [join(worklet, 'concord-processors.js.map'), 'concord-processors.js.map'],
  [join(rnnoise, 'rnnoise.js'), 'rnnoise.js'],
  [join(rnnoise, 'rnnoise.wasm'), 'rnnoise.wasm'],
  [join(rnnoise, 'rnnoise-sync.js'), 'rnnoise-sync.js'],
  [rnnoiseSimd, 'rnnoise_simd.wasm'],
  [join(opus, 'simd.wasm'), 'opus-simd.wasm'],
  [join(opus, 'opus.wasm'), 'opus.wasm'],
];
for (const [from, name] of files) copyFileSync(from, join(out, name));
console.log(`sdk: copied ${files.length} audio assets to dist/assets/`);
