import { DspError } from './DspError.js';

/**
 * Which RNNoise model to run.
 * - `'fast'`: the rnnoise 0.1 model. Two builds of it exist (see {@link RnnoiseWasmSource.simd}):
 *   `@shiguredo/rnnoise-wasm` 2022.2.0's `dist/rnnoise_simd.wasm` (157 KB, WASM SIMD, the
 *   default wherever WASM SIMD exists) and `@jitsi/rnnoise-wasm`'s async build
 *   (`dist/rnnoise.wasm`, 112 KB, no SIMD). Their outputs agree to 2e-7 (same model and code).
 * - `'quality'`: the rnnoise 0.2 model, `@jitsi/rnnoise-wasm`'s sync build
 *   (`dist/rnnoise-sync.js`, wasm inlined as base64, 1.4 MB, no SIMD; no SIMD build of this model
 *   is published); several times the CPU of `'fast'`.
 */
export type DenoiserModel = 'fast' | 'quality';

/**
 * Names of the RNNoise module's imports and exports. The jitsi builds minify them differently
 * (and may change them with any package release), so they are read from the glue JS by
 * {@link parseRnnoiseGlue}; the SIMD build keeps emscripten's own names
 * ({@link SIMD_RNNOISE_NAMES}).
 */
export interface RnnoiseExportNames {
  /** Import module name (emscripten uses `'a'`). */
  readonly importModule: string;
  /** Import name of `emscripten_memcpy_big(dest, src, num)`. */
  readonly memcpyBig: string;
  /** Import name of `emscripten_resize_heap(requestedBytes)`. */
  readonly resizeHeap: string;
  /** Import name of `__assert_fail(...)`, for builds that import it. */
  readonly assertFail?: string;
  /** Export names of the memory and functions the wrapper calls. */
  readonly memory: string;
  readonly callCtors: string;
  /** Export name of `emscripten_stack_init()`, for builds that have one (called before ctors). */
  readonly stackInit?: string;
  readonly malloc: string;
  readonly free: string;
  readonly create: string;
  readonly destroy: string;
  readonly processFrame: string;
}

/**
 * Everything needed to instantiate one RNNoise build synchronously: the wasm (bytes or an already
 * compiled module) and the names of its imports/exports. A plain object of transferable parts, so
 * the main thread can build it once and pass it to an AudioWorklet in `processorOptions`.
 */
export interface RnnoiseWasmSource {
  /** The build these bytes belong to. */
  readonly model: DenoiserModel;
  /** The wasm bytes, or a compiled module (a module is cached and instantiated once per thread). */
  readonly wasm: BufferSource | WebAssembly.Module;
  /** Names of the build's imports and exports. */
  readonly names: RnnoiseExportNames;
  /** Whether the build uses WASM SIMD (only the `'fast'` model has such a build). */
  readonly simd?: boolean;
}

/**
 * Import/export names of `@shiguredo/rnnoise-wasm` 2022.2.0's builds (`dist/rnnoise_simd.wasm`
 * and `dist/rnnoise.wasm`, emscripten without minified names). Checked against the package by
 * `test/denoiser.test.ts`.
 */
export const SIMD_RNNOISE_NAMES: RnnoiseExportNames = {
  importModule: 'env',
  memcpyBig: 'emscripten_memcpy_big',
  resizeHeap: 'emscripten_resize_heap',
  assertFail: '__assert_fail',
  memory: 'memory',
  callCtors: '__wasm_call_ctors',
  stackInit: 'emscripten_stack_init',
  malloc: 'malloc',
  free: 'free',
  create: 'rnnoise_create',
  destroy: 'rnnoise_destroy',
  processFrame: 'rnnoise_process_frame',
};

/**
 * The source of the SIMD build of the `'fast'` model, from the bytes (or compiled module) of
 * `@shiguredo/rnnoise-wasm/dist/rnnoise_simd.wasm`. In a browser the main thread fetches that
 * file (check {@link wasmSimdSupported} first and fall back to {@link parseRnnoiseGlue} with the
 * jitsi files) and posts the result to the worklet. Any thread; allocates nothing but the object.
 */
export function simdRnnoiseSource(wasm: BufferSource | WebAssembly.Module): RnnoiseWasmSource {
  return { model: 'fast', wasm, names: SIMD_RNNOISE_NAMES, simd: true };
}

// The smallest module using a v128 instruction: (func (result v128) i32.const 0 i8x16.splat
// i8x16.popcnt), the probe the wasm-feature-detect package uses for SIMD.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);

/**
 * Whether this engine runs WASM SIMD (fixed-width, 128-bit), i.e. whether the SIMD RNNoise build
 * can be instantiated. Any thread; synchronous.
 */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * Extracts the import/export names (and, for the `'quality'` build, the inlined wasm bytes) from
 * one of `@jitsi/rnnoise-wasm`'s emscripten glue files. Pure string work: runs on any thread,
 * allocates. For `'fast'`, pass the separately fetched `rnnoise.wasm` bytes as `wasm`.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the glue does not have the expected shape.
 * @throws {TypeError} when `model` is `'fast'` and `wasm` is missing.
 */
