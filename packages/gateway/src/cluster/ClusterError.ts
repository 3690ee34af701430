import { ConcordError } from '@concord/protocol';

/** Stable codes of {@link ClusterError}. */
export type ClusterErrorCode =
  | 'CONCORD_ERR_CLUSTER_FENCED'
  | 'CONCORD_ERR_CLUSTER_SSRC_EXHAUSTED'
  | 'CONCORD_ERR_CLUSTER_ROOM_FULL'
  | 'CONCORD_ERR_CLUSTER_CLOSED'
  | 'CONCORD_ERR_CLUSTER_REPLY';

/** An error of the Redis-backed cluster state. Main thread. */
export class ClusterError extends ConcordError {
  declare readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  /**
   * The session belongs to another node (it resumed there, or this node was declared dead):
   * this node must drop its copy without touching the shared state.
   */
  static fenced(sessionId: string, owner: string): ClusterError {
    return new ClusterError(
      'CONCORD_ERR_CLUSTER_FENCED',
      `session ${sessionId} is owned by ${owner === '' ? 'no node (orphaned)' : `node ${owner}`}`,
    );
  }

  /** Every proposed ssrc was taken in the room (practically impossible with random ssrcs). */
  static ssrcExhausted(room: string): ClusterError {
    return new ClusterError(
      'CONCORD_ERR_CLUSTER_SSRC_EXHAUSTED',
      `no free ssrc among the candidates for room ${room}`,
    );
  }

  /** The room holds `max` members already. */
  static roomFull(room: string, max: number): ClusterError {
    return new ClusterError(
      'CONCORD_ERR_CLUSTER_ROOM_FULL',
      `room ${room} is full (${max} members)`,
    );
  }

  /** A method was called after `close()`. */
  static closed(what: string): ClusterError {
    return new ClusterError('CONCORD_ERR_CLUSTER_CLOSED', `${what} is closed`);
  }

  /** Redis answered something a script never returns (a bug or a foreign key layout). */
  static badReply(what: string, reply: unknown): ClusterError {
    return new ClusterError(
      'CONCORD_ERR_CLUSTER_REPLY',
      `unexpected reply to ${what}: ${JSON.stringify(reply)}`,
    );
  }
}
