import { CloseCode, ConcordError } from '@concord/protocol';

/** Stable codes of {@link GatewayError}. */
export type GatewayErrorCode =
  | 'CONCORD_ERR_AUTH_FAILED'
  | 'CONCORD_ERR_AUTH_EXPIRED'
  | 'CONCORD_ERR_ROOM_FORBIDDEN'
  | 'CONCORD_ERR_CONFIG'
  | 'CONCORD_ERR_SSRC_NOT_OWNED'
  | 'CONCORD_ERR_MEDIA_FLOOD'
  | 'CONCORD_ERR_TOO_MANY_SESSIONS';

/**
 * An error the gateway raises on purpose. `closeCode` is set when it ends a connection.
 * Runs on the gateway's main thread.
 */
export class GatewayError extends ConcordError {
  declare readonly code: GatewayErrorCode;
  /** Close code to send when this error ends a connection (4000 when it never should). */
  readonly closeCode: CloseCode;

  constructor(
    code: GatewayErrorCode,
    closeCode: CloseCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.closeCode = closeCode;
  }

  /** The token is missing, unsigned, tampered, or names no user. */
  static authFailed(reason: string, cause?: unknown): GatewayError {
    return new GatewayError(
      'CONCORD_ERR_AUTH_FAILED',
      CloseCode.AUTHENTICATION_FAILED,
      `authentication failed: ${reason}`,
      { cause },
    );
  }

  /** The token's `exp` has passed. */
  static authExpired(cause?: unknown): GatewayError {
    return new GatewayError('CONCORD_ERR_AUTH_EXPIRED', CloseCode.TOKEN_EXPIRED, 'token expired', {
      cause,
    });
  }

  /** The token does not allow the room. */
  static roomForbidden(room: string): GatewayError {
    return new GatewayError(
      'CONCORD_ERR_ROOM_FORBIDDEN',
      CloseCode.ROOM_FORBIDDEN,
      `token does not allow room "${room}"`,
    );
  }

  /** A media frame named a stream (`ssrc`) the sending session does not own. */
  static ssrcNotOwned(ssrc: number): GatewayError {
    return new GatewayError(
      'CONCORD_ERR_SSRC_NOT_OWNED',
      CloseCode.SSRC_NOT_OWNED,
      `media frame with ssrc ${ssrc}, which this session does not own`,
    );
  }

  /** A client kept sending media frames far above its frame rate. */
  static mediaFlood(limitFps: number): GatewayError {
    return new GatewayError(
      'CONCORD_ERR_MEDIA_FLOOD',
      CloseCode.RATE_LIMITED,
      `media frames far above ${limitFps} frames/s`,
    );
  }

  /** The user already holds `limit` sessions (connected or waiting to resume). */
  static tooManySessions(limit: number): GatewayError {
    return new GatewayError(
      'CONCORD_ERR_TOO_MANY_SESSIONS',
      CloseCode.TOO_MANY_SESSIONS,
      `this user already has ${limit} sessions`,
    );
  }

  /** A configuration value is invalid. */
  static config(message: string): GatewayError {
    return new GatewayError('CONCORD_ERR_CONFIG', CloseCode.UNKNOWN_ERROR, message);
  }
}
