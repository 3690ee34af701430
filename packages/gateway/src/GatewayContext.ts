import type { FrameCodec } from '@concord/protocol';
import type { TokenGrant } from './auth/tokens.js';
import type { GatewayConfig } from './config.js';
import type { Connection } from './Connection.js';
import type { Logger } from './logger.js';
import type { MediaRelay } from './MediaRelay.js';
import type { MediaRouter } from './MediaRouter.js';
import type { GatewayMetrics } from './metrics.js';
import type { RoomService } from './RoomService.js';
import type { Session } from './Session.js';

/** What a {@link Connection} needs from the gateway that owns it. */
export interface GatewayContext {
  readonly config: GatewayConfig;
  /** Encodes what the gateway sends. */
  readonly codec: FrameCodec;
  /** Decodes what clients send, with the client limits (no compression). */
  readonly clientCodec: FrameCodec;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly rooms: RoomService;
  /** The WebSocket relay (also reachable as `media.relay`). */
  readonly relay: MediaRelay;
  /** The media plane: relay and SFU behind one interface. */
  readonly media: MediaRouter;
  /** Sessions on this node, by id. */
  readonly sessions: ReadonlyMap<string, Session>;
  /** Verifies a token. @throws {GatewayError} with the close code to use. */
  authenticate(token: string): Promise<TokenGrant>;
  /** Whether the session's token allows `room`. */
  roomAllowed(session: Session, room: string): boolean;
  /**
   * The secret a RESUME of `sessionId` must present (sent only to the session's client, in
   * READY): knowing the user id and the session id is not enough to take a session over.
   */
  resumeSecretOf(sessionId: string): string;
  /**
   * Cluster mode: takes over a session another node held (a resume that arrived here), after
   * checking its resume secret. Undefined when it cannot (no cluster, unknown session, wrong
   * user or secret).
   */
  claimSession?(
    sessionId: string,
    grant: TokenGrant,
    resumeSecret: string,
  ): Promise<Session | undefined>;
  /** Creates a session for a verified grant. */
  createSession(grant: TokenGrant): Promise<Session>;
  /** Ends a session: leaves its rooms and forgets it (idempotent). */
  endSession(session: Session): Promise<void>;
  /** Starts the resume window of a detached session. */
  scheduleExpiry(session: Session): void;
  /** Bookkeeping when a connection's socket has closed. */
  onConnectionClosed(connection: Connection): void;
}