export function parseRnnoiseGlue(
  model: DenoiserModel,
  glueJs: string,
  wasm?: BufferSource | WebAssembly.Module,
): RnnoiseWasmSource {
  const kernel = `rnnoise-${model}`;
  const exportOf = (fn: string): string => {
    // Both shapes occur: `Module["_malloc"] = asm["e"]` (sync build) and
    // `Module["_malloc"] = Module["asm"]["g"]` (async build's lazy wrappers).
    const re = new RegExp(`Module\\["${fn}"\\] = (?:asm|Module\\["asm"\\])\\["(\\w+)"\\]`);
    const m = re.exec(glueJs);
    if (!m?.[1]) throw DspError.wasmLoad(kernel, new Error(`export ${fn} not found in glue`));
    return m[1];
  };
  const importOf = (fn: string): string => {
    const m = new RegExp(`"(\\w+)": _emscripten_${fn}\\b`).exec(glueJs);
    if (!m?.[1]) throw DspError.wasmLoad(kernel, new Error(`import ${fn} not found in glue`));
    return m[1];
  };
  const memory = /wasmMemory = Module\["asm"\]\["(\w+)"\]/.exec(glueJs)?.[1];
  const importModule = /var info = \{\s*"(\w+)": asmLibraryArg/.exec(glueJs)?.[1];
  if (memory === undefined || importModule === undefined) {
    throw DspError.wasmLoad(kernel, new Error('memory export or import module not found in glue'));
  }
  const names: RnnoiseExportNames = {
    importModule,
    memcpyBig: importOf('memcpy_big'),
    resizeHeap: importOf('resize_heap'),
    memory,
    callCtors: exportOf('___wasm_call_ctors'),
    malloc: exportOf('_malloc'),
    free: exportOf('_free'),
    create: exportOf('_rnnoise_create'),
    destroy: exportOf('_rnnoise_destroy'),
    processFrame: exportOf('_rnnoise_process_frame'),
  };
  if (wasm === undefined) {
    if (model === 'fast') throw new TypeError("wasm (rnnoise.wasm bytes) is required for 'fast'");
    const m = /"data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(glueJs);
    if (!m?.[1]) throw DspError.wasmLoad(kernel, new Error('inlined wasm not found in glue'));
    wasm = decodeBase64(m[1]);
  }
  return { model, wasm, names, simd: false };
}

/** Options of {@link readRnnoiseSource}. */
export interface ReadRnnoiseOptions {
  /**
   * For `'fast'`: load the WASM SIMD build (default: whenever {@link wasmSimdSupported}); `false`
   * loads `@jitsi/rnnoise-wasm`'s build without SIMD (the earlier default, kept for engines
   * without SIMD and as the benchmark baseline). Ignored for `'quality'`, which has no SIMD build.
   */
  simd?: boolean;
}

/**
 * Reads one RNNoise build from the installed packages (`@shiguredo/rnnoise-wasm` for the SIMD
 * build, `@jitsi/rnnoise-wasm` otherwise). Node only (tests, benchmarks, bots, the CLI); async.
 * Browsers fetch the same files and call {@link simdRnnoiseSource} or {@link parseRnnoiseGlue}.
 * @throws {RangeError} when `model` is not `'fast'` or `'quality'`.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the package files are missing or malformed.
 */
export async function readRnnoiseSource(
  model: DenoiserModel,
  options: ReadRnnoiseOptions = {},
): Promise<RnnoiseWasmSource> {
  if (model !== 'fast' && model !== 'quality') {
    throw new RangeError(`model must be 'fast' or 'quality', got ${String(model)}`);
  }
  const simd = model === 'fast' && (options.simd ?? wasmSimdSupported());
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  let glue: string;
  let wasm: Uint8Array | undefined;
  try {
    if (simd) {
      const bytes = await readFile(
        require.resolve('@shiguredo/rnnoise-wasm/dist/rnnoise_simd.wasm'),
      );
      return simdRnnoiseSource(new Uint8Array(bytes));
    }
    // The jitsi package's files are ESM without `"type": "module"`, so they cannot be imported by
    // Node as they are; the wrapper only needs their text (names, inlined wasm) and the wasm bytes.
    if (model === 'fast') {
      glue = await readFile(require.resolve('@jitsi/rnnoise-wasm/dist/rnnoise.js'), 'utf8');
      wasm = new Uint8Array(
        await readFile(require.resolve('@jitsi/rnnoise-wasm/dist/rnnoise.wasm')),
      );
    } else {
      glue = await readFile(require.resolve('@jitsi/rnnoise-wasm/dist/rnnoise-sync.js'), 'utf8');
    }
  } catch (cause) {
    throw DspError.wasmLoad(`rnnoise-${model}`, cause);
  }
  return parseRnnoiseGlue(model, glue, wasm);
}

type ExportFn = (...args: number[]) => number;

/**
 * One instantiated RNNoise build: the wasm instance and its heap views. Shared by every
 * {@link Denoiser} created from the same compiled module on a thread (an instance reserves a
 * 16 MB heap, so one per denoiser would waste memory). Internal: not exported from the package.
 */
export class RnnoiseWasm {
  private static readonly byModule = new WeakMap<WebAssembly.Module, RnnoiseWasm>();
  private static readonly bySource = new WeakMap<RnnoiseWasmSource, RnnoiseWasm>();

  readonly model: DenoiserModel;
  /** Whether this build uses WASM SIMD. */
  readonly simd: boolean;
  readonly malloc: ExportFn;
  readonly free: ExportFn;
  readonly create: ExportFn;
  readonly destroy: ExportFn;
  readonly processFrame: ExportFn;
  private readonly memory: WebAssembly.Memory;
  private buffer: ArrayBuffer;
  private u8: Uint8Array;
  /** Float view of the heap; refreshed after memory growth (see {@link heapF32}). */
  private f32: Float32Array;

  private constructor(model: DenoiserModel, module: WebAssembly.Module, source: RnnoiseWasmSource) {
    const names = source.names;
    this.model = model;
    this.simd = source.simd === true;
    const imports: WebAssembly.Imports = {
      [names.importModule]: {
        // emscripten routes memcpy of ≥ 512 bytes here (RNNoise copies its 480-float history
        // every frame): copyWithin on the cached view allocates nothing.
        [names.memcpyBig]: (dest: number, src: number, num: number): void => {
          this.heapU8().copyWithin(dest, src, src + num);
        },
        [names.resizeHeap]: (requestedBytes: number): number => {
          const bytes = requestedBytes >>> 0;
          const have = this.memory.buffer.byteLength;
          if (bytes <= have) return 1;
          try {
            this.memory.grow(Math.ceil((bytes - have) / 65_536));
            return 1;
          } catch {
            // emscripten's contract: return 0 and malloc reports the failure (NULL).
            return 0;
          }
        },
        ...(names.assertFail === undefined
          ? {}
          : {
              [names.assertFail]: (): never => {
                throw new Error('rnnoise: assertion failed');
              },
            }),
      },
    };
    const instance = new WebAssembly.Instance(module, imports);
    const ex = instance.exports;
    const fn = (name: string): ExportFn => {
      const f = ex[name];
      if (typeof f !== 'function') throw new Error(`export ${name} is not a function`);
      return f as ExportFn;
    };
    const memory = ex[names.memory];
    if (!(memory instanceof WebAssembly.Memory))
      throw new Error(`export ${names.memory} is not memory`);
    this.memory = memory;
    this.buffer = memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.f32 = new Float32Array(this.buffer);
    this.malloc = fn(names.malloc);
    this.free = fn(names.free);
    this.create = fn(names.create);
    this.destroy = fn(names.destroy);
    this.processFrame = fn(names.processFrame);
    if (names.stackInit !== undefined) fn(names.stackInit)();
    fn(names.callCtors)();
  }

  /**
   * Returns the runtime for `source`, instantiating it synchronously on first use. One instance
   * per thread is shared by every call with the same `source` object or the same compiled
   * `WebAssembly.Module`. Safe in an AudioWorklet (no promises).
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when compilation or instantiation fails.
   */
  static fromSource(source: RnnoiseWasmSource): RnnoiseWasm {
    const kernel = `rnnoise-${source.model}`;
    const known = RnnoiseWasm.bySource.get(source);
    if (known !== undefined) return known;
    try {
      const module =
        source.wasm instanceof WebAssembly.Module
          ? source.wasm
          : new WebAssembly.Module(source.wasm);
      let runtime = RnnoiseWasm.byModule.get(module);
      if (runtime === undefined) {
        runtime = new RnnoiseWasm(source.model, module, source);
        RnnoiseWasm.byModule.set(module, runtime);
      }
      RnnoiseWasm.bySource.set(source, runtime);
      return runtime;
    } catch (cause) {
      throw DspError.wasmLoad(kernel, cause);
    }
  }

  /** Bytes of the wasm heap (grows, never shrinks). Diagnostics and leak tests. */
  get heapBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Byte view of the heap, current even after memory growth. Allocates only after growth. */
  heapU8(): Uint8Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.u8;
  }

  /** Float32 view of the heap, current even after memory growth. Allocates only after growth. */
  heapF32(): Float32Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.f32;
  }

  private refresh(): void {
    this.buffer = this.memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.f32 = new Float32Array(this.buffer);
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 decoder of our own: `atob` does not exist in AudioWorkletGlobalScope. */
function decodeBase64(text: string): Uint8Array {
  const lut = new Uint8Array(128);
  for (let i = 0; i < BASE64.length; i++) lut[BASE64.charCodeAt(i)] = i;
  let len = text.length;
  while (len > 0 && text.charCodeAt(len - 1) === 61 /* '=' */) len--;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  for (let i = 0; i < len; i += 4) {
    const a = lut[text.charCodeAt(i)] ?? 0;
    const b = lut[text.charCodeAt(i + 1)] ?? 0;
    const c = i + 2 < len ? (lut[text.charCodeAt(i + 2)] ?? 0) : 0;
    const d = i + 3 < len ? (lut[text.charCodeAt(i + 3)] ?? 0) : 0;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    if (o < out.length) out[o++] = (n >> 16) & 0xff;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}
