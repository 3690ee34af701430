import { readKernelBytes, type KernelName, type WasmSource } from './wasmLoader.js';
import { DspError } from './DspError.js';

const compiled = new Map<KernelName, Promise<WebAssembly.Module>>();

/**
 * Compiles a kernel's `.wasm` once per process and returns the cached module (Node: tests,
 * benchmarks, bots, the CLI). Creating many kernel instances then costs an instantiation each,
 * not a compilation. Async; any thread with file access.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the file is missing or invalid.
 */
export function compileKernel(name: KernelName): Promise<WebAssembly.Module> {
  let hit = compiled.get(name);
  if (!hit) {
    hit = readKernelBytes(name).then((bytes) => {
      try {
        // readFile always yields a plain (non-shared) ArrayBuffer.
        return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      } catch (cause) {
        throw DspError.wasmLoad(name, cause);
      }
    });
    // A failed load is not cached: the next call retries (e.g. after `npm run build`).
    hit.catch(() => compiled.delete(name));
    compiled.set(name, hit);
  }
  return hit;
}

/** Compiles `source` unless it already is a module (sync; safe inside an AudioWorklet). */
export function toModule(name: KernelName, source: WasmSource): WebAssembly.Module {
  if (source instanceof WebAssembly.Module) return source;
  try {
    return new WebAssembly.Module(source);
  } catch (cause) {
    throw DspError.wasmLoad(name, cause);
  }
}
