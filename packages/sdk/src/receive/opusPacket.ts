// Reading what the jitter buffer needs from an Opus packet's header, without decoding it.

/**
 * Whether an Opus packet carries in-band FEC (SILK LBRR) for the frame before it: the LBRR flag
 * is the second header bit of the first SILK frame (RFC 6716 §4.2.3–4.2.4), as libopus's
 * `opus_packet_has_lbrr` reads it. CELT-only packets never do. Mono packets; any thread.
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
