import { DspError } from './DspError.js';

/** Names of the kernels built from `assembly/<name>.ts` into `build/<name>.wasm`. */
export type KernelName = string;

/** Bytes or an already compiled module of one kernel. */
export type WasmSource = BufferSource | WebAssembly.Module;

/**
 * Reads a kernel's `.wasm` bytes from the package's `build/` folder. Node only (tests,
 * benchmarks, bots, the CLI); browsers fetch `@concord/wasm-dsp/wasm/<name>.wasm` instead.
 * Runs on whichever thread calls it; async.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the file is missing (run `npm run build`).
 */
export async function readKernelBytes(name: KernelName): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  const url = new URL(`../build/${name}.wasm`, import.meta.url);
  try {
    return new Uint8Array(await readFile(url));
  } catch (cause) {
    throw DspError.wasmLoad(name, cause);
  }
}

/**
 * Instantiates a kernel synchronously (safe inside an AudioWorklet, where `addModule` does not
 * await promises). `imports` defaults to the `env.abort` that AssemblyScript's stub runtime needs.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when compilation or instantiation fails.
 */
export function instantiateKernelSync(
  name: KernelName,
  source: WasmSource,
  imports: WebAssembly.Imports = defaultImports(name),
): WebAssembly.Instance {
  try {
    const module = source instanceof WebAssembly.Module ? source : new WebAssembly.Module(source);
    return new WebAssembly.Instance(module, imports);
  } catch (cause) {
    throw DspError.wasmLoad(name, cause);
  }
}

/**
 * Reads and instantiates a kernel in Node (async). See {@link instantiateKernelSync}.
 */
export async function loadKernel(
  name: KernelName,
  imports?: WebAssembly.Imports,
): Promise<WebAssembly.Instance> {
  return instantiateKernelSync(name, await readKernelBytes(name), imports);
}

function defaultImports(name: string): WebAssembly.Imports {
  return {
    env: {
      abort(_msg: number, _file: number, line: number, column: number): never {
        throw DspError.wasmLoad(name, new Error(`abort at ${line}:${column}`));
      },
      seed(): number {
        return 0;
      },
    },
  };
}
