// Entry point of the codec worker bundle (`dist/assets/concord-codec-worker.js`): Opus encoding
// off the main thread. Loaded by `WorkerOpusEncoder`.
import { createCodecWorkerHandler, type CodecWorkerCommand } from './codecWorkerCore.js';

interface WorkerScope {
  onmessage: ((e: MessageEvent<CodecWorkerCommand>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
const handle = createCodecWorkerHandler((event, transfer = []) =>
  scope.postMessage(event, transfer),
);
scope.onmessage = (e) => {
  handle(e.data);
  if (e.data.type === 'destroy') scope.close();
};
