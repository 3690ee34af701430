// The codec worker's message handling, separate from its entry point (codecWorker.ts) so Node
// tests can run it in-process behind a fake Worker.
import { WasmOpusEncoder, type OpusEncoderSettings, type OpusWasmSource } from '@concord/wasm-dsp';

/** Main thread → codec worker. */
export type CodecWorkerCommand =
  | { type: 'init'; source: OpusWasmSource; settings: Partial<OpusEncoderSettings> }
  | { type: 'configure'; changes: Partial<OpusEncoderSettings> }
  | { type: 'encode'; pcm: Float32Array }
  | { type: 'destroy' };

/** Codec worker → main thread. */
export type CodecWorkerEvent =
  | { type: 'ready' }
  | { type: 'packet'; packet: Uint8Array; encodeUs: number }
  | { type: 'error'; message: string };

/** Posts an event back (with transferables). */
export type CodecWorkerPost = (event: CodecWorkerEvent, transfer?: Transferable[]) => void;

/**
 * Creates the worker-side handler: one `WasmOpusEncoder`, instantiated synchronously from the
 * compiled module the main thread sends; each `encode` answers with exactly one `packet` (or
 * `error`), in order. Codec worker thread (or in-process in tests).
 */
export function createCodecWorkerHandler(post: CodecWorkerPost): (cmd: CodecWorkerCommand) => void {
  let encoder: WasmOpusEncoder | undefined;
  return (cmd) => {
    try {
      switch (cmd.type) {
        case 'init':
          encoder = WasmOpusEncoder.createSync(cmd.source, cmd.settings);
          post({ type: 'ready' });
          return;
        case 'configure':
          encoder?.configure(cmd.changes);
          return;
        case 'encode': {
          if (!encoder) throw new Error('encode before init');
          const started = performance.now();
          const packet = encoder.encode(cmd.pcm).slice();
          post({ type: 'packet', packet, encodeUs: (performance.now() - started) * 1000 }, [
            packet.buffer,
          ]);
          return;
        }
        case 'destroy':
          encoder?.destroy();
          encoder = undefined;
          return;
      }
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  };
}
