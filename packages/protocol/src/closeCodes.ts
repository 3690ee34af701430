/**
 * WebSocket close codes used by Concord (4000–4999, the range RFC 6455 §7.4.2 leaves to
 * applications). This table is the single documented source: the gateway closes with these,
 * the SDK decides from `reconnect` whether it may resume.
 *
 * | code | name | reconnect |
 * | ---- | ---- | --------- |
 * | 4000 | UNKNOWN_ERROR | may resume |
 * | 4001 | INVALID_FRAME | must not reconnect |
 * | 4002 | INVALID_PAYLOAD | must not reconnect |
 * | 4003 | NOT_AUTHENTICATED | must not reconnect |
 * | 4004 | AUTHENTICATION_FAILED | must not reconnect |
 * | 4005 | ALREADY_AUTHENTICATED | must not reconnect |
 * | 4006 | SESSION_TIMED_OUT | may resume |
 * | 4007 | RATE_LIMITED | may resume |
 * | 4008 | TOKEN_EXPIRED | must not reconnect |
 * | 4009 | ROOM_FORBIDDEN | must not reconnect |
 * | 4010 | FRAME_TOO_LARGE | must not reconnect |
 * | 4011 | DECOMPRESSED_TOO_LARGE | must not reconnect |
 * | 4012 | TOO_MANY_CONNECTIONS | may resume |
 * | 4013 | SERVER_DRAINING | may resume |
 * | 4014 | SESSION_REPLACED | must not reconnect |
 * | 4015 | UNSUPPORTED_VERSION | must not reconnect |
 * | 4016 | LIMIT_EXCEEDED | must not reconnect |
 * | 4017 | SSRC_NOT_OWNED | must not reconnect |
 * | 4018 | SLOW_CONSUMER | may resume |
 * | 4019 | TOO_MANY_SESSIONS | may resume |
 */
export const CloseCode = {
  /** Unexpected server-side failure; the session may be resumed. */
  UNKNOWN_ERROR: 4000,
  /** The frame header or framing was malformed (reserved bits, bad lengths, bad LZ4). */
  INVALID_FRAME: 4001,
  /** A message did not decode to a valid Concord message (MessagePack or schema). */
  INVALID_PAYLOAD: 4002,
  /** A request arrived before IDENTIFY/RESUME completed. */
  NOT_AUTHENTICATED: 4003,
  /** The token is unsigned, tampered or otherwise invalid. */
  AUTHENTICATION_FAILED: 4004,
  /** IDENTIFY or RESUME was sent twice on one connection. */
  ALREADY_AUTHENTICATED: 4005,
  /** The client missed its heartbeats (zombie connection). */
  SESSION_TIMED_OUT: 4006,
  /** The client exceeded its message rate; back off, then resume. */
  RATE_LIMITED: 4007,
  /** The token has expired; fetch a new one before connecting again. */
  TOKEN_EXPIRED: 4008,
  /** The token does not allow the requested room. */
  ROOM_FORBIDDEN: 4009,
  /** A frame exceeded the maximum frame size. */
  FRAME_TOO_LARGE: 4010,
  /** A compressed frame declared a decompressed size over the limit (compression bomb). */
  DECOMPRESSED_TOO_LARGE: 4011,
  /** Too many connections from one address; back off, then resume. */
  TOO_MANY_CONNECTIONS: 4012,
  /** The server is shutting down; reconnect (to another node) and resume. */
  SERVER_DRAINING: 4013,
  /** The session was resumed on another connection; this one is obsolete. */
  SESSION_REPLACED: 4014,
  /** The client speaks a protocol version this server does not. */
  UNSUPPORTED_VERSION: 4015,
  /** A protocol limit (string, array, batch, nesting) was exceeded. */
  LIMIT_EXCEEDED: 4016,
  /**
   * A media frame carried an ssrc this session does not own (another member's stream, or one
   * never assigned to it): a client bug or spoofing, not a framing error.
   */
  SSRC_NOT_OWNED: 4017,
  /**
   * The client did not read what the server sent: its outbound queue passed the byte or age
   * bound. Resume (the replay buffer holds the events it missed) and read faster.
   */
  SLOW_CONSUMER: 4018,
  /**
   * The user already holds the most sessions allowed (connected or waiting to resume); retry
   * after backoff, once one of them has ended.
   */
  TOO_MANY_SESSIONS: 4019,
} as const;

/** A Concord close code. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Name of a Concord close code, e.g. `'RATE_LIMITED'`. */
export type CloseCodeName = keyof typeof CloseCode;

/** What a client may do after a close code. */
export type ReconnectPolicy = 'may-resume' | 'must-not-reconnect';

const MUST_NOT_RECONNECT: ReadonlySet<number> = new Set<number>([
  CloseCode.INVALID_FRAME,
  CloseCode.INVALID_PAYLOAD,
  CloseCode.NOT_AUTHENTICATED,
  CloseCode.AUTHENTICATION_FAILED,
  CloseCode.ALREADY_AUTHENTICATED,
  CloseCode.TOKEN_EXPIRED,
  CloseCode.ROOM_FORBIDDEN,
  CloseCode.FRAME_TOO_LARGE,
  CloseCode.DECOMPRESSED_TOO_LARGE,
  CloseCode.SESSION_REPLACED,
  CloseCode.UNSUPPORTED_VERSION,
  CloseCode.LIMIT_EXCEEDED,
  CloseCode.SSRC_NOT_OWNED,
]);

const NAMES = new Map<number, CloseCodeName>(
  Object.entries(CloseCode).map(([name, code]) => [code, name as CloseCodeName]),
);

/**
 * Whether a client may reconnect (and resume) after the socket closed with `code`. Codes
 * outside Concord's table (1000–3999: transport-level closes such as 1006) may resume.
 */
export function reconnectPolicy(code: number): ReconnectPolicy {
  return MUST_NOT_RECONNECT.has(code) ? 'must-not-reconnect' : 'may-resume';
}

/** The table name of a Concord close code, or `undefined` for codes outside the table. */
export function closeCodeName(code: number): CloseCodeName | undefined {
  return NAMES.get(code);
}
