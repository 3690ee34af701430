import { SAMPLE_RATE_HZ } from '../constants.js';
import { DspError } from '../DspError.js';
import { OpusWasm, type OpusWasmFlavor, type OpusWasmSource } from './OpusWasm.js';
import type { OpusDecoderApi } from './opusTypes.js';

// Request codes from libopus's include/opus_defines.h.
const OPUS_RESET_STATE = 4028;
const OPUS_GET_LAST_PACKET_DURATION = 4039;

/** Longest Opus packet duration: 120 ms at 48 kHz (RFC 6716 §3.2.5). */
const MAX_DECODE_SAMPLES = (SAMPLE_RATE_HZ * 120) / 1000;
/** FEC and PLC work in multiples of 2.5 ms (libopus `opus_decode` docs). */
const PLC_STEP_SAMPLES = SAMPLE_RATE_HZ / 400;

/**
 * Largest packet {@link WasmOpusDecoder} accepts, in bytes: a code-3 packet of up to 48 frames
 * (RFC 6716 §3.2.5) stays below this in practice (libopus's own tools use 1,500–4,000).
 */
export const OPUS_MAX_DECODE_PACKET_BYTES = 4_000;

/** Options of {@link WasmOpusDecoder.create}. */
export interface WasmOpusDecoderOptions {
  /** Node only: which build of `@evan/opus` to load (default: SIMD when supported). */
  flavor?: OpusWasmFlavor;
}

/**
 * Opus decoder (libopus from `@evan/opus`'s WASM build) to 48 kHz mono float: normal decoding,
 * FEC decoding of a lost frame from the packet after it, and packet-loss concealment.
 *
 * The packet is copied into a preallocated heap buffer (WASM code reads only its own memory) and
 * the int16 output is converted straight from the heap into the caller's `out`: no allocation per
 * frame. Threads: `create` in Node/Worker; `createSync` anywhere, including an AudioWorklet.
 */
export class WasmOpusDecoder implements OpusDecoderApi {
  private readonly rt: OpusWasm;
  private readonly statePtr: number;
  private readonly packetPtr: number;
  private readonly pcmPtr: number;
  private destroyed = false;

  private constructor(rt: OpusWasm) {
    this.rt = rt;
    const x = rt.x;
    const stateBytes = (x.opus_decoder_get_size(1) + 7) & ~7;
    const block = x.malloc(stateBytes + MAX_DECODE_SAMPLES * 2 + OPUS_MAX_DECODE_PACKET_BYTES);
    if (block === 0) throw DspError.codec('opus: malloc failed');
    this.statePtr = block;
    this.pcmPtr = block + stateBytes;
    this.packetPtr = this.pcmPtr + MAX_DECODE_SAMPLES * 2;
    const err = x.opus_decoder_init(block, SAMPLE_RATE_HZ, 1);
    if (err < 0) {
      x.free(block);
      throw DspError.codec(`opus_decoder_init: ${rt.errorText(err)}`);
    }
  }

  /**
   * Loads libopus from the installed `@evan/opus` (compiled once per process) and creates a
   * decoder. Node/Worker; async.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` or `CONCORD_ERR_DSP_CODEC`.
   */
  static async create(opts: WasmOpusDecoderOptions = {}): Promise<WasmOpusDecoder> {
    return WasmOpusDecoder.createSync(await OpusWasm.loadModule(opts.flavor));
  }

  /**
   * Creates a decoder synchronously from libopus wasm bytes or a compiled module. Any thread,
   * including an AudioWorklet.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` or `CONCORD_ERR_DSP_CODEC`.
   */
  static createSync(source: OpusWasmSource): WasmOpusDecoder {
    return new WasmOpusDecoder(OpusWasm.fromSource(source));
  }

  /**
   * Decodes `packet` into `out` (48 kHz mono, [-1, 1]); returns the samples written, i.e. the
   * packet's duration. `out` must be long enough for it (960 for a 20 ms packet). Allocates
   * nothing; audio-thread safe.
   * @throws {RangeError} when `packet` is empty or larger than {@link OPUS_MAX_DECODE_PACKET_BYTES}
   *   or `out` is empty or longer than 5,760 samples (120 ms).
   * @throws {DspError} destroyed, or codec for a corrupt packet or too small `out`.
   */
  decode(packet: Uint8Array, out: Float32Array): number {
    this.check();
    checkOut(out, false);
    if (packet.length < 1 || packet.length > OPUS_MAX_DECODE_PACKET_BYTES) {
      throw new RangeError(
        `packet must hold 1 to ${OPUS_MAX_DECODE_PACKET_BYTES} bytes, got ${packet.length}`,
      );
    }
    return this.run(packet, out, 0);
  }

