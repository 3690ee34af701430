// Binary media frames: one Opus packet per WebSocket message, with a fixed 13-byte header.
// Not MessagePack: the gateway relays these per frame and per listener, so the layout is fixed,
// parsed with plain byte reads and forwarded as the very bytes received.
//
//   offset size field
//   0      1    header: bits 7–6 frame type = 1 (media), bits 5–0 reserved = 0  → 0x40
//   1      4    ssrc, u32 big-endian: the sender's stream, assigned by the gateway per room
//                membership (never 0)
//   5      2    seq, u16 big-endian: +1 per frame, wraps (RFC 3550 §5.1)
//   7      4    timestamp, u32 big-endian, 48 kHz clock: +960 per 20 ms frame, wraps
//                (RFC 7587 §4.1: Opus RTP timestamps always run at 48 kHz)
//   11     1    flags: bit 0 speech (sender VAD), bit 1 FEC (in-band LBRR present),
//                bit 2 DTX, bit 3 resumed (set by the relay), bits 4–7 reserved = 0
//   12     1    level: audio level 0–127 = −dBov, 127 = silence (RFC 6464 §3)
//   13     n    Opus packet, 0–1275 bytes (RFC 6716 §3.4 R2: at most 1275 bytes per frame)
//
// The packet's duration (10 ms by default, 20 ms at the lowest bitrates; 2.5–120 ms are legal
// Opus) is carried by the Opus packet itself: its TOC byte and frame count (RFC 6716 §3.1),
// read with `opusPacketSamples`, exactly as RTP carries Opus (RFC 7587). Peers that send 20 ms
// packets, as every version before 10 ms packets did, keep working unchanged: receivers follow
// each packet's own duration, and the timestamp advances by it.
import { FrameType } from './codec.js';
import { ProtocolError } from './ProtocolError.js';

/** Bytes before the payload of a media frame. */
export const MEDIA_HEADER_BYTES = 13;
/** Largest Opus packet (RFC 6716 §3.4, requirement R2). */
export const MAX_OPUS_PAYLOAD_BYTES = 1275;
/** Largest media frame, header included. */
export const MAX_MEDIA_FRAME_BYTES = MEDIA_HEADER_BYTES + MAX_OPUS_PAYLOAD_BYTES;
/** Quietest audio level (−127 dBov: silence), RFC 6464. */
export const MAX_AUDIO_LEVEL = 127;
/** First byte of every media frame (frame type 1, no header flags). */
export const MEDIA_FRAME_HEADER = FrameType.Media << 6;

/** Bits of a media frame's `flags` byte. */
export const MediaFlags = {
  /** The sender's VAD classified the frame as speech. */
  Speech: 0x01,
  /** The Opus packet carries in-band FEC (LBRR) for the previous frame. */
  Fec: 0x02,
  /** Discontinuous transmission: comfort noise / silence frame. */
  Dtx: 0x04,
  /**
   * Set by the relay (never by a sender) on the first frame it forwards after not forwarding
   * this stream for a while (not among the room's loudest speakers): the sequence gap before it
   * is not loss.
   */
  Resumed: 0x08,
} as const;
const RESERVED_FLAGS = 0xf0;

/** Header fields of a media frame. */
export interface MediaFrameFields {
  /** Sender stream id, u32, never 0. */
  ssrc: number;
  /** Sequence number, u16 (wraps). */
  seq: number;
  /** RTP-style timestamp in 48 kHz samples, u32 (wraps). */
  timestamp: number;
  /** {@link MediaFlags} bits. */
  flags: number;
  /** Audio level, 0 (loudest, 0 dBov) to 127 (silence), RFC 6464. */
  level: number;
}

/** A decoded media frame: its header fields and a view of the payload. */
export interface MediaFrame extends MediaFrameFields {
  /** The Opus packet: a subarray of the decoded bytes (not a copy). */
  payload: Uint8Array;
}

