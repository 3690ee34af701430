// Whether the build (or the docs site) is older than its sources, by file times, so that
// `npm start` rebuilds only after a change. The outputs checked are the ones every
// `npm run build` rewrites (the WASM kernels, the rollup bundles, the copied assets), so the
// oldest of them is the time of the last complete build; tsc's own outputs are checked only for
// existence (tsc -b leaves unchanged files alone). Folders count as inputs too: a deleted or
// renamed source changes its folder's time.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Newest modification time under `path` (a file, or a folder walked recursively). */
function newest(path, skip, found = { mtimeMs: 0, path: undefined }) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return found;
  }
  if (stat.mtimeMs > found.mtimeMs) [found.mtimeMs, found.path] = [stat.mtimeMs, path];
  if (stat.isDirectory())
    for (const name of readdirSync(path)) if (!skip(name)) newest(join(path, name), skip, found);
  return found;
}

/** Tests and tool output never change what the build writes. */
const skipNames = (name) =>
  name === 'node_modules' || name.endsWith('.test.ts') || name.endsWith('.test-util.ts');

/**
 * Why `inputs` must be rebuilt into `outputs`, or `undefined` when every output exists and is
 * newer than every input. `mustExist` are outputs whose time does not matter.
 */
function staleness(root, inputs, outputs, mustExist = []) {
  for (const file of [...outputs, ...mustExist])
    if (!existsSync(join(root, file))) return `${file} is missing`;
  let oldest = { mtimeMs: Infinity, path: '' };
  for (const file of outputs) {
    const { mtimeMs } = statSync(join(root, file));
    if (mtimeMs < oldest.mtimeMs) oldest = { mtimeMs, path: file };
  }
  const found = { mtimeMs: 0, path: undefined };
  for (const input of inputs) newest(join(root, input), skipNames, found);
  if (found.mtimeMs > oldest.mtimeMs)
    return `${relative(root, found.path)} changed since the last build`;
  return undefined;
}

const PACKAGES = ['protocol', 'wasm-dsp', 'audio-worklet', 'testing', 'gateway', 'sdk'];

/** Why `npm run build` must run, or `undefined` when its outputs are up to date. */
export function buildStaleness(root) {
  const kernels = readdirSync(join(root, 'packages/wasm-dsp/assembly'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `packages/wasm-dsp/build/${f.slice(0, -3)}.wasm`);
  const inputs = [
    'package.json',
    'tsconfig.json',
    'tsconfig.base.json',
    'node_modules/.package-lock.json',
    'packages/wasm-dsp/assembly',
    ...PACKAGES.flatMap((p) =>
      ['src', 'scripts', 'package.json', 'tsconfig.json', 'rollup.config.mjs'].map(
        (f) => `packages/${p}/${f}`,
      ),
    ),
  ];
  const outputs = [
    ...kernels,
    'packages/audio-worklet/dist/concord-processors.js',
    'packages/sdk/dist/concord.browser.js',
    'packages/sdk/dist/assets/concord-codec-worker.js',
    'packages/sdk/dist/assets/concord-processors.js',
  ];
  const mustExist = [
    ...PACKAGES.map((p) => `packages/${p}/dist/index.js`),
    'packages/gateway/dist/cli.js',
    'packages/wasm-dsp/dist/cli.js',
  ];
  return staleness(root, inputs, outputs, mustExist);
}

/** Why the docs site (dist/docs, `npm run docs`) must be rebuilt, or `undefined`. */
export function docsStaleness(root) {
  const inputs = [
    'typedoc.json',
    'README.md',
    'ARCHITECTURE.md',
    'docs',
    ...PACKAGES.map((p) => `packages/${p}/src`),
  ];
  return staleness(root, inputs, ['dist/docs/index.html']);
}
