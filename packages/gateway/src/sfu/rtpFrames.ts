// Concord media frames ⇄ RTP packets, for the bridge between the WebSocket media path and the
// SFU (same Opus payloads, no transcoding). Pure functions; Node's Buffer for the output so it
// goes to mediasoup without a copy.
//
// RTP fixed header (RFC 3550 §5.1), big-endian:
//   0: V=2 (2 bits) P X CC(4)   1: M PT(7)   2–3: sequence number   4–7: timestamp   8–11: SSRC
//   then CC × 4 bytes of CSRCs, then the header extension when X = 1 (RFC 8285: "one-byte"
//   profile 0xBEDE or "two-byte" profile 0x100x, a 16-bit length in 32-bit words, elements),
//   then the payload, then P padding bytes whose count is the last byte.
// The audio level travels as the RFC 6464 ssrc-audio-level element: one byte, V (voice activity)
// in bit 7 and the level in −dBov (0–127) in bits 6–0 — the very meaning of a media frame's
// level byte (packages/protocol/src/media.ts).
import {
  MAX_AUDIO_LEVEL,
  MEDIA_HEADER_BYTES,
  MediaFlags,
  encodeMediaFrame,
  readMediaHeader,
  opusPacketHasLbrr,
} from '@concord/protocol';
import { SfuError } from './SfuError.js';

/** URI of the RFC 6464 client-to-mixer audio level header extension. */
export const AUDIO_LEVEL_EXTENSION_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
/** Bytes of the fixed RTP header. */
export const RTP_HEADER_BYTES = 12;
/** Bytes the one-byte-profile extension block with one audio level element adds. */
const LEVEL_EXTENSION_BYTES = 8;
/** RFC 8285 §4.2 one-byte header profile. */
const ONE_BYTE_PROFILE = 0xbede;
/** RFC 8285 §4.3 two-byte header profile (low 4 bits: "appbits"). */
const TWO_BYTE_PROFILE = 0x1000;
/**
 * A frame at or above −50 dBov counts as speech when the sender set no voice-activity bit:
 * libwebrtc leaves V clear unless its VAD runs, and speech sits around −20 to −40 dBov while
 * room noise stays below −50.
 */
export const SPEECH_LEVEL_MAX = 50;

/** How {@link mediaFrameToRtp} writes a packet. */
export interface RtpWriteOptions {
  /** RTP payload type of Opus in the producer's parameters (0–127). */
  payloadType: number;
  /** Id of the ssrc-audio-level extension in the producer's parameters (1–14). */
  audioLevelExtensionId: number;
  /**
   * The RTP marker bit: set on the first packet of a talkspurt, i.e. the first packet after
   * DTX or of the stream (RFC 3551 §4.1).
   */
  marker: boolean;
}

/**
 * Builds the RTP packet carrying a Concord media frame: payload type from `options`; ssrc, seq
 * and timestamp carried over; the level byte as the ssrc-audio-level extension with V set for a
 * speech frame (flags Speech without DTX); the Opus payload as is. Any thread.
 * @throws {ProtocolError} `INVALID_FRAME` for a malformed media frame.
 * @throws {RangeError} for a payload type outside 0–127 or an extension id outside 1–14.
 */
export function mediaFrameToRtp(frame: Uint8Array, options: RtpWriteOptions): Buffer {
  const { payloadType, audioLevelExtensionId: extId, marker } = options;
  if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127)
    throw new RangeError(`payloadType must be an integer in [0, 127], got ${payloadType}`);
  if (!Number.isInteger(extId) || extId < 1 || extId > 14)
    throw new RangeError(`audioLevelExtensionId must be an integer in [1, 14], got ${extId}`);
  readMediaHeader(frame); // validates
  const flags = frame[11]!;
  const level = frame[12]!;
  const voice = (flags & (MediaFlags.Speech | MediaFlags.Dtx)) === MediaFlags.Speech;
  const payloadBytes = frame.length - MEDIA_HEADER_BYTES;
  const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + LEVEL_EXTENSION_BYTES + payloadBytes);
  out[0] = 0x90; // V=2, P=0, X=1, CC=0
  out[1] = (marker ? 0x80 : 0) | payloadType;
  out[2] = frame[5]!; // seq
  out[3] = frame[6]!;
  out[4] = frame[7]!; // timestamp
  out[5] = frame[8]!;
  out[6] = frame[9]!;
  out[7] = frame[10]!;
  out[8] = frame[1]!; // ssrc
  out[9] = frame[2]!;
  out[10] = frame[3]!;
  out[11] = frame[4]!;
  out[12] = ONE_BYTE_PROFILE >> 8;
  out[13] = ONE_BYTE_PROFILE & 0xff;
  out[14] = 0; // length: one 32-bit word of elements
  out[15] = 1;
  out[16] = extId << 4; // ID, L = length − 1 = 0
  out[17] = (voice ? 0x80 : 0) | level;
  out[18] = 0; // padding to the word boundary
  out[19] = 0;
  out.set(frame.subarray(MEDIA_HEADER_BYTES), RTP_HEADER_BYTES + LEVEL_EXTENSION_BYTES);
  return out;
}

/** The fields of an RTP packet {@link parseRtp} reads. */
export interface RtpPacketInfo {
  marker: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  /** Offset of the payload in the packet. */
  payloadOffset: number;
  /** Payload bytes (padding excluded). */
  payloadBytes: number;
  /** The ssrc-audio-level element, when the packet has one with the given id. */
  audioLevel: { voice: boolean; level: number } | undefined;
}

