import type { DispatchEvents, EventName } from '@concord/protocol';

/** One room event as it travels between gateway nodes. */
export interface RoomEvent<K extends EventName = EventName> {
  room: string;
  t: K;
  d: DispatchEvents[K];
  /** Session that must not receive this event (usually its cause). */
  excludeSessionId?: string;
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
