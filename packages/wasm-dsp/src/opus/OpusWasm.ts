// Why `@evan/opus`'s wasm and not `opusscript` (both libopus in emscripten WASM, about equally
// fast here: bench/dsp/codecs.bench.ts): its wasm exports libopus's own C API, so the decoder can
// call `opus_decode(…, decode_fec = 1)` for FEC and `opus_decode(NULL, …, frame_size)` for PLC of
// exactly one lost frame. opusscript's handler hard-codes `decode_fec = 0` and its maximum
// `frame_size`: no FEC, and an empty packet conceals 60 ms (2,880 samples, measured) instead of
// one 20 ms frame. `@evan/opus`'s wasm is also a WASI reactor with five trivial imports that we
// instantiate ourselves, synchronously, from bytes, which works in an AudioWorklet; opusscript's
// glue compiles synchronously too but loads its .wasm by itself (Node fs, or sync XHR in workers)
// and its index.js offers no way to hand it `wasmBinary`, so it cannot load inside a worklet
// without patching. We do not use `@evan/opus`'s JS wrapper (it copies every packet out with
// `slice()` and only decodes with `decode_fec = 0`), only its two .wasm files.
import { DspError } from '../DspError.js';

/** Which of `@evan/opus`'s two libopus builds to run. */
export type OpusWasmFlavor = 'simd' | 'scalar';

/** A minimal module whose one function runs `i8x16.splat`: valid only where WASM SIMD is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26,
  11,
]);

/**
 * Whether this engine runs WASM SIMD, i.e. whether to fetch `simd.wasm` or `opus.wasm`. Any
 * thread; allocates nothing after the first call.
 */
export function opusWasmSimdSupported(): boolean {
  simdSupported ??= WebAssembly.validate(SIMD_PROBE);
  return simdSupported;
}
let simdSupported: boolean | undefined;

/**
 * File name of the libopus build for `flavor` inside the `@evan/opus` package's `wasm/` folder
 * (`simd.wasm` or `opus.wasm`); browsers fetch it and pass the bytes to `createSync`. Any thread.
 */
export function opusWasmFileName(flavor: OpusWasmFlavor = defaultFlavor()): string {
  return flavor === 'simd' ? 'simd.wasm' : 'opus.wasm';
}

function defaultFlavor(): OpusWasmFlavor {
  return opusWasmSimdSupported() ? 'simd' : 'scalar';
}

/**
 * Reads the libopus wasm bytes from the installed `@evan/opus` package (SIMD build when the engine
 * supports it). Node only; async.
 * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when the file is missing.
 */
export async function readOpusWasm(
  flavor: OpusWasmFlavor = defaultFlavor(),
): Promise<Uint8Array<ArrayBuffer>> {
  if (flavor !== 'simd' && flavor !== 'scalar') {
    throw new RangeError(`flavor must be 'simd' or 'scalar', got ${String(flavor)}`);
  }
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  try {
    const path = createRequire(import.meta.url).resolve(
      `@evan/opus/wasm/${opusWasmFileName(flavor)}`,
    );
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw DspError.wasmLoad(`opus-${flavor}`, cause);
  }
}

/** Bytes or a compiled module of a libopus build from {@link readOpusWasm}. */
export type OpusWasmSource = BufferSource | WebAssembly.Module;

type Fn = (...args: number[]) => number;

/**
 * libopus exports of `@evan/opus`'s wasm: the plain C API (RFC 6716's reference implementation),
 * with the variadic `opus_*_ctl` split into `_ctl_set(st, request, value)` / `_ctl_get(st,
 * request)`.
 */
interface OpusExports {
  memory: WebAssembly.Memory;
  _initialize: Fn;
  malloc: Fn;
  free: Fn;
  opus_strerror: Fn;
  opus_encoder_get_size: Fn;
  opus_encoder_init: Fn;
  opus_encode: Fn;
  opus_encoder_ctl_set: Fn;
  opus_encoder_ctl_get: Fn;
  opus_decoder_get_size: Fn;
  opus_decoder_init: Fn;
  opus_decode: Fn;
  opus_decoder_ctl_set: Fn;
  opus_decoder_ctl_get: Fn;
}

