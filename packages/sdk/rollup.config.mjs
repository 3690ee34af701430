// Browser bundles of the SDK: the SDK itself (one ESM file with the protocol and its dependencies
// inlined; mediasoup-client in a chunk loaded on first WebRTC use) and the codec worker (libopus encoding off the main thread), which the SDK loads from
// `dist/assets/` beside the other audio assets. `ws` is never bundled: browsers use their own
// WebSocket.
import commonjs from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import esbuild from 'rollup-plugin-esbuild';

// Minified (with source maps): the bundle is what a page downloads before its first call.
const plugins = () => [
  nodeResolve({ browser: true, preferBuiltins: false, extensions: ['.ts', '.js', '.mjs'] }),
  commonjs(),
  esbuild({ target: 'es2022', tsconfig: 'tsconfig.json', minify: true }),
];

export default [
  {
    input: 'src/index.ts',
    external: ['ws', /^node:/],
    // mediasoup-client is imported on first WebRTC use and lands in its own chunk beside the
    // bundle (dist/concord-webrtc.js), fetched relative to it.
    output: {
      dir: 'dist',
      entryFileNames: 'concord.browser.js',
      chunkFileNames: 'concord-webrtc.js',
      manualChunks: (id) =>
        id.includes('node_modules') &&
        /mediasoup-client|sdp-transform|h264-profile|awaitqueue|fake-mediastreamtrack|ua-parser|[\\/](debug|ms)[\\/]/.test(
          id,
        )
          ? 'webrtc'
          : undefined,
      format: 'es',
      sourcemap: true,
    },
    plugins: plugins(),
  },
  {
    input: 'src/send/codecWorker.ts',
    external: [/^node:/],
    output: {
      file: 'dist/assets/concord-codec-worker.js',
      format: 'es',
      sourcemap: true,
    },
    plugins: plugins(),
  },
];
