import type { DispatchEvents, MediaFrame, ReceiverReport } from '@concord/protocol';

/** A listener's report about one of this client's streams (a RECEIVER_REPORT's payload). */
export type IncomingReceiverReport = DispatchEvents['RECEIVER_REPORT'];

/** Events of a {@link Transport}. */
export type TransportEvents = {
  /**
   * A media frame from another member arrived (`ssrc` is the sender's stream). `frame.payload`
   * is a view into bytes no one reuses: it may be kept. `arrivalMs` is on the transport's
   * monotonic clock (`performance.now()` by default).
   */
  media: [frame: MediaFrame, arrivalMs: number];
  /** The transport can carry media now (`true`), or not any more (`false`). */
  readyChange: [ready: boolean];
  /** A listener reported how one of this client's streams reaches it: the sender's ABR input. */
  receiverReport: [report: IncomingReceiverReport];
  /** A new round trip to the server, ms (the WebSocket path: the gateway heartbeat's). */
  rtt: [rttMs: number];
};

/**
 * The seam between Concord's media pipeline and the network: sends this client's media frames
 * and receiver reports for a room, delivers the other members' frames. `WebSocketMediaTransport`
 * carries them on the gateway socket; a WebRTC transport (mediasoup) will implement the same
 * interface. Main thread.
 */
export interface Transport {
  /** Which implementation this is (`'ws'`, later `'webrtc'`). */
  readonly kind: string;
  /** Whether media can be sent now. */
  readonly ready: boolean;
  /**
   * Sends one encoded media frame (from `encodeMediaFrame`) of `room`. Returns false when it was
   * dropped (not ready, or the link is backed up). Allocates nothing.
   */
  sendMedia(room: string, frame: Uint8Array): boolean;
  /** Sends this client's reception statistics for the streams it hears in `room`. */
  sendReceiverReports(room: string, reports: readonly ReceiverReport[]): void;
  /** Adds a listener. */
  on<K extends keyof TransportEvents>(
    event: K,
    listener: (...args: TransportEvents[K]) => void,
  ): unknown;
  /** Removes a listener. */
  off<K extends keyof TransportEvents>(
    event: K,
    listener: (...args: TransportEvents[K]) => void,
  ): unknown;
  /** Stops delivering and sending (idempotent); afterwards `sendMedia` returns false. */
  close(): void;
}