/**
 * Parses an RTP packet's header, and its ssrc-audio-level element when `audioLevelExtensionId`
 * is given (either RFC 8285 profile). Any thread.
 * @throws {SfuError} `CONCORD_ERR_SFU_INVALID_RTP` for a packet that is not RTP version 2 or is
 * shorter than its header, CSRCs, extension or padding say.
 */
export function parseRtp(packet: Uint8Array, audioLevelExtensionId?: number): RtpPacketInfo {
  const n = packet.length;
  if (n < RTP_HEADER_BYTES) throw SfuError.invalidRtp(`${n} bytes is shorter than an RTP header`);
  const b0 = packet[0]!;
  if (b0 >> 6 !== 2) throw SfuError.invalidRtp(`RTP version ${b0 >> 6}, expected 2`);
  let at = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  let audioLevel: RtpPacketInfo['audioLevel'];
  if (b0 & 0x10) {
    if (at + 4 > n) throw SfuError.invalidRtp('header extension runs past the packet');
    const profile = (packet[at]! << 8) | packet[at + 1]!;
    const end = at + 4 + 4 * ((packet[at + 2]! << 8) | packet[at + 3]!);
    if (end > n) throw SfuError.invalidRtp('header extension runs past the packet');
    if (audioLevelExtensionId !== undefined)
      audioLevel = findAudioLevel(packet, at + 4, end, profile, audioLevelExtensionId);
    at = end;
  }
  let payloadEnd = n;
  if (b0 & 0x20) {
    const pad = packet[n - 1]!;
    if (pad === 0 || at + pad > n) throw SfuError.invalidRtp(`invalid padding count ${pad}`);
    payloadEnd = n - pad;
  }
  if (at > payloadEnd) throw SfuError.invalidRtp('CSRC list runs past the packet');
  return {
    marker: (packet[1]! & 0x80) !== 0,
    payloadType: packet[1]! & 0x7f,
    seq: (packet[2]! << 8) | packet[3]!,
    timestamp: readU32(packet, 4),
    ssrc: readU32(packet, 8),
    payloadOffset: at,
    payloadBytes: payloadEnd - at,
    audioLevel,
  };
}

function findAudioLevel(
  p: Uint8Array,
  from: number,
  end: number,
  profile: number,
  id: number,
): RtpPacketInfo['audioLevel'] {
  const oneByte = profile === ONE_BYTE_PROFILE;
  if (!oneByte && (profile & 0xfff0) !== TWO_BYTE_PROFILE) return undefined;
  let at = from;
  while (at < end) {
    const b = p[at]!;
    if (b === 0) {
      at++; // padding between elements (RFC 8285 §4.2, §4.3)
      continue;
    }
    let elementId: number;
    let len: number;
    if (oneByte) {
      elementId = b >> 4;
      if (elementId === 15) return undefined; // RFC 8285 §4.2: stop parsing
      len = (b & 0x0f) + 1;
      at += 1;
    } else {
      if (at + 1 >= end) return undefined;
      elementId = b;
      len = p[at + 1]!;
      at += 2;
    }
    if (at + len > end) return undefined;
    if (elementId === id && len >= 1) {
      const v = p[at]!;
      return { voice: (v & 0x80) !== 0, level: v & 0x7f };
    }
    at += len;
  }
  return undefined;
}

/** How {@link rtpToMediaFrame} reads a packet. */
export interface RtpReadOptions {
  /** The Concord ssrc of the producing member, as the gateway assigned it. */
  ssrc: number;
  /** Id of the ssrc-audio-level extension in the consumer's parameters, if it has one. */
  audioLevelExtensionId?: number | undefined;
  /** Flags to add, e.g. {@link MediaFlags.Resumed} on the first packet after a pause. */
  extraFlags?: number;
}

/**
 * Builds the Concord media frame carrying an RTP packet's Opus payload: stream `ssrc` from the
 * options (the member's Concord ssrc, not the RTP one), seq and timestamp carried over, the
 * level from the ssrc-audio-level element (127, silence, without one). Flags: DTX for a payload
 * of at most 2 bytes (an Opus DTX frame: the TOC byte alone, RFC 6716 §3.2.1), speech for other
 * packets with V set or a level of at most {@link SPEECH_LEVEL_MAX}, FEC when the Opus packet
 * carries LBRR data. Any thread.
 * @throws {SfuError} `CONCORD_ERR_SFU_INVALID_RTP` for a malformed packet or an Opus payload
 * over 1275 bytes.
 */
export function rtpToMediaFrame(packet: Uint8Array, options: RtpReadOptions): Uint8Array {
  const rtp = parseRtp(packet, options.audioLevelExtensionId);
  const payload = packet.subarray(rtp.payloadOffset, rtp.payloadOffset + rtp.payloadBytes);
  const level = rtp.audioLevel?.level ?? MAX_AUDIO_LEVEL;
  const dtx = payload.length <= 2;
  let flags = options.extraFlags ?? 0;
  if (dtx) flags |= MediaFlags.Dtx;
  else {
    if (rtp.audioLevel?.voice || level <= SPEECH_LEVEL_MAX) flags |= MediaFlags.Speech;
    if (opusPacketHasLbrr(payload)) flags |= MediaFlags.Fec;
  }
  try {
    return encodeMediaFrame(
      { ssrc: options.ssrc, seq: rtp.seq, timestamp: rtp.timestamp, flags, level },
      payload,
    );
  } catch (e) {
    throw SfuError.invalidRtp(e instanceof Error ? e.message : String(e), e);
  }
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