/**
 * Encodes a media frame. Any thread.
 * @throws {RangeError} when a field is out of range or the payload exceeds 1275 bytes.
 */
export function encodeMediaFrame(fields: MediaFrameFields, payload: Uint8Array): Uint8Array {
  const { ssrc, seq, timestamp, flags, level } = fields;
  checkInt('ssrc', ssrc, 1, 0xffffffff);
  checkInt('seq', seq, 0, 0xffff);
  checkInt('timestamp', timestamp, 0, 0xffffffff);
  checkInt('flags', flags, 0, 0xff);
  if ((flags & RESERVED_FLAGS) !== 0)
    throw new RangeError(`flags must only use bits 0–3, got 0x${flags.toString(16)}`);
  checkInt('level', level, 0, MAX_AUDIO_LEVEL);
  if (payload.length > MAX_OPUS_PAYLOAD_BYTES)
    throw new RangeError(
      `payload must be at most ${MAX_OPUS_PAYLOAD_BYTES} bytes, got ${payload.length}`,
    );
  const out = new Uint8Array(MEDIA_HEADER_BYTES + payload.length);
  out[0] = MEDIA_FRAME_HEADER;
  out[1] = ssrc >>> 24;
  out[2] = ssrc >>> 16;
  out[3] = ssrc >>> 8;
  out[4] = ssrc;
  out[5] = seq >>> 8;
  out[6] = seq;
  out[7] = timestamp >>> 24;
  out[8] = timestamp >>> 16;
  out[9] = timestamp >>> 8;
  out[10] = timestamp;
  out[11] = flags;
  out[12] = level;
  out.set(payload, MEDIA_HEADER_BYTES);
  return out;
}

/**
 * Decodes a media frame without copying: `payload` is a view into `bytes`. Any thread.
 * @throws {ProtocolError} `INVALID_FRAME` for a wrong header byte, a short or oversized frame,
 * ssrc 0, reserved flag bits or a level above 127 — and nothing else, whatever the bytes.
 */
export function decodeMediaFrame(bytes: Uint8Array): MediaFrame {
  const ssrc = readMediaHeader(bytes);
  return {
    ssrc,
    seq: (bytes[5]! << 8) | bytes[6]!,
    timestamp: readU32(bytes, 7),
    flags: bytes[11]!,
    level: bytes[12]!,
    payload: bytes.subarray(MEDIA_HEADER_BYTES),
  };
}

/**
 * Validates a media frame's header and returns its ssrc, reading nothing else: the relay's
 * per-frame path, which reads flags and level itself and allocates nothing.
 * @throws {ProtocolError} `INVALID_FRAME` exactly when {@link decodeMediaFrame} would.
 */
export function readMediaHeader(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n < MEDIA_HEADER_BYTES)
    throw ProtocolError.invalidFrame(
      `media frame of ${n} bytes is shorter than its ${MEDIA_HEADER_BYTES}-byte header`,
    );
  if (n > MAX_MEDIA_FRAME_BYTES)
    throw ProtocolError.invalidFrame(
      `media payload of ${n - MEDIA_HEADER_BYTES} bytes exceeds ${MAX_OPUS_PAYLOAD_BYTES}`,
    );
  if (bytes[0] !== MEDIA_FRAME_HEADER)
    throw ProtocolError.invalidFrame(
      bytes[0]! >> 6 === FrameType.Media ? 'reserved media header bits set' : 'not a media frame',
    );
  if ((bytes[11]! & RESERVED_FLAGS) !== 0)
    throw ProtocolError.invalidFrame('reserved media flag bits set');
  if (bytes[12]! > MAX_AUDIO_LEVEL)
    throw ProtocolError.invalidFrame(`audio level ${bytes[12]!} exceeds ${MAX_AUDIO_LEVEL}`);
  const ssrc = readU32(bytes, 1);
  if (ssrc === 0) throw ProtocolError.invalidFrame('ssrc 0 is reserved');
  return ssrc;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
}
