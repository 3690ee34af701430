// Browser bundles of the SDK: the SDK itself (one ESM file with the protocol and its dependencies
// inlined) and the codec worker (libopus encoding off the main thread), which the SDK loads from
// `dist/assets/` beside the other audio assets. `ws` is never bundled: browsers use their own
// WebSocket.
import commonjs from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import esbuild from 'rollup-plugin-esbuild';

const plugins = () => [
  nodeResolve({ browser: true, preferBuiltins: false, extensions: ['.ts', '.js', '.mjs'] }),
  commonjs(),
  esbuild({ target: 'es2022', tsconfig: 'tsconfig.json' }),
];

export default [
  {
    input: 'src/index.ts',
    external: ['ws', /^node:/],
    output: {
      file: 'dist/concord.browser.js',
      format: 'es',
      sourcemap: true,
    },
    plugins: plugins(),
  },
  {
    input: 'src/transport/codecWorker.ts',
    external: [/^node:/],
    output: {
      file: 'dist/assets/concord-codec-worker.js',
      format: 'es',
      sourcemap: true,
    },
    plugins: plugins(),
  },
];
