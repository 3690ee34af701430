import { CloseCode } from './closeCodes.js';
import { ConcordError } from './ConcordError.js';

/** Stable codes of {@link ProtocolError}. */
export type ProtocolErrorCode =
  | 'CONCORD_ERR_PROTOCOL_INVALID_FRAME'
  | 'CONCORD_ERR_PROTOCOL_INVALID_PAYLOAD'
  | 'CONCORD_ERR_PROTOCOL_FRAME_TOO_LARGE'
  | 'CONCORD_ERR_PROTOCOL_DECOMPRESSED_TOO_LARGE'
  | 'CONCORD_ERR_PROTOCOL_LIMIT_EXCEEDED';

/**
 * Raised when bytes on the wire violate the framing, the schema or a limit. Carries the close
 * code the receiving side should close the connection with. The decoder never throws anything
 * else, whatever the input.
 */
export class ProtocolError extends ConcordError {
  declare readonly code: ProtocolErrorCode;
  /** Close code to send when this error ends a connection. */
  readonly closeCode: CloseCode;

  constructor(
    code: ProtocolErrorCode,
    closeCode: CloseCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.closeCode = closeCode;
  }

  /** The frame header or framing is malformed. */
  static invalidFrame(reason: string, cause?: unknown): ProtocolError {
    return new ProtocolError(
      'CONCORD_ERR_PROTOCOL_INVALID_FRAME',
      CloseCode.INVALID_FRAME,
      `invalid frame: ${reason}`,
      { cause },
    );
  }

  /** The payload is not a valid Concord message. */
  static invalidPayload(reason: string, cause?: unknown): ProtocolError {
    return new ProtocolError(
      'CONCORD_ERR_PROTOCOL_INVALID_PAYLOAD',
      CloseCode.INVALID_PAYLOAD,
      `invalid payload: ${reason}`,
      { cause },
    );
  }

  /** A frame is larger than `limit` bytes. */
  static frameTooLarge(size: number, limit: number): ProtocolError {
    return new ProtocolError(
      'CONCORD_ERR_PROTOCOL_FRAME_TOO_LARGE',
      CloseCode.FRAME_TOO_LARGE,
      `frame of ${size} bytes exceeds the limit of ${limit} bytes`,
    );
  }

  /** A compressed frame declares more than `limit` decompressed bytes. */
  static decompressedTooLarge(size: number, limit: number): ProtocolError {
    return new ProtocolError(
      'CONCORD_ERR_PROTOCOL_DECOMPRESSED_TOO_LARGE',
      CloseCode.DECOMPRESSED_TOO_LARGE,
      `decompressed size ${size} bytes exceeds the limit of ${limit} bytes`,
    );
  }

  /** A structural limit (string length, array length, nesting, batch size) was exceeded. */
  static limitExceeded(what: string, size: number, limit: number): ProtocolError {
    return new ProtocolError(
      'CONCORD_ERR_PROTOCOL_LIMIT_EXCEEDED',
      CloseCode.LIMIT_EXCEEDED,
      `${what} of ${size} exceeds the limit of ${limit}`,
    );
  }
}
