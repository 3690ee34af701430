export { DspError, type DspErrorCode } from './DspError.js';
export {
  instantiateKernelSync,
  loadKernel,
  readKernelBytes,
  type KernelName,
  type WasmSource,
} from './wasmLoader.js';
export * from './constants.js';
export { decodeWav, encodeWav, MAX_WAV_DATA_BYTES, type WavData, type WavEncoding } from './wav.js';
