// Reading what the media path needs from an Opus packet's header (RFC 6716 §3), without
// decoding it: its duration and whether it carries in-band FEC. Shared by the SDK and the
// gateway.
import { MEDIA_HEADER_BYTES } from './media.js';

/**
 * Whether an Opus packet carries in-band FEC (SILK LBRR) for the frame before it: the LBRR flag
 * is the second header bit of the first SILK frame (RFC 6716 §4.2.3–4.2.4), as libopus's
 * `opus_packet_has_lbrr` reads it. CELT-only packets never do. Mono packets; any thread; no
 * allocation. The sender, the jitter buffer and the SFU's RTP bridge all read it here.
 */
export function opusPacketHasLbrr(packet: Uint8Array): boolean {
  if (packet.length < 2) return false;
  const toc = packet[0]!;
  const config = toc >> 3;
  if (config >= 16) return false; // CELT-only (RFC 6716 §3.1, Table 2)
  // SILK-only configs 0–11 are 10/20/40/60 ms, hybrid 12–15 are 10/20 ms.
  const frameMs = config < 12 ? [10, 20, 40, 60][config & 3]! : config & 1 ? 20 : 10;
  const silkFrames = frameMs > 20 ? frameMs / 20 : 1;
  let at = 1;
  const code = toc & 3;
  if (code === 2) {
    // First frame's length (RFC 6716 §3.2.1): one byte, or two when the first is ≥ 252.
    const b = packet[1]!;
    if (b === 0) return false;
    at = b < 252 ? 2 : 3;
  } else if (code === 3) {
    const head = packet[1]!;
    at = 2;
    if (head & 0x40) {
      // Padding length bytes (RFC 6716 §3.2.5): 255 means 254 more and another byte.
      while (at < packet.length && packet[at] === 255) at++;
      at++;
    }
    if (head & 0x80) {
      // VBR: M − 1 frame lengths follow; the first frame starts after them.
      const frames = head & 0x3f;
      for (let f = 0; f < frames - 1 && at < packet.length; f++) {
        at += packet[at]! < 252 ? 1 : 2;
      }
    }
  }
  if (at >= packet.length) return false;
  return ((packet[at]! >> (7 - silkFrames)) & 1) === 1;
}

/**
 * Duration of an Opus packet in samples at 48 kHz, read from its TOC byte and frame count
 * (RFC 6716 §3.1–3.2: config → frame size, code 0 one frame, 1–2 two, 3 the count byte), or 0
 * for an empty or malformed packet. This is how the wire carries a packet's duration: Concord's
 * media header has no field for it, as RTP has none. Any thread; no allocation.
 */
export function opusPacketSamples(packet: Uint8Array): number {
  return opusSamplesAt(packet, 0);
}

/**
 * Duration of a media frame's Opus packet in samples at 48 kHz ({@link opusPacketSamples} of
 * the payload, read in place: the relay's per-frame path), 0 when it has none.
 */
export function mediaFrameSamples(frame: Uint8Array): number {
  return opusSamplesAt(frame, MEDIA_HEADER_BYTES);
}

function opusSamplesAt(bytes: Uint8Array, at: number): number {
  if (bytes.length <= at) return 0;
  const toc = bytes[at]!;
  const config = toc >> 3;
  // Frame size in units of 2.5 ms (120 samples): SILK 10/20/40/60, hybrid 10/20, CELT 2.5–20.
  const units =
    config < 12
      ? [4, 8, 16, 24][config & 3]!
      : config < 16
        ? config & 1
          ? 8
          : 4
        : 1 << (config & 3);
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code !== 3) frames = 2;
  else {
    if (bytes.length <= at + 1) return 0;
    frames = bytes[at + 1]! & 0x3f;
  }
  const samples = frames * units * 120;
  return samples > 5760 ? 0 : samples; // over 120 ms is malformed (RFC 6716 §3.2.5)
}
