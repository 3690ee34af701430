import { SAMPLE_RATE_HZ } from '../constants.js';
import { DspError } from '../DspError.js';
import { OpusWasm, type OpusWasmFlavor, type OpusWasmSource } from './OpusWasm.js';
import {
  DEFAULT_OPUS_ENCODER_SETTINGS,
  validateOpusEncoderSettings,
  type OpusEncoderApi,
  type OpusEncoderSettings,
  type OpusPacketSink,
} from './opusTypes.js';

// Request codes from libopus's include/opus_defines.h.
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_VBR = 4006;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_SET_DTX = 4016;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SIGNAL_VOICE = 3001;
const OPUS_GET_LOOKAHEAD = 4027;
const OPUS_GET_IN_DTX = 4049;

/**
 * Largest packet one frame may produce: 1,275 bytes is the largest single-frame Opus payload
 * (RFC 6716 §3.2.1), plus the 1-byte TOC.
 */
export const OPUS_MAX_PACKET_BYTES = 1_276;

const MAX_FRAME_SAMPLES = (SAMPLE_RATE_HZ * 20) / 1000;

/** Options of {@link WasmOpusEncoder.create} / {@link WasmOpusEncoder.createSync}. */
export interface WasmOpusEncoderOptions {
  /** Receives each packet (see {@link OpusPacketSink}); optional since `encode` also returns it. */
  onPacket?: OpusPacketSink;
  /** Node only: which build of `@evan/opus` to load (default: SIMD when supported). */
  flavor?: OpusWasmFlavor;
}

/**
 * Opus encoder (libopus from `@evan/opus`'s WASM build, SIMD when available): VOIP application,
 * 48 kHz mono, 10 or 20 ms frames; bitrate, complexity, in-band FEC, expected loss, DTX and VBR
 * changeable between frames.
 *
 * Input and output buffers are preallocated in the libopus heap. Per frame, the float samples are
 * converted straight into the heap's int16 input (the build exports only `opus_encode`, not
 * `opus_encode_float`) and the packet is copied out of the heap once (WASM code cannot write into
 * a JS buffer): {@link WasmOpusEncoder.encodeInto} allocates nothing.
 *
 * Threads: `create` in Node/Worker; `createSync` anywhere, including an AudioWorklet, from the
 * wasm bytes or a compiled module (`readOpusWasm` / `opusWasmFileName`).
 */
export class WasmOpusEncoder implements OpusEncoderApi {
  private readonly rt: OpusWasm;
  private readonly onPacket: OpusPacketSink | undefined;
  private readonly current: OpusEncoderSettings;
  private readonly statePtr: number;
  private readonly pcmPtr: number;
  private readonly packetPtr: number;
  private readonly packet = new Uint8Array(OPUS_MAX_PACKET_BYTES);
  private destroyed = false;

  private constructor(
    rt: OpusWasm,
    settings: Partial<OpusEncoderSettings>,
    onPacket: OpusPacketSink | undefined,
  ) {
    validateOpusEncoderSettings(settings);
    this.rt = rt;
    this.onPacket = onPacket;
    this.current = { ...DEFAULT_OPUS_ENCODER_SETTINGS, ...settings };
    const x = rt.x;
    // One block: encoder state, then int16 PCM, then the packet; freed as one in destroy().
    const stateBytes = align8(x.opus_encoder_get_size(1));
    const block = x.malloc(stateBytes + MAX_FRAME_SAMPLES * 2 + OPUS_MAX_PACKET_BYTES);
    if (block === 0) throw DspError.codec('opus: malloc failed');
    this.statePtr = block;
    this.pcmPtr = block + stateBytes;
    this.packetPtr = this.pcmPtr + MAX_FRAME_SAMPLES * 2;
    const err = x.opus_encoder_init(block, SAMPLE_RATE_HZ, 1, OPUS_APPLICATION_VOIP);
    if (err < 0) {
      x.free(block);
      throw DspError.codec(`opus_encoder_init: ${rt.errorText(err)}`);
    }
    try {
      this.ctl(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE);
      this.apply(this.current);
    } catch (e) {
      x.free(block);
      throw e;
    }
  }

  /**
   * Loads libopus from the installed `@evan/opus` (compiled once per process) and creates an
   * encoder. Node/Worker; async.
   * @throws {TypeError|RangeError} on invalid settings.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` or `CONCORD_ERR_DSP_CODEC`.
   */
  static async create(
    settings: Partial<OpusEncoderSettings> = {},
    opts: WasmOpusEncoderOptions = {},
  ): Promise<WasmOpusEncoder> {
    validateOpusEncoderSettings(settings);
    return WasmOpusEncoder.createSync(await OpusWasm.loadModule(opts.flavor), settings, opts);
  }

  /**
   * Creates an encoder synchronously from libopus wasm bytes or a compiled module (one instance
   * per thread per bytes object or module, shared by its encoders and decoders). Any thread,
   * including an AudioWorklet.
   * @throws {TypeError|RangeError} on invalid settings.
   * @throws {DspError} `CONCORD_ERR_DSP_WASM_LOAD` or `CONCORD_ERR_DSP_CODEC`.
   */
  static createSync(
    source: OpusWasmSource,
    settings: Partial<OpusEncoderSettings> = {},
    opts: WasmOpusEncoderOptions = {},
  ): WasmOpusEncoder {
    validateOpusEncoderSettings(settings);
    return new WasmOpusEncoder(OpusWasm.fromSource(source), settings, opts.onPacket);
  }

