import { readOpusWasm } from '@concord/wasm-dsp';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../errors.js';
import {
  createCodecWorkerHandler,
  type CodecWorkerCommand,
  type CodecWorkerEvent,
} from './codecWorkerCore.js';
import { WorkerOpusEncoder, type CodecWorkerLike } from './WorkerOpusEncoder.js';

/** Runs the real worker handler in-process, answering asynchronously like a Worker would. */
class InProcessWorker implements CodecWorkerLike {
  onmessage: ((e: MessageEvent<CodecWorkerEvent>) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  terminated = false;
  readonly commands: string[] = [];
  private readonly handle = createCodecWorkerHandler((event) =>
    setTimeout(() => this.onmessage?.({ data: event } as MessageEvent<CodecWorkerEvent>), 0),
  );
  postMessage(message: CodecWorkerCommand): void {
    this.commands.push(message.type);
    this.handle(message);
  }
  terminate(): void {
    this.terminated = true;
  }
}

const tone = (k: number): Float32Array => {
  const pcm = new Float32Array(960);
  for (let i = 0; i < 960; i++)
    pcm[i] = 0.3 * Math.sin((2 * Math.PI * 440 * (k * 960 + i)) / 48_000);
  return pcm;
};

describe('WorkerOpusEncoder', () => {
  it('encodes in the worker and returns packets in call order', async () => {
    const module = await WebAssembly.compile(await readOpusWasm());
    const worker = new InProcessWorker();
    const encoder = await WorkerOpusEncoder.create(() => worker, module, { bitrateBps: 32_000 });
    const got: number[] = [];
    const done = new Promise<void>((resolve) => {
      for (let k = 0; k < 5; k++)
        encoder.encode(tone(k), (p) => {
          expect(p.length).toBeGreaterThan(2);
          got.push(k);
          if (got.length === 5) resolve();
        });
    });
    expect(encoder.inFlight).toBe(5);
    await done;
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(encoder.encodeUsMean).toBeGreaterThan(0);
    encoder.configure({ bitrateBps: 16_000 });
    encoder.destroy();
    encoder.destroy();
    expect(worker.terminated).toBe(true);
    expect(worker.commands).toEqual(['init', ...Array(5).fill('encode'), 'configure', 'destroy']);
  });

  it('rejects with MediaError when the worker cannot load libopus', async () => {
    const worker = new InProcessWorker();
    await expect(
      WorkerOpusEncoder.create(() => worker, new Uint8Array([0, 1, 2])),
    ).rejects.toBeInstanceOf(MediaError);
    expect(worker.terminated).toBe(true);
  });
});
