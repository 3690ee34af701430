import { closeCodeName, ConcordError } from '@concord/protocol';

/** Stable codes of {@link ConnectionError}. */
export type ConnectionErrorCode =
  | 'CONCORD_ERR_GATEWAY_TIMEOUT'
  | 'CONCORD_ERR_GATEWAY_REJECTED'
  | 'CONCORD_ERR_GATEWAY_UNREACHABLE'
  | 'CONCORD_ERR_GATEWAY_CLOSED'
  | 'CONCORD_ERR_SESSION_INVALIDATED';

/** A failure of the gateway connection. `closeCode` is set when the server closed it. */
export class ConnectionError extends ConcordError {
  declare readonly code: ConnectionErrorCode;
  /** WebSocket close code, when a close caused this error. */
  readonly closeCode: number | undefined;

  constructor(
    code: ConnectionErrorCode,
    message: string,
    options?: { cause?: unknown; closeCode?: number },
  ) {
    super(code, message, options);
    this.closeCode = options?.closeCode;
  }

  /** Something did not happen within `ms`. */
  static timeout(what: string, ms: number): ConnectionError {
    return new ConnectionError('CONCORD_ERR_GATEWAY_TIMEOUT', `${what} timed out after ${ms} ms`);
  }

  /** The server closed with a must-not-reconnect code. */
  static rejected(closeCode: number, reason: string): ConnectionError {
    const name = closeCodeName(closeCode) ?? 'UNKNOWN';
    return new ConnectionError(
      'CONCORD_ERR_GATEWAY_REJECTED',
      `gateway closed the connection: ${name} (${closeCode})${reason ? `: ${reason}` : ''}`,
      { closeCode },
    );
  }

  /**
   * Connecting failed `attempts` times in a row; `cause` is the last attempt's failure (its
   * message is appended: `connect ECONNREFUSED 127.0.0.1:8080`, `Unexpected server response: 404`).
   */
  static unreachable(attempts: number, cause?: unknown): ConnectionError {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    return new ConnectionError(
      'CONCORD_ERR_GATEWAY_UNREACHABLE',
      `gateway unreachable after ${attempts} attempt${attempts === 1 ? '' : 's'}${why}`,
      { cause },
    );
  }

  /** The connection was closed (by `disconnect()` or for good) while waiting for something. */
  static closed(what: string): ConnectionError {
    return new ConnectionError('CONCORD_ERR_GATEWAY_CLOSED', `connection closed while ${what}`);
  }

  /** The session could not be resumed; pending requests of the old session are void. */
  static sessionInvalidated(): ConnectionError {
    return new ConnectionError(
      'CONCORD_ERR_SESSION_INVALIDATED',
      'the session could not be resumed',
    );
  }
}

/** A room request the server refused (`code` from the server, e.g. `ROOM_FULL`). */
export class RequestError extends ConcordError {
  constructor(
    /** Server's reason, e.g. `ALREADY_IN_ROOM`, `NOT_IN_ROOM`, `TOO_MANY_ROOMS`, `ROOM_FULL`. */
    readonly reason: string,
    message: string,
  ) {
    super('CONCORD_ERR_REQUEST_REFUSED', message);
  }
}

/** A method was called on an object that was closed or is in the wrong state for it. */
export class InvalidStateError extends ConcordError {
  constructor(message: string) {
    super('CONCORD_ERR_INVALID_STATE', message);
  }
}

/** Stable codes of {@link MediaError}. */
export type MediaErrorCode =
  | 'CONCORD_ERR_MEDIA_ASSETS'
  | 'CONCORD_ERR_MEDIA_PERMISSION'
  | 'CONCORD_ERR_MEDIA_DEVICE'
  | 'CONCORD_ERR_MEDIA_AUTOPLAY'
  | 'CONCORD_ERR_MEDIA_WORKLET'
  | 'CONCORD_ERR_MEDIA_UNSUPPORTED';

/** A failure of the audio graph: assets, devices, permissions, autoplay, worklets. */
export class MediaError extends ConcordError {
  declare readonly code: MediaErrorCode;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  /** An audio asset (worklet bundle, WASM kernel) could not be fetched. */
  static assets(url: string, cause: unknown): MediaError {
    return new MediaError('CONCORD_ERR_MEDIA_ASSETS', `could not load audio asset ${url}`, {
      cause,
    });
  }

  /** The user or the browser refused microphone access. */
  static permission(cause: unknown): MediaError {
    return new MediaError('CONCORD_ERR_MEDIA_PERMISSION', 'microphone access was denied', {
      cause,
    });
  }

  /** No usable input/output device (or the requested one is gone). */
  static device(message: string, cause?: unknown): MediaError {
    return new MediaError('CONCORD_ERR_MEDIA_DEVICE', message, { cause });
  }

  /**
   * The AudioContext cannot start until the user interacts with the page. Call
   * `client.audio.resume()` from a click handler; Concord also resumes on the first gesture.
   */
  static autoplayBlocked(): MediaError {
    return new MediaError(
      'CONCORD_ERR_MEDIA_AUTOPLAY',
      'audio is blocked until the user interacts with the page: call audio.resume() from a click or key handler',
    );
  }

  /** An audio worklet failed to start. */
  static worklet(message: string, cause?: unknown): MediaError {
    return new MediaError('CONCORD_ERR_MEDIA_WORKLET', message, { cause });
  }

  /** Web Audio / getUserMedia / AudioWorklet is missing in this environment. */
  static unsupported(what: string): MediaError {
    return new MediaError(
      'CONCORD_ERR_MEDIA_UNSUPPORTED',
      `${what} is not available in this environment`,
    );
  }
}
