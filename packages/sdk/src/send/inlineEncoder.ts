import type { WasmOpusEncoder } from '@concord/wasm-dsp';
import type { SenderEncoder } from './VoiceSender.js';

/**
 * Adapts a `WasmOpusEncoder` to {@link SenderEncoder}, encoding on the calling thread: `done`
 * runs synchronously. Used in Node (bots, tests) and as the browser's fallback when the codec
 * worker cannot start. Measures its own encode time.
 */
export function inlineEncoder(
  encoder: WasmOpusEncoder,
  now: () => number = () => performance.now(),
): SenderEncoder & { readonly encodeUsMean: number } {
  let totalUs = 0;
  let frames = 0;
  return {
    encode(pcm, done) {
      const started = now();
      const packet = encoder.encode(pcm);
      totalUs += (now() - started) * 1000;
      frames++;
      done(packet);
    },
    configure: (changes) => encoder.configure(changes),
    destroy: () => encoder.destroy(),
    get encodeUsMean() {
      return frames === 0 ? 0 : totalUs / frames;
    },
  };
}
