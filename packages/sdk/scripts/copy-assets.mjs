// Copies what the browser audio graph loads at run time next to the SDK bundle, in
// dist/assets/: the worklet bundle, the DSP kernels and RNNoise (both builds).
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
const files = [
  ...['aec', 'agc', 'vad', 'mixer', 'resampler'].map((k) => [join(dsp, `${k}.wasm`), `${k}.wasm`]),
  [join(worklet, 'concord-processors.js'), 'concord-processors.js'],
  [join(worklet, 'concord-processors.js.map'), 'concord-processors.js.map'],
  [join(rnnoise, 'rnnoise.js'), 'rnnoise.js'],
  [join(rnnoise, 'rnnoise.wasm'), 'rnnoise.wasm'],
  [join(rnnoise, 'rnnoise-sync.js'), 'rnnoise-sync.js'],
];
for (const [from, name] of files) copyFileSync(from, join(out, name));
console.log(`sdk: copied ${files.length} audio assets to dist/assets/`);