  /** Current settings (a live read-only view). */
  get settings(): Readonly<OpusEncoderSettings> {
    return this.current;
  }

  /** Samples per frame at 48 kHz: 480 (10 ms) or 960 (20 ms). */
  get frameSamples(): number {
    return (SAMPLE_RATE_HZ * this.current.frameMs) / 1000;
  }

  /**
   * Encoder lookahead in samples at 48 kHz (OPUS_GET_LOOKAHEAD): how far decoded audio lags the
   * input (312 samples = 6.5 ms for VOIP at 48 kHz).
   * @throws {DspError} destroyed.
   */
  get lookaheadSamples(): number {
    this.check();
    return this.rt.x.opus_encoder_ctl_get(this.statePtr, OPUS_GET_LOOKAHEAD);
  }

  /**
   * Whether the encoder is currently in DTX (sending 1–2 byte packets).
   * @throws {DspError} destroyed.
   */
  get inDtx(): boolean {
    this.check();
    return this.rt.x.opus_encoder_ctl_get(this.statePtr, OPUS_GET_IN_DTX) !== 0;
  }

  /**
   * Changes settings from the next frame on. All values are validated before any is applied.
   * Any thread; allocates nothing when `changes` is reused.
   * @throws {TypeError|RangeError} on an invalid value.
   * @throws {DspError} destroyed, or codec when libopus rejects a CTL.
   */
  configure(changes: Partial<OpusEncoderSettings>): void {
    this.check();
    validateOpusEncoderSettings(changes);
    this.apply(changes);
  }

  /**
   * Encodes one frame of {@link WasmOpusEncoder.frameSamples} samples in [-1, 1] (clamped) and
   * returns the packet, a view into a buffer reused by the next call; the sink (if any) receives
   * the same view. Allocates only that view; use `encodeInto` for none. Audio-thread safe.
   * @throws {RangeError} when `pcm.length` is not `frameSamples`.
   * @throws {DspError} destroyed, or codec when libopus fails.
   */
  encode(pcm: Float32Array): Uint8Array {
    const n = this.encodeInto(pcm, this.packet);
    const view = this.packet.subarray(0, n);
    this.onPacket?.(view);
    return view;
  }

  /**
   * Encodes one frame into `packet` (at least {@link OPUS_MAX_PACKET_BYTES} long for any bitrate;
   * bitrate/50 + a few bytes suffices) and returns the packet length in bytes. A length of 1–2
   * means a DTX frame that need not be sent. Does not call the sink. Allocates nothing;
   * audio-thread safe.
   * @throws {RangeError} when `pcm.length` is not `frameSamples`.
   * @throws {DspError} destroyed, or codec when libopus fails (e.g. `packet` too small).
   */
  encodeInto(pcm: Float32Array, packet: Uint8Array): number {
    this.check();
    const samples = this.frameSamples;
    if (pcm.length !== samples) {
      throw new RangeError(
        `pcm must hold ${samples} samples (${this.current.frameMs} ms), got ${pcm.length}`,
      );
    }
    const heap = this.rt.heapI16();
    const at = this.pcmPtr >> 1;
    for (let i = 0; i < samples; i++) {
      const v = Math.round(pcm[i]! * 32_768);
      heap[at + i] = v > 32_767 ? 32_767 : v < -32_768 ? -32_768 : v;
    }
    const max = Math.min(packet.length, OPUS_MAX_PACKET_BYTES);
    const n = this.rt.x.opus_encode(this.statePtr, this.pcmPtr, samples, this.packetPtr, max);
    if (n < 0) throw DspError.codec(`opus_encode: ${this.rt.errorText(n)}`);
    const u8 = this.rt.heapU8();
    for (let i = 0; i < n; i++) packet[i] = u8[this.packetPtr + i]!;
    return n;
  }

  /** Bytes of the libopus heap shared on this thread. Diagnostics and leak tests; any thread. */
  get heapBytes(): number {
    return this.rt.heapBytes;
  }

  /** Frees the encoder and its buffers. Idempotent; any thread. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.rt.x.free(this.statePtr);
  }

  private apply(s: Partial<OpusEncoderSettings>): void {
    if (s.bitrateBps !== undefined) this.ctl(OPUS_SET_BITRATE, s.bitrateBps);
    if (s.complexity !== undefined) this.ctl(OPUS_SET_COMPLEXITY, s.complexity);
    if (s.fec !== undefined) this.ctl(OPUS_SET_INBAND_FEC, s.fec ? 1 : 0);
    if (s.packetLossPercent !== undefined) this.ctl(OPUS_SET_PACKET_LOSS_PERC, s.packetLossPercent);
    if (s.dtx !== undefined) this.ctl(OPUS_SET_DTX, s.dtx ? 1 : 0);
    if (s.vbr !== undefined) this.ctl(OPUS_SET_VBR, s.vbr ? 1 : 0);
    // frameMs needs no CTL: libopus takes the frame size from each opus_encode call.
    Object.assign(this.current, s);
  }

  private ctl(request: number, value: number): void {
    const err = this.rt.x.opus_encoder_ctl_set(this.statePtr, request, value);
    if (err < 0)
      throw DspError.codec(`opus_encoder_ctl(${request}, ${value}): ${this.rt.errorText(err)}`);
  }

  private check(): void {
    if (this.destroyed) throw DspError.destroyed('WasmOpusEncoder');
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