  /**
   * Rebuilds a lost frame of `out.length` samples (its duration, a multiple of 120 = 2.5 ms) from
   * the in-band FEC data of `nextPacket`, the packet that followed it (`decode_fec = 1`,
   * RFC 6716 §4.2.4 LBRR). Without FEC data in it, libopus conceals instead. Decode
   * `nextPacket` normally afterwards. Allocates nothing; audio-thread safe.
   * @throws {RangeError} on bad lengths.
   * @throws {DspError} destroyed, or codec for a corrupt packet.
   */
  decodeFec(nextPacket: Uint8Array, out: Float32Array): number {
    this.check();
    checkOut(out, true);
    if (nextPacket.length < 1 || nextPacket.length > OPUS_MAX_DECODE_PACKET_BYTES) {
      throw new RangeError(
        `nextPacket must hold 1 to ${OPUS_MAX_DECODE_PACKET_BYTES} bytes, got ${nextPacket.length}`,
      );
    }
    return this.run(nextPacket, out, 1);
  }

  /**
   * Packet-loss concealment (libopus PLC, `opus_decode` with no data) for a lost frame of
   * `out.length` samples (a multiple of 120 = 2.5 ms). Allocates nothing; audio-thread safe.
   * @throws {RangeError} on a bad length.
   * @throws {DspError} destroyed.
   */
  conceal(out: Float32Array): number {
    this.check();
    checkOut(out, true);
    return this.run(undefined, out, 0);
  }

  /** Duration of the last decoded packet in samples (OPUS_GET_LAST_PACKET_DURATION). */
  get lastPacketSamples(): number {
    this.check();
    return this.rt.x.opus_decoder_ctl_get(this.statePtr, OPUS_GET_LAST_PACKET_DURATION);
  }

  /** Resets the decoder state (e.g. on a new stream). @throws {DspError} destroyed. */
  reset(): void {
    this.check();
    this.rt.x.opus_decoder_ctl_set(this.statePtr, OPUS_RESET_STATE, 0);
  }

  /** Bytes of the libopus heap shared on this thread. Diagnostics and leak tests; any thread. */
  get heapBytes(): number {
    return this.rt.heapBytes;
  }

  /** Frees the decoder and its buffers. Idempotent; any thread. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.rt.x.free(this.statePtr);
  }

  private run(packet: Uint8Array | undefined, out: Float32Array, fec: 0 | 1): number {
    let len = 0;
    if (packet !== undefined) {
      const u8 = this.rt.heapU8();
      len = packet.length;
      for (let i = 0; i < len; i++) u8[this.packetPtr + i] = packet[i]!;
    }
    const n = this.rt.x.opus_decode(
      this.statePtr,
      packet === undefined ? 0 : this.packetPtr,
      len,
      this.pcmPtr,
      out.length,
      fec,
    );
    if (n < 0) throw DspError.codec(`opus_decode: ${this.rt.errorText(n)}`);
    const heap = this.rt.heapI16();
    const at = this.pcmPtr >> 1;
    for (let i = 0; i < n; i++) out[i] = heap[at + i]! / 32_768;
    return n;
  }

  private check(): void {
    if (this.destroyed) throw DspError.destroyed('WasmOpusDecoder');
  }
}

function checkOut(out: Float32Array, lostFrame: boolean): void {
  if (out.length < 1 || out.length > MAX_DECODE_SAMPLES) {
    throw new RangeError(`out must hold 1 to ${MAX_DECODE_SAMPLES} samples, got ${out.length}`);
  }
  if (lostFrame && out.length % PLC_STEP_SAMPLES !== 0) {
    throw new RangeError(
      `out.length must be a multiple of ${PLC_STEP_SAMPLES} samples (2.5 ms), got ${out.length}`,
    );
  }
}
