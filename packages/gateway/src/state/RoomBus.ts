import type { DispatchEvents, EncodedEvent, EventName } from '@concord/protocol';
import type { RoomCursor } from '../cluster/cursor.js';

/** One room event as it travels between gateway nodes. */
export interface RoomEvent<K extends EventName = EventName> {
  room: string;
  t: K;
  d: DispatchEvents[K];
  /** Session that must not receive this event (usually its cause). */
  excludeSessionId?: string;
  /**
   * PARTICIPANT_LEFT of a member replaced by a newer session of its user: the node holding
   * this session removes it from the room locally (it may be another node than the joiner's).
   */
  replacedSessionId?: string;
  /** Wall-clock time of the publish, ms since the epoch (event latency across nodes). */
  sentAtMs?: number;
}

/** Who receives a room's events on a node (a `Session` fits as it is). */
export interface RoomEventRecipient {
  /** Session id (compared with `excludeSessionId`). */
  readonly id: string;
  /** Takes one event, encoded once for every recipient on the node. */
  dispatch(event: EncodedEvent, type: string): void;
}

/**
 * Fan-out of room events to every gateway node that has members in the room. The in-memory
 * bus delivers within this process; a Redis pub/sub bus delivers across nodes with the same
 * contract.
 */
export interface RoomBus {
  /** Publishes an event; every subscriber (this node's included) receives it. */
  publish(event: RoomEvent): void;
  /** Registers this node's handler. */
  subscribe(handler: (event: RoomEvent) => void): void;
  /**
   * Delivers `room`'s events after `after` to `recipient`, once each and in order (a cluster
   * bus), until {@link removeRecipient}. Without it the gateway delivers what `subscribe`
   * hands it to its own sessions.
   */
  addRecipient?(room: string, recipient: RoomEventRecipient, after: RoomCursor): Promise<void>;
  /** Stops delivering `room` to recipient `id`. */
  removeRecipient?(room: string, id: string): void;
  /** Stops delivery (idempotent). */
  close(): Promise<void>;
}

/** The embedded {@link RoomBus}: synchronous delivery inside this process. */
export class MemoryRoomBus implements RoomBus {
  private handlers: Array<(event: RoomEvent) => void> = [];

  publish(event: RoomEvent): void {
    for (const h of this.handlers) h(event);
  }

  subscribe(handler: (event: RoomEvent) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    this.handlers = [];
  }
}
