// The worklet bundle: both processors and the WASM DSP adaptors in one ESM file for
// `audioWorklet.addModule()`. Node-only code paths (file loading) are dynamic imports that a
// worklet never reaches; they stay external.
import { nodeResolve } from '@rollup/plugin-node-resolve';
import esbuild from 'rollup-plugin-esbuild';

export default {
  input: 'src/processors.ts',
  external: [/^node:/],
  output: {
    file: 'dist/concord-processors.js',
    format: 'es',
    sourcemap: true,
    inlineDynamicImports: true,
  },
  plugins: [
    nodeResolve({ browser: true, extensions: ['.ts', '.js', '.mjs'] }),
    esbuild({ target: 'es2022', tsconfig: 'tsconfig.json' }),
  ],
};
