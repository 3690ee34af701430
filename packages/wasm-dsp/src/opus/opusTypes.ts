// The codec-neutral surface of Concord's Opus encoder and decoder, so a WebCodecs
// `AudioEncoder` (browsers) can sit behind the same interface as the WASM libopus one.

/** Opus frame durations Concord sends, in ms (RFC 6716 §2.1.4 allows 2.5–60 ms). */
export type OpusFrameMs = 10 | 20;

/**
 * Encoder settings, all changeable while running. They map one to one onto libopus CTLs and onto
 * WebCodecs' `AudioEncoderConfig` (`bitrate`, `opus.complexity`, `opus.useinbandfec`,
 * `opus.packetlossperc`, `opus.usedtx`, `opus.frameDuration`, `bitrateMode`).
 */
export interface OpusEncoderSettings {
  /** Frame duration in ms: 10 or 20. Default 20. */
  frameMs: OpusFrameMs;
  /** Target bitrate in bit/s, 6,000–510,000 (RFC 6716 §2.1.1). Default 32,000. */
  bitrateBps: number;
  /**
   * Encoder complexity 0–10 (OPUS_SET_COMPLEXITY). Default 5: on speech with FEC on, libopus in
   * WASM costs ≈ 250 µs per 20 ms frame at 5 and ≈ 2.2× that at libopus's own default of 9
   * (`bench/dsp/codecs.bench.ts`), against a 260 µs budget. 5 is also WebRTC's mobile setting.
   * Raise it at run time on machines with CPU to spare.
   */
  complexity: number;
  /** In-band FEC (SILK LBRR, RFC 6716 §4.2.4): the next packet carries a redundant copy of this
   * one at lower quality. Effective only with `packetLossPercent` > 0. Default true. */
  fec: boolean;
  /** Expected packet loss in percent, 0–100 (OPUS_SET_PACKET_LOSS_PERC): how much bitrate FEC
   * may take. Update it from transport statistics. Default 5. */
  packetLossPercent: number;
  /** Discontinuous transmission: on silence, packets of 1–2 bytes that need not be sent
   * (libopus `opus_encode` docs). Default false. */
  dtx: boolean;
  /** Variable bitrate (OPUS_SET_VBR). Default true. */
  vbr: boolean;
}

/** Defaults of {@link OpusEncoderSettings} (VOIP application, 48 kHz mono). */
export const DEFAULT_OPUS_ENCODER_SETTINGS: Readonly<OpusEncoderSettings> = Object.freeze({
  frameMs: 20,
  bitrateBps: 32_000,
  complexity: 5,
  fec: true,
  packetLossPercent: 5,
  dtx: false,
  vbr: true,
});

/**
 * Receives each encoded packet. For the WASM encoder it is called synchronously inside
 * `encode()` with a view that is valid only until the next `encode()` (copy it to keep it); a
 * WebCodecs encoder calls it later, from its output callback.
 */
export type OpusPacketSink = (packet: Uint8Array) => void;

/**
 * An Opus encoder of 48 kHz mono float frames. Implemented by `WasmOpusEncoder` (libopus in
 * WASM, any thread); a WebCodecs `AudioEncoder` implementation may stand behind it in browsers.
 */
export interface OpusEncoderApi {
  /** Current settings. */
  readonly settings: Readonly<OpusEncoderSettings>;
  /** Samples per frame at 48 kHz for the current `frameMs` (480 or 960). */
  readonly frameSamples: number;
  /**
   * Changes settings; they apply from the next encoded frame.
   * @throws {TypeError|RangeError} on an invalid value (nothing is changed then).
   */
  configure(changes: Partial<OpusEncoderSettings>): void;
  /**
   * Encodes one frame of `frameSamples` samples in [-1, 1]; the packet goes to the sink given at
   * creation.
   */
  encode(pcm: Float32Array): void;
  /** Frees the encoder. Idempotent; afterwards methods throw `DspError` destroyed. */
  destroy(): void;
}

/**
 * An Opus decoder to 48 kHz mono float. Only the WASM implementation exists: WebCodecs'
 * `AudioDecoder` offers neither FEC decoding of a lost frame nor explicit PLC.
 */
export interface OpusDecoderApi {
  /** Decodes `packet` into `out`; returns the samples written (the packet's duration). */
  decode(packet: Uint8Array, out: Float32Array): number;
  /**
   * Rebuilds a lost frame of `out.length` samples from the FEC data in the packet that followed it
   * (falls back to PLC when that packet carries none). Decode `nextPacket` normally afterwards.
   */
  decodeFec(nextPacket: Uint8Array, out: Float32Array): number;
  /** Packet-loss concealment: fills `out.length` samples of a lost frame. */
  conceal(out: Float32Array): number;
  /** Frees the decoder. Idempotent; afterwards methods throw `DspError` destroyed. */
  destroy(): void;
}

/**
 * Checks a partial settings object; returns nothing, throws on the first bad value.
 * @throws {TypeError} when a boolean setting is not a boolean.
 * @throws {RangeError} when a numeric setting is out of range or not an integer.
 */
export function validateOpusEncoderSettings(s: Partial<OpusEncoderSettings>): void {
  const int = (name: string, v: number | undefined, lo: number, hi: number): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new RangeError(`${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
  };
  const bool = (name: string, v: boolean | undefined): void => {
    if (v !== undefined && typeof v !== 'boolean') {
      throw new TypeError(`${name} must be a boolean, got ${typeof v}`);
    }
  };
  if (s.frameMs !== undefined && s.frameMs !== 10 && s.frameMs !== 20) {
    throw new RangeError(`frameMs must be 10 or 20, got ${String(s.frameMs)}`);
  }
  int('bitrateBps', s.bitrateBps, 6_000, 510_000);
  int('complexity', s.complexity, 0, 10);
  int('packetLossPercent', s.packetLossPercent, 0, 100);
  bool('fec', s.fec);
  bool('dtx', s.dtx);
  bool('vbr', s.vbr);
}
