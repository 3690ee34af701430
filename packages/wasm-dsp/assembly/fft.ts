// Thin WASM entry exposing assembly/lib/fft.ts for tests and benchmarks (src/Fft.ts).
import { allocF32, RealFft } from './lib/fft';

let fft: RealFft | null = null;
let timeBuf: usize = 0;
let reBuf: usize = 0;
let imBuf: usize = 0;

/** Allocates a transform of `size` samples (power of two ≥ 16) and its I/O buffers, once. */
export function init(size: i32): void {
  fft = new RealFft(size);
  timeBuf = allocF32(size);
  reBuf = allocF32(size / 2 + 4);
  imBuf = allocF32(size / 2 + 4);
}

/** Byte offset of the `size`-sample time-domain buffer. */
export function timePtr(): usize {
  return timeBuf;
}

/** Byte offset of the real parts of the spectrum (`size/2 + 1` bins). */
export function rePtr(): usize {
  return reBuf;
}

/** Byte offset of the imaginary parts of the spectrum. */
export function imPtr(): usize {
  return imBuf;
}

/** Forward transform of the time buffer into re/im (unscaled). */
export function forward(): void {
  fft!.forward(timeBuf, reBuf, imBuf);
}

/** Inverse transform of re/im into the time buffer (scaled by 1/size). */
export function inverse(): void {
  fft!.inverse(reBuf, imBuf, timeBuf);
}
