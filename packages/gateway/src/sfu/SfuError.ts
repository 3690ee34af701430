import { ConcordError } from '@concord/protocol';

/** Stable codes of {@link SfuError}. */
export type SfuErrorCode =
  /** mediasoup could not be loaded or its worker is not built (yet). */
  | 'CONCORD_ERR_SFU_UNAVAILABLE'
  /** The SFU was closed. */
  | 'CONCORD_ERR_SFU_CLOSED'
  /** The member is not in the room (never joined, or left). */
  | 'CONCORD_ERR_SFU_NOT_IN_ROOM'
  /** The member already joined the room. */
  | 'CONCORD_ERR_SFU_ALREADY_JOINED'
  /** No transport with that id (or it was closed). */
  | 'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT'
  /** No producer with that id in the member's room. */
  | 'CONCORD_ERR_SFU_UNKNOWN_PRODUCER'
  /** No consumer with that id. */
  | 'CONCORD_ERR_SFU_UNKNOWN_CONSUMER'
  /** The transport, producer or consumer belongs to another member. */
  | 'CONCORD_ERR_SFU_NOT_OWNER'
  /** Producing on a receive transport, or consuming on a send transport. */
  | 'CONCORD_ERR_SFU_WRONG_DIRECTION'
  /** WebRTC requests from a member on the WebSocket media path, or frames from a WebRTC one. */
  | 'CONCORD_ERR_SFU_WRONG_MEDIA_PATH'
  /** A per-member limit (one audio producer; one consumer per producer). */
  | 'CONCORD_ERR_SFU_LIMIT'
  /** Malformed or unsupported DTLS/RTP parameters or capabilities. */
  | 'CONCORD_ERR_SFU_INVALID_PARAMETERS'
  /** The member's capabilities cannot receive that producer. */
  | 'CONCORD_ERR_SFU_CANNOT_CONSUME'
  /** A malformed RTP packet (bridge). */
  | 'CONCORD_ERR_SFU_INVALID_RTP'
  /** A media frame whose ssrc is not the member's. */
  | 'CONCORD_ERR_SFU_SSRC_MISMATCH'
  /** The room's worker died; the room is being rebuilt: retry after `memberReset`. */
  | 'CONCORD_ERR_SFU_REBUILDING'
  /** mediasoup failed in an unexpected way (wrapped as `cause`). */
  | 'CONCORD_ERR_SFU_INTERNAL';

/**
 * An error of the SFU module: every failure of its API, mediasoup's own exceptions included
 * (wrapped, original as `cause`), so callers map `code` to a signalling error and never crash.
 * Main thread.
 */
export class SfuError extends ConcordError {
  declare readonly code: SfuErrorCode;

  constructor(code: SfuErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  /** mediasoup is not available; `reason` says what was tried. */
  static unavailable(reason: string, cause?: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_UNAVAILABLE', `SFU unavailable: ${reason}`, { cause });
  }

  /** The SFU was closed. */
  static closed(): SfuError {
    return new SfuError('CONCORD_ERR_SFU_CLOSED', 'the SFU is closed');
  }

  /** `memberId` is not in `room`. */
  static notInRoom(room: string, memberId: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_NOT_IN_ROOM',
      `member ${memberId} is not in room "${room}"`,
    );
  }

  /** `memberId` already joined `room`. */
  static alreadyJoined(room: string, memberId: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_ALREADY_JOINED',
      `member ${memberId} already joined room "${room}"`,
    );
  }

  /** No transport `id`. */
  static unknownTransport(id: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_UNKNOWN_TRANSPORT', `unknown transport ${describeId(id)}`);
  }

  /** No producer `id` (in the member's room). */
  static unknownProducer(id: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_UNKNOWN_PRODUCER', `unknown producer ${describeId(id)}`);
  }

  /** No consumer `id`. */
  static unknownConsumer(id: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_UNKNOWN_CONSUMER', `unknown consumer ${describeId(id)}`);
  }

  /** `what` belongs to another member than `memberId`. */
  static notOwner(what: string, memberId: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_NOT_OWNER',
      `${what} does not belong to member ${memberId}`,
    );
  }

  /** The transport's direction does not allow the request. */
  static wrongDirection(transportId: string, direction: 'send' | 'recv'): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_WRONG_DIRECTION',
      `transport ${transportId} is a ${direction} transport`,
    );
  }

  /** The request does not fit the member's media path. */
  static wrongMediaPath(memberId: string, path: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_WRONG_MEDIA_PATH',
      `member ${memberId} is on the ${path} media path`,
    );
  }

  /** A per-member limit was reached. */
  static limit(message: string): SfuError {
    return new SfuError('CONCORD_ERR_SFU_LIMIT', message);
  }

  /** Malformed or unsupported parameters. */
  static invalidParameters(message: string, cause?: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_INVALID_PARAMETERS', `invalid parameters: ${message}`, {
      cause,
    });
  }

  /** The capabilities cannot receive the producer. */
  static cannotConsume(producerId: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_CANNOT_CONSUME',
      `the given RTP capabilities cannot receive producer ${producerId}`,
    );
  }

  /** A malformed RTP packet. */
  static invalidRtp(message: string, cause?: unknown): SfuError {
    return new SfuError('CONCORD_ERR_SFU_INVALID_RTP', `invalid RTP packet: ${message}`, { cause });
  }

  /** A frame of another stream than the member's. */
  static ssrcMismatch(ssrc: number, expected: number): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_SSRC_MISMATCH',
      `media frame with ssrc ${ssrc}, the member's stream is ${expected}`,
    );
  }

  /** The room is being rebuilt after its worker died. */
  static rebuilding(room: string): SfuError {
    return new SfuError(
      'CONCORD_ERR_SFU_REBUILDING',
      `room "${room}" is being rebuilt after its media worker died`,
    );
  }

  /**
   * Wraps an exception mediasoup raised during `operation`: its `TypeError`s (validation of
   * parameters, in Node or in the worker) and `UnsupportedError`s become
   * `CONCORD_ERR_SFU_INVALID_PARAMETERS`; anything else `CONCORD_ERR_SFU_INTERNAL`. An
   * {@link SfuError} passes through unchanged.
   */
  static fromMediasoup(operation: string, error: unknown): SfuError {
    if (error instanceof SfuError) return error;
    const name = error instanceof Error ? error.name : '';
    const message = error instanceof Error ? error.message : String(error);
    if (name === 'TypeError' || name === 'UnsupportedError')
      return SfuError.invalidParameters(`${operation}: ${message}`, error);
    return new SfuError('CONCORD_ERR_SFU_INTERNAL', `${operation} failed: ${message}`, {
      cause: error,
    });
  }
}

/** An id for a message: strings shortened, anything else by type (ids come from clients). */
function describeId(id: unknown): string {
  if (typeof id !== 'string') return `(${typeof id})`;
  return JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
}
