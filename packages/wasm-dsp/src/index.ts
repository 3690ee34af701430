export { DspError, type DspErrorCode } from './DspError.js';
export {
  instantiateKernelSync,
  loadKernel,
  readKernelBytes,
  type KernelName,
  type WasmSource,
} from './wasmLoader.js';
export * from './constants.js';