const REQUIRED: readonly (keyof OpusExports)[] = [
  'memory',
  '_initialize',
  'malloc',
  'free',
  'opus_strerror',
  'opus_encoder_get_size',
  'opus_encoder_init',
  'opus_encode',
  'opus_encoder_ctl_set',
  'opus_encoder_ctl_get',
  'opus_decoder_get_size',
  'opus_decoder_init',
  'opus_decode',
  'opus_decoder_ctl_set',
  'opus_decoder_ctl_get',
];

/**
 * One instantiated libopus module and its heap views, shared by every encoder and decoder created
 * from the same compiled module or bytes object on a thread. Internal: not exported from the
 * package.
 */
export class OpusWasm {
  private static readonly byModule = new WeakMap<WebAssembly.Module, OpusWasm>();
  private static readonly byBytes = new WeakMap<object, OpusWasm>();
  private static readonly compiled = new Map<OpusWasmFlavor, Promise<WebAssembly.Module>>();

  readonly x: OpusExports;
  private buffer: ArrayBuffer;
  private u8: Uint8Array;
  private i16: Int16Array;

  private constructor(module: WebAssembly.Module) {
    const instance = new WebAssembly.Instance(module, {
      // libopus never does I/O; these only satisfy the WASI reactor's imports.
      wasi_snapshot_preview1: {
        fd_seek: (): number => 0,
        fd_write: (): number => 0,
        fd_close: (): number => 0,
        proc_exit: (code: number): never => {
          throw DspError.codec(`libopus called proc_exit(${code})`);
        },
      },
      env: { emscripten_notify_memory_growth: (): void => this.refresh() },
    });
    const ex = instance.exports as Record<string, unknown>;
    for (const name of REQUIRED) {
      if (ex[name] === undefined) throw new Error(`libopus wasm lacks export ${name}`);
    }
    this.x = ex as unknown as OpusExports;
    this.buffer = this.x.memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    // WASI reactor: runs the C constructors once before any other call.
    this.x._initialize();
  }

  /**
   * Returns this thread's runtime for `source`, instantiating synchronously on first use. One
   * instance per thread is shared by every call with the same compiled module or the same bytes
   * object. Safe in an AudioWorklet.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` when compilation or instantiation fails.
   */
  static fromSource(source: OpusWasmSource): OpusWasm {
    const known = OpusWasm.byBytes.get(source);
    if (known !== undefined) return known;
    try {
      const module = source instanceof WebAssembly.Module ? source : new WebAssembly.Module(source);
      let rt = OpusWasm.byModule.get(module);
      if (rt === undefined) {
        rt = new OpusWasm(module);
        OpusWasm.byModule.set(module, rt);
      }
      if (!(source instanceof WebAssembly.Module)) OpusWasm.byBytes.set(source, rt);
      return rt;
    } catch (cause) {
      throw DspError.wasmLoad('opus', cause);
    }
  }

  /**
   * Node: the compiled module of the installed package's build, compiled once per process.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD`.
   */
  static async loadModule(flavor: OpusWasmFlavor = defaultFlavor()): Promise<WebAssembly.Module> {
    let pending = OpusWasm.compiled.get(flavor);
    if (pending === undefined) {
      pending = readOpusWasm(flavor).then((bytes) => {
        try {
          return new WebAssembly.Module(bytes);
        } catch (cause) {
          throw DspError.wasmLoad(`opus-${flavor}`, cause);
        }
      });
      OpusWasm.compiled.set(flavor, pending);
      pending.catch(() => OpusWasm.compiled.delete(flavor));
    }
    return pending;
  }

  /** Bytes of the wasm heap (grows, never shrinks). Diagnostics and leak tests. */
  get heapBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  /** Byte view of the heap, current after growth (allocates only after growth). */
  heapU8(): Uint8Array {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.u8;
  }

  /** Int16 view of the heap, current after growth (allocates only after growth). */
  heapI16(): Int16Array {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.i16;
  }

  /** libopus's message for a negative error code. Allocates (error path only). */
  errorText(code: number): string {
    const u8 = this.heapU8();
    let s = '';
    for (let p = this.x.opus_strerror(code); p < u8.length && u8[p] !== 0; p++) {
      s += String.fromCharCode(u8[p]!);
    }
    return s;
  }

  private refresh(): void {
    this.buffer = this.x.memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
  }
}
