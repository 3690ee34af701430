import {
  decodeMediaFrame,
  Op,
  type DispatchMessage,
  type MediaFrame,
  type ReceiverReport,
} from '@concord/protocol';
import type { ConnectionState, GatewayConnection } from '../connection/GatewayConnection.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import type { Transport, TransportEvents } from './Transport.js';

/** Options of {@link WebSocketMediaTransport}. */
export interface WebSocketMediaTransportOptions {
  /** Monotonic clock for arrival times, in ms. Default `performance.now()`. */
  now?: () => number;
  /**
   * Test-only impairment: return true to drop an incoming frame as if the network lost it
   * (loss injection in integration tests). Never set in production.
   */
  dropIncoming?: (frame: MediaFrame) => boolean;
}

/** Counters of a {@link WebSocketMediaTransport}. */
export interface WebSocketMediaTransportStats {
  /** Frames handed to the socket. */
  framesSent: number;
  /** Frames not sent: not ready, or the socket was backed up. */
  framesDropped: number;
  /** Valid frames delivered to listeners. */
  framesReceived: number;
  /** Frames that failed to decode (ignored). */
  framesInvalid: number;
}

/**
 * {@link Transport} over the gateway WebSocket: media frames go out as single binary messages
 * beside the batched control traffic (`GatewayConnection.sendMedia`), incoming media arrives on
 * the connection's `media` event, receiver reports are RECEIVER_REPORT control messages. It
 * owns no socket: reconnects and resumes are the connection's. Main thread.
 */
export class WebSocketMediaTransport extends TypedEmitter<TransportEvents> implements Transport {
  /** Implementation name. */
  readonly kind = 'ws';
  private closed = false;
  private readonly now: () => number;
  private readonly dropIncoming: ((frame: MediaFrame) => boolean) | undefined;
  private readonly log = getLogger('concord:transport');
  /** Counters since creation. */
  readonly stats: WebSocketMediaTransportStats = {
    framesSent: 0,
    framesDropped: 0,
    framesReceived: 0,
    framesInvalid: 0,
  };

  private readonly onMedia = (bytes: Uint8Array): void => {
    let frame: MediaFrame;
    try {
      frame = decodeMediaFrame(bytes);
    } catch (err) {
      // The gateway forwards only frames it validated; a bad one is a bug worth one log line.
      if (this.stats.framesInvalid++ === 0) this.log.warn('invalid media frame', { err });
      return;
    }
    if (this.dropIncoming?.(frame)) return;
    this.stats.framesReceived++;
    this.safeEmit('media', frame, this.now());
  };

  private readonly onDispatch = (m: DispatchMessage): void => {
    // Reports from listeners (an empty fromUserId is the SFU's, for the WebRTC transport).
    if (m.t === 'RECEIVER_REPORT' && m.d.fromUserId !== '') this.safeEmit('receiverReport', m.d);
  };

  private readonly onRtt = (rttMs: number): void => {
    this.safeEmit('rtt', rttMs);
  };

  private readonly onState = (prev: ConnectionState, next: ConnectionState): void => {
    const was = prev.status === 'ready';
    const is = next.status === 'ready';
    if (was !== is) this.safeEmit('readyChange', is);
  };

  constructor(
    private readonly connection: GatewayConnection,
    options: WebSocketMediaTransportOptions = {},
  ) {
    super();
    this.now = options.now ?? (() => performance.now());
    this.dropIncoming = options.dropIncoming;
    connection.on('media', this.onMedia);
    connection.on('stateChange', this.onState);
    connection.on('dispatch', this.onDispatch);
    connection.on('heartbeat', this.onRtt);
  }

  /** Whether the gateway session is ready. */
  get ready(): boolean {
    return !this.closed && this.connection.state.status === 'ready';
  }

  /**
   * Sends one media frame. The room is implied by the frame's ssrc (one per membership), so it
   * is not on the wire. Returns false when dropped. Allocates nothing.
   */
  sendMedia(_room: string, frame: Uint8Array): boolean {
    if (this.closed || !this.connection.sendMedia(frame)) {
      this.stats.framesDropped++;
      return false;
    }
    this.stats.framesSent++;
    return true;
  }

  /** Sends a RECEIVER_REPORT for `room` (fire-and-forget; dropped while not ready). */
  sendReceiverReports(room: string, reports: readonly ReceiverReport[]): void {
    if (this.closed || reports.length === 0) return;
    this.connection.send({ op: Op.ReceiverReport, d: { room, reports: [...reports] } });
  }

  /** Detaches from the connection and removes listeners (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.off('media', this.onMedia);
    this.connection.off('stateChange', this.onState);
    this.connection.off('dispatch', this.onDispatch);
    this.connection.off('heartbeat', this.onRtt);
    this.removeAllListeners();
  }
}
