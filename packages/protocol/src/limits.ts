/**
 * Every size limit the decoder enforces. Both ends use the same defaults; a gateway announces
 * its own values in HELLO.
 */
export interface ProtocolLimits {
  /** Largest WebSocket frame accepted, in bytes (after any compression). */
  maxFrameBytes: number;
  /** Largest decompressed payload of an LZ4 frame, in bytes; checked before allocating. */
  maxDecompressedBytes: number;
  /** Most messages in one batched frame. */
  maxMessagesPerBatch: number;
  /** Longest string, in UTF-8 bytes. */
  maxStringBytes: number;
  /** Longest array or map, in elements. */
  maxArrayLength: number;
  /** Deepest nesting of arrays and maps. */
  maxDepth: number;
}

/** Default limits: generous for a 1,000-participant READY, tight enough to stop abuse early. */
export const DEFAULT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxFrameBytes: 256 * 1024,
  maxDecompressedBytes: 1024 * 1024,
  maxMessagesPerBatch: 256,
  maxStringBytes: 4096,
  maxArrayLength: 10_000,
  maxDepth: 8,
});

/**
 * Limits a gateway enforces on what a client sends once identified (announced in HELLO).
 * Client messages are small (the largest is a RECEIVER_REPORT of 64 entries, ~1.5 KB), so a
 * client frame is capped at 16 KiB, and clients never compress: a gateway refuses LZ4 frames
 * from clients, so no client byte is ever expanded before the limits are checked.
 */
export const DEFAULT_CLIENT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxFrameBytes: 16 * 1024,
  maxDecompressedBytes: 16 * 1024,
  maxMessagesPerBatch: 64,
  maxStringBytes: 4096,
  maxArrayLength: 64,
  maxDepth: 4,
});

/**
 * Largest frame a client may send before its session is established (IDENTIFY or RESUME, one
 * message, uncompressed), in bytes. Tokens are at most `maxStringBytes` (4 KiB).
 */
export const PRE_AUTH_MAX_FRAME_BYTES = 8 * 1024;

/** Payloads at or above this many bytes are LZ4-compressed when that makes them smaller. */
export const DEFAULT_COMPRESSION_THRESHOLD_BYTES = 512;

/**
 * Current wire protocol version, sent in IDENTIFY/RESUME and HELLO. 2: SPEAKING and
 * VOICE_STATE_UPDATE name the member by its ssrc instead of room + user id. 3: READY carries a
 * per-session resume secret and the token's remaining lifetime, RESUME the secret, REFRESH_TOKEN /
 * TOKEN_REFRESHED and ROOM_PARTICIPANTS are new, records refuse trailing fields, clients never
 * compress, and heartbeats start after READY.
 */
export const PROTOCOL_VERSION = 3;

/**
 * Returns `DEFAULT_LIMITS` overridden by `overrides`, validating each value.
 * @throws {RangeError} when a limit is not a positive integer.
 */
export function resolveLimits(overrides: Partial<ProtocolLimits> = {}): ProtocolLimits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`limits.${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}
