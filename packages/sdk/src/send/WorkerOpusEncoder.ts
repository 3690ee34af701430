import type { OpusEncoderSettings, OpusWasmSource } from '@concord/wasm-dsp';
import { MediaError } from '../errors.js';
import { getLogger } from '../logger.js';
import type { CodecWorkerCommand, CodecWorkerEvent } from './codecWorkerCore.js';
import type { SenderEncoder } from './VoiceSender.js';

/** The part of `Worker` the encoder uses (a fake stands in for it in Node tests). */
export interface CodecWorkerLike {
  onmessage: ((e: MessageEvent<CodecWorkerEvent>) => void) | null;
  onerror: ((e: unknown) => void) | null;
  postMessage(message: CodecWorkerCommand, transfer?: Transferable[]): void;
  terminate(): void;
}

/** Start-up wait for the worker's `ready`, ms. */
const READY_TIMEOUT_MS = 10_000;

/**
 * A {@link SenderEncoder} whose libopus runs in a dedicated Worker (the
 * `concord-codec-worker.js` asset): frames are copied to the worker, packets come back in order
 * and are handed to each `encode` call's `done`, asynchronously. `encodeUsMean` is the worker's
 * own encode time. Main thread.
 */
export class WorkerOpusEncoder implements SenderEncoder {
  private readonly pending: ((packet: Uint8Array) => void)[] = [];
  private destroyed = false;
  private encodeUsTotal = 0;
  private packets = 0;
  private readonly log = getLogger('concord:codec');

  private constructor(private readonly worker: CodecWorkerLike) {}

  /**
   * Starts a worker and an encoder in it from the compiled libopus module.
   * @param createWorker e.g. `() => new Worker(url, { type: 'module' })`.
   * @throws {MediaError} `CONCORD_ERR_MEDIA_ASSETS` when the worker fails to start or load libopus.
   */
  static async create(
    createWorker: () => CodecWorkerLike,
    source: OpusWasmSource,
    settings: Partial<OpusEncoderSettings> = {},
  ): Promise<WorkerOpusEncoder> {
    const worker = createWorker();
    const encoder = new WorkerOpusEncoder(worker);
    await new Promise<void>((resolve, reject) => {
      const fail = (message: string): void => {
        clearTimeout(timer);
        worker.terminate();
        reject(MediaError.assets('concord-codec-worker.js', new Error(message)));
      };
      const timer = setTimeout(() => fail('codec worker did not start'), READY_TIMEOUT_MS);
      worker.onerror = (e) =>
        fail(`codec worker failed: ${String((e as ErrorEvent).message ?? e)}`);
      worker.onmessage = (e) => {
        if (e.data.type === 'ready') {
          clearTimeout(timer);
          worker.onmessage = (m) => encoder.onEvent(m.data);
          resolve();
        } else if (e.data.type === 'error') fail(e.data.message);
      };
      worker.postMessage({ type: 'init', source, settings });
    });
    return encoder;
  }

  /** Mean encode time in the worker, µs per frame. */
  get encodeUsMean(): number {
    return this.packets === 0 ? 0 : this.encodeUsTotal / this.packets;
  }

  /** Frames sent to the worker and not answered yet. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Copies `pcm` to the worker; `done` receives the packet later, in order. */
  encode(pcm: Float32Array, done: (packet: Uint8Array) => void): void {
    if (this.destroyed) return;
    const copy = pcm.slice();
    this.pending.push(done);
    this.worker.postMessage({ type: 'encode', pcm: copy }, [copy.buffer]);
  }

  /** Applies settings in the worker from the next frame on. */
  configure(changes: Partial<OpusEncoderSettings>): void {
    if (!this.destroyed) this.worker.postMessage({ type: 'configure', changes: { ...changes } });
  }

  /** Frees the encoder and ends the worker (idempotent); packets in flight are dropped. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pending.length = 0;
    this.worker.postMessage({ type: 'destroy' });
    this.worker.onmessage = null;
    this.worker.terminate();
  }

  private onEvent(e: CodecWorkerEvent): void {
    if (e.type === 'packet') {
      this.encodeUsTotal += e.encodeUs;
      this.packets++;
      this.pending.shift()?.(e.packet);
    } else if (e.type === 'error') {
      // The frame is lost (its `done` never runs); the stream continues with the next one.
      this.pending.shift();
      this.log.warn('codec worker error', { message: e.message });
    }
  }
}
