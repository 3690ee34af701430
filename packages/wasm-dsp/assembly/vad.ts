// Level meter + voice-activity kernel: the shared core (lib/vadCore.ts) over one frame buffer.
export {
  vadCoreConfigure as configure,
  vadCoreReset as reset,
  vadCoreLevelDbfs as levelDbfs,
  vadCorePeakDbfs as peakDbfs,
  vadCoreNoiseDbfs as noiseDbfs,
  vadCoreBandDbfs as bandDbfs,
  vadCoreProbability as probability,
  vadCoreSpeaking as speaking,
} from './lib/vadCore';
import { vadCoreProcess, vadCoreReset } from './lib/vadCore';

let frame: usize = 0;

/** Allocates the frame buffer (`samples` long). Call once. */
export function init(samples: i32): void {
  frame = heap.alloc(<usize>samples << 2);
  memory.fill(frame, 0, <usize>samples << 2);
  vadCoreReset();
}

export function framePtr(): usize {
  return frame;
}

/** Measures the first `n` samples of the frame buffer; `external` < 0 uses the energy detector. */
export function process(n: i32, external: f64): void {
  vadCoreProcess(frame, n, external);
}
