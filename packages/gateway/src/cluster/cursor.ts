/**
 * Position in a room's event stream: `seq` counts events published to the room (Redis HINCRBY,
 * from 1) within an `epoch`. The epoch is the Redis server time in µs when the room's counter
 * was created; it changes when the counter is lost (the room was idle past its TTL, or Redis
 * restarted without its data), and a later epoch always sorts after an earlier one.
 */
export interface RoomCursor {
  /** Creation time of the room's counter, µs since the Unix epoch (Redis `TIME`); 0 = none. */
  readonly epoch: number;
  /** Number of the event in its epoch; 0 = before the first. */
  readonly seq: number;
}

/** The position before any event. */
export const START: RoomCursor = Object.freeze({ epoch: 0, seq: 0 });

/** Orders cursors: negative when `a` comes before `b`, 0 when equal, positive after. */
export function compareCursors(a: RoomCursor, b: RoomCursor): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

/** Whether `b` is the event right after `a` (the next seq, or the first of a later epoch). */
export function isNext(a: RoomCursor, b: RoomCursor): boolean {
  return b.epoch === a.epoch ? b.seq === a.seq + 1 : b.epoch > a.epoch && b.seq === 1;
}

/** `epoch:seq`, as stored in Redis. */
export function formatCursor(c: RoomCursor): string {
  return `${c.epoch}:${c.seq}`;
}

/**
 * Parses `epoch:seq` (as {@link formatCursor} writes it).
 * @throws {RangeError} when `text` is not two non-negative integers.
 */
export function parseCursor(text: string): RoomCursor {
  const colon = text.indexOf(':');
  const epoch = Number(text.slice(0, colon));
  const seq = Number(text.slice(colon + 1));
  if (
    colon < 0 ||
    !Number.isSafeInteger(epoch) ||
    !Number.isSafeInteger(seq) ||
    epoch < 0 ||
    seq < 0
  )
    throw new RangeError(`cursor must be "epoch:seq" with non-negative integers, got "${text}"`);
  return { epoch, seq };
}
