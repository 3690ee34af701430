import type { EncodedEvent, FrameCodec } from '@concord/protocol';
import type { Redis } from 'ioredis';
import type { RoomBus, RoomEvent } from '../state/RoomBus.js';
import { ClusterEmitter, SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';
import { ClusterError } from './ClusterError.js';
import { compareCursors, isNext, START, type RoomCursor } from './cursor.js';
import { ClusterKeys } from './keys.js';
import { defineScripts, runScript } from './lua.js';
import { logConnection } from './redisClient.js';

/**
 * Who receives a room's events on this node: a `Session` fits as it is (its `id` and its
 * `dispatch`, which stamps the session's own seq and keeps the event for replay).
 */
export interface RoomRecipient {
  /** Session id (compared with `excludeSessionId`). */
  readonly id: string;
  /** Takes one event, encoded once for every recipient on this node. */
  dispatch(event: EncodedEvent, type: string): void;
}

/** A room event with its position in the room's stream. */
export type SequencedRoomEvent = RoomEvent & { readonly cursor: RoomCursor };

/** Options of a {@link RedisRoomBus}. */
export interface RedisRoomBusOptions {
  /** Command connection (publishing, log reads); may be shared with the store. */
  redis: Redis;
  /** Connection for SSUBSCRIBE (default: a duplicate of `redis`, closed with the bus). */
  subscriber?: Redis;
  /** Encodes each event once per node for its recipients. */
  codec: FrameCodec;
  /** Prefix of every key (default `concord:`; the same as the store's). */
  keyPrefix?: string;
  /** Events kept per room in Redis (default 2,000; the same as the store's). */
  roomLogMaxEvents?: number;
  /** A room's counter and log expire this long after its last event, ms (default 1 h). */
  roomTtlMs?: number;
  /** Events each room keeps in memory to bring a new recipient up to date (default 256). */
  recentEvents?: number;
  /** Told of every event before its first recipient gets it (the store's `noteRoomEvent`). */
  store?: { noteRoomEvent(event: EncodedEvent, room: string, cursor: RoomCursor): void };
  logger?: ClusterLogger;
}

/** Events of a {@link RedisRoomBus}. */
export type RedisRoomBusEvents = {
  /**
   * Events after `from` up to and including `to` are gone for good (trimmed from the room's
   * log, or lost with Redis's data): `recipient` (or, without one, every recipient of the room
   * on this node) missed them and should be resynchronised (e.g. a fresh participant list).
   */
  gap: [room: string, from: RoomCursor, to: RoomCursor, recipient: string | undefined];
};

/** Counters of a {@link RedisRoomBus}. */
export interface RedisRoomBusStats {
  published: number;
  /** Pub/sub messages received. */
  received: number;
  /** Events processed in order (each once per node). */
  processed: number;
  /** Reads of a room's log (gap fills and recipient catch-ups). */
  logReads: number;
  gaps: number;
}

interface Entry {
  readonly event: SequencedRoomEvent;
  encoded: EncodedEvent | undefined;
}

interface RecipientState {
  readonly recipient: RoomRecipient;
  cursor: RoomCursor;
  /** Events held back while the recipient catches up from the log. */
  queue: Entry[] | undefined;
}

interface Feed {
  readonly room: string;
  readonly channel: string;
  status: 'subscribing' | 'live';
  ready: Promise<void>;
  /** Last event processed on this node. */
  cursor: RoomCursor;
  filling: boolean;
  /** Events received while subscribing or filling, in arrival order. */
  pending: Entry[];
  /** The last processed events, oldest first. */
  recent: Entry[];
  readonly recipients: Map<string, RecipientState>;
  /** Explicit `watch` calls plus recipients being added. */
  holds: number;
  closed: boolean;
}

/** Attempts to fill one gap from the log before giving the missing events up. */
const FILL_ATTEMPTS = 3;

/**
 * Room events across gateway nodes through Redis sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE` to
 * one channel per room, subscribed while this node has recipients there). Publishing is one
 * script that numbers the event (per-room counter), appends it to the room's capped log and
 * publishes it — one total order per room, whichever node publishes, and a node without
 * members in the room publishes the same way (it needs no subscription).
 *
 * Every event reaches this node's recipients through Redis, its own events included, so all
 * members of a room see its events in the same order. Each recipient has a cursor: an event is
 * delivered to it once, only after its cursor, and a recipient added at a cursor behind the
 * node's (a join whose answer raced the events after it, a session resumed from another node)
 * is brought up to date from memory or the room's log. A gap in the stream (messages lost while
 * the subscriber reconnected) is filled from the log; what the log no longer holds is reported
 * as `gap`. Main thread.
 */
export class RedisRoomBus extends ClusterEmitter<RedisRoomBusEvents> implements RoomBus {
  readonly stats: RedisRoomBusStats = {
    published: 0,
    received: 0,
    processed: 0,
    logReads: 0,
    gaps: 0,
  };
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly ownsSubscriber: boolean;
  private readonly keys: ClusterKeys;
  private readonly codec: FrameCodec;
  private readonly store: RedisRoomBusOptions['store'];
  private readonly maxLen: number;
  private readonly ttlMs: number;
  private readonly recentMax: number;
  private readonly feeds = new Map<string, Feed>();
  private readonly byChannel = new Map<string, Feed>();
  private handlers: Array<(event: SequencedRoomEvent) => void> = [];
  private subscriberReadyOnce = false;
  private closed = false;
  private readonly onMessage = (channel: string, message: string): void => {
    const feed = this.byChannel.get(channel);
    if (!feed) return;
    this.stats.received++;
    let entry: Entry;
    try {
      entry = parseMessage(feed.room, message);
    } catch (err) {
      this.logger.error({ err, room: feed.room }, 'unreadable room event dropped');
      return;
    }
    this.ingest(feed, [entry]);
  };
  private readonly onSubscriberReady = (): void => {
    if (!this.subscriberReadyOnce) {
      this.subscriberReadyOnce = true;
      return;
    }
    // Reconnected: what was published meanwhile never arrived. Resubscribe (ioredis does too;
    // waiting for the confirmation here orders it before the log read) and fill from the log.
    for (const feed of this.feeds.values()) {
      if (feed.status !== 'live') continue;
      this.sub
        .ssubscribe(feed.channel)
        .then(() => this.fill(feed))
        .catch((err: unknown) =>
          this.logger.error({ err, room: feed.room }, 'resubscribing a room failed'),
        );
    }
  };

  constructor(options: RedisRoomBusOptions) {
    super(options.logger ?? SILENT_LOGGER);
    this.redis = options.redis;
    this.ownsSubscriber = options.subscriber === undefined;
    this.sub = options.subscriber ?? options.redis.duplicate({ connectionName: 'concord-bus-sub' });
    if (this.ownsSubscriber)
      logConnection(this.sub, 'bus subscriber', options.logger ?? SILENT_LOGGER);
    this.keys = new ClusterKeys(options.keyPrefix);
    this.codec = options.codec;
    this.store = options.store;
    this.maxLen = options.roomLogMaxEvents ?? 2_000;
    this.ttlMs = options.roomTtlMs ?? 3_600_000;
    this.recentMax = options.recentEvents ?? 256;
    for (const [k, v] of [
      ['roomLogMaxEvents', this.maxLen],
      ['roomTtlMs', this.ttlMs],
      ['recentEvents', this.recentMax],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`${k} must be an integer >= 1, got ${v}`);
    }
    defineScripts(this.redis);
    this.sub.on('smessage', this.onMessage);
    this.sub.on('ready', this.onSubscriberReady);
    if (this.sub.status === 'ready') this.subscriberReadyOnce = true;
  }

  // ---- RoomBus ----

  /** Publishes an event (fire and forget; failures are logged). */
  publish(event: RoomEvent): void {
    this.publishAsync(event).catch((err: unknown) =>
      this.logger.error({ err, room: event.room, t: event.t }, 'publishing a room event failed'),
    );
  }

  /** Registers a handler that gets every event of the rooms this node follows, once, in order. */
  subscribe(handler: (event: SequencedRoomEvent) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers = [];
    this.sub.off('smessage', this.onMessage);
    this.sub.off('ready', this.onSubscriberReady);
    const channels = [...this.byChannel.keys()];
    for (const feed of this.feeds.values()) feed.closed = true;
    this.feeds.clear();
    this.byChannel.clear();
    if (this.ownsSubscriber) this.sub.disconnect();
    else if (channels.length > 0) await this.sub.sunsubscribe(...channels).catch(() => undefined);
  }

  // ---- cluster ----

  /** Publishes an event; resolves with its position in the room's stream. */
  async publishAsync(event: RoomEvent): Promise<RoomCursor> {
    this.assertOpen();
    const { room, excludeSessionId, ...rest } = event;
    const body = JSON.stringify(
      excludeSessionId === undefined ? rest : { ...rest, x: excludeSessionId },
    );
    this.stats.published++;
    const [epoch, seq] = (await runScript(this.redis, 'publish', [
      this.keys.prefix,
      room,
      body,
      this.maxLen,
      this.ttlMs,
    ])) as [string, number];
    return { epoch: Number(epoch), seq: Number(seq) };
  }

  /**
   * Delivers `room`'s events after `after` to `recipient`, each once and in order, until
   * {@link removeRecipient}. Subscribes the room on its first recipient. Resolves once the
   * recipient is registered and has been given what the node already processed after `after`.
   * For a join, `after` is `addMember`'s `cursor`; for a resumed session, its room cursor.
   */
  async addRecipient(room: string, recipient: RoomRecipient, after: RoomCursor): Promise<void> {
    this.assertOpen();
    const feed = this.feedFor(room);
    feed.holds++;
    try {
      await feed.ready;
    } finally {
      feed.holds--;
    }
    if (feed.closed) throw ClusterError.closed('RedisRoomBus');
    const state: RecipientState = { recipient, cursor: after, queue: undefined };
    feed.recipients.set(recipient.id, state);
    if (compareCursors(after, feed.cursor) < 0) await this.catchUp(feed, state);
  }

  /** Stops delivering `room` to the recipient; unsubscribes the room after its last one. */
  removeRecipient(room: string, recipientId: string): void {
    const feed = this.feeds.get(room);
    if (!feed) return;
    feed.recipients.delete(recipientId);
    this.release(feed);
  }

  /** Follows `room` without a recipient (its events reach the `subscribe` handlers). */
  async watch(room: string): Promise<void> {
    this.assertOpen();
    const feed = this.feedFor(room);
    feed.holds++;
    await feed.ready;
  }

  /** Undoes one {@link watch}. */
  unwatch(room: string): void {
    const feed = this.feeds.get(room);
    if (!feed || feed.holds === 0) return;
    feed.holds--;
    this.release(feed);
  }

  /** Rooms this node follows. */
  get roomCount(): number {
    return this.feeds.size;
  }

  /** The last event of `room` this node processed. */
  cursorOf(room: string): RoomCursor | undefined {
    return this.feeds.get(room)?.cursor;
  }

  /** The room's stream head in Redis (its last published event). */
  async head(room: string): Promise<RoomCursor> {
    const [e, n] = await this.redis.hmget(this.keys.room(room, 'q'), 'e', 'n');
    return e ? { epoch: Number(e), seq: Number(n) } : START;
  }

  // ---- internals ----

  private feedFor(room: string): Feed {
    let feed = this.feeds.get(room);
    if (feed) return feed;
    feed = {
      room,
      channel: this.keys.room(room, 'ev'),
      status: 'subscribing',
      ready: Promise.resolve(),
      cursor: START,
      filling: false,
      pending: [],
      recent: [],
      recipients: new Map(),
      holds: 0,
      closed: false,
    };
    this.feeds.set(room, feed);
    this.byChannel.set(feed.channel, feed);
    feed.ready = this.open(feed);
    // A failed subscription is reported to whoever awaits `ready`; the feed is forgotten.
    feed.ready.catch(() => {
      if (this.feeds.get(room) === feed) this.drop(feed);
    });
    return feed;
  }

  private async open(feed: Feed): Promise<void> {
    await this.sub.ssubscribe(feed.channel);
    // Subscribed first, head second: every event after the head arrives on the channel.
    feed.cursor = await this.head(feed.room);
    feed.status = 'live';
    const pending = feed.pending;
    feed.pending = [];
    this.ingest(feed, pending);
  }

  private release(feed: Feed): void {
    if (feed.recipients.size > 0 || feed.holds > 0 || feed.closed) return;
    this.drop(feed);
    this.sub
      .sunsubscribe(feed.channel)
      .catch((err: unknown) => this.logger.warn({ err, room: feed.room }, 'unsubscribe failed'));
  }

  private drop(feed: Feed): void {
    feed.closed = true;
    this.feeds.delete(feed.room);
    this.byChannel.delete(feed.channel);
  }

  private ingest(feed: Feed, entries: readonly Entry[]): void {
    if (feed.closed) return;
    if (feed.status !== 'live' || feed.filling) {
      feed.pending.push(...entries);
      return;
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const c = entry.event.cursor;
      if (compareCursors(c, feed.cursor) <= 0) continue; // already processed
      if (isNext(feed.cursor, c)) {
        this.process(feed, entry);
        continue;
      }
      feed.pending.push(...entries.slice(i));
      this.fill(feed).catch((err: unknown) =>
        this.logger.error({ err, room: feed.room }, 'filling a gap failed'),
      );
      return;
    }
  }

  // Reads the log after the feed's cursor and processes it with what arrived meanwhile. A gap
  // the log cannot fill (trimmed, or published after the read) is read again, then given up.
  private async fill(feed: Feed): Promise<void> {
    if (feed.filling || feed.closed) return;
    feed.filling = true;
    try {
      for (let attempt = 1; attempt <= FILL_ATTEMPTS && !feed.closed; attempt++) {
        const logged = await this.readLog(feed.room, feed.cursor);
        const done = this.drain(feed, logged, attempt === FILL_ATTEMPTS);
        if (done) break;
      }
    } finally {
      feed.filling = false;
    }
  }

  // Processes `logged` and the pending events in cursor order. Returns false when a gap
  // remains that a later log read may fill (unless `final`: then it is reported and skipped).
  private drain(feed: Feed, logged: Entry[], final: boolean): boolean {
    const all = [...logged, ...feed.pending].sort((a, b) =>
      compareCursors(a.event.cursor, b.event.cursor),
    );
    feed.pending = [];
    const logStart = logged[0]?.event.cursor;
    for (let i = 0; i < all.length; i++) {
      const entry = all[i]!;
      const c = entry.event.cursor;
      if (compareCursors(c, feed.cursor) <= 0) continue;
      if (!isNext(feed.cursor, c)) {
        // The log starts after the gap: those events were trimmed and will never come back.
        const trimmed = logStart !== undefined && compareCursors(c, logStart) <= 0;
        if (!trimmed && !final) {
          feed.pending = all.slice(i);
          return false;
        }
        this.reportGap(feed.room, feed.cursor, before(c), undefined);
      }
      this.process(feed, entry);
    }
    return true;
  }

  private process(feed: Feed, entry: Entry): void {
    feed.cursor = entry.event.cursor;
    this.stats.processed++;
    feed.recent.push(entry);
    if (feed.recent.length > 2 * this.recentMax)
      feed.recent.splice(0, feed.recent.length - this.recentMax);
    for (const h of this.handlers) {
      try {
        h(entry.event);
      } catch (err) {
        this.logger.error({ err, room: feed.room }, 'room event handler threw');
      }
    }
    for (const state of feed.recipients.values()) {
      if (state.queue) state.queue.push(entry);
      else this.deliverTo(feed, state, entry);
    }
  }

  private deliverTo(feed: Feed, state: RecipientState, entry: Entry): void {
    const { event } = entry;
    if (compareCursors(event.cursor, state.cursor) <= 0) return;
    state.cursor = event.cursor;
    if (event.excludeSessionId === state.recipient.id) return;
    if (!entry.encoded) {
      try {
        entry.encoded = this.codec.encodeEvent(event.t, event.d);
      } catch (err) {
        this.logger.error({ err, room: feed.room, t: event.t }, 'room event cannot be encoded');
        return;
      }
      this.store?.noteRoomEvent(entry.encoded, feed.room, event.cursor);
    }
    try {
      state.recipient.dispatch(entry.encoded, event.t);
    } catch (err) {
      this.logger.error({ err, room: feed.room, recipient: state.recipient.id }, 'dispatch threw');
    }
  }

  // Brings a recipient from its cursor to the feed's: from memory when the recent events reach
  // back far enough, else from the room's log. Live events wait in its queue meanwhile.
  private async catchUp(feed: Feed, state: RecipientState): Promise<void> {
    state.queue = [];
    try {
      const from = state.cursor;
      let backlog = this.fromRecent(feed, from);
      if (!backlog) backlog = await this.readLog(feed.room, from);
      const first = backlog[0]?.event.cursor;
      if (first !== undefined && !isNext(from, first) && compareCursors(first, from) > 0)
        this.reportGap(feed.room, from, before(first), state.recipient.id);
      for (const entry of backlog) this.deliverTo(feed, state, entry);
    } finally {
      const queued = state.queue;
      state.queue = undefined;
      if (feed.recipients.get(state.recipient.id) === state)
        for (const entry of queued) this.deliverTo(feed, state, entry);
    }
  }

  private fromRecent(feed: Feed, from: RoomCursor): Entry[] | undefined {
    const recent = feed.recent;
    const first = recent[0]?.event.cursor;
    if (first === undefined || (compareCursors(from, first) < 0 && !isNext(from, first)))
      return undefined;
    return recent.filter((e) => compareCursors(e.event.cursor, from) > 0);
  }

  // The log's entries after `from`. The log holds one epoch (the current one): when it is not
  // `from`'s, all of it follows `from`.
  private async readLog(room: string, from: RoomCursor): Promise<Entry[]> {
    this.stats.logReads++;
    const log = this.keys.room(room, 'log');
    const results = await this.redis
      .multi()
      .xrange(log, '-', '+', 'COUNT', 1)
      .xrange(log, `(${from.seq}-0`, '+')
      .exec();
    if (!results) return [];
    const firstRows = results[0]?.[1] as Array<[string, string[]]> | undefined;
    let rows = results[1]?.[1] as Array<[string, string[]]> | undefined;
    const firstRow = firstRows?.[0];
    if (firstRow && parseMessage(room, firstRow[1][1]!).event.cursor.epoch !== from.epoch)
      rows = (await this.redis.xrange(log, '-', '+')) as Array<[string, string[]]>;
    const out: Entry[] = [];
    for (const [, fields] of rows ?? []) {
      const entry = parseMessage(room, fields[1]!);
      if (compareCursors(entry.event.cursor, from) > 0) out.push(entry);
    }
    return out;
  }

  private reportGap(
    room: string,
    from: RoomCursor,
    to: RoomCursor,
    recipient: string | undefined,
  ): void {
    this.stats.gaps++;
    this.logger.warn({ room, from, to, recipient }, 'room events lost');
    this.safeEmit('gap', room, from, to, recipient);
  }

  private assertOpen(): void {
    if (this.closed) throw ClusterError.closed('RedisRoomBus');
  }
}

/** The cursor just before `c` in its epoch. */
function before(c: RoomCursor): RoomCursor {
  return { epoch: c.epoch, seq: c.seq - 1 };
}

/**
 * Parses `"<epoch> <seq> <json>"` (as the publish script writes it).
 * @throws {SyntaxError|RangeError} for a malformed message.
 */
function parseMessage(room: string, message: string): Entry {
  const a = message.indexOf(' ');
  const b = message.indexOf(' ', a + 1);
  const epoch = Number(message.slice(0, a));
  const seq = Number(message.slice(a + 1, b));
  if (a < 0 || b < 0 || !Number.isSafeInteger(epoch) || !Number.isSafeInteger(seq) || seq < 1)
    throw new RangeError(`room event must start with "epoch seq ", got "${message.slice(0, 40)}"`);
  const { x, ...rest } = JSON.parse(message.slice(b + 1)) as Omit<RoomEvent, 'room'> & {
    x?: string;
  };
  const event = (
    x === undefined
      ? { ...rest, room, cursor: { epoch, seq } }
      : { ...rest, room, excludeSessionId: x, cursor: { epoch, seq } }
  ) as SequencedRoomEvent;
  return { event, encoded: undefined };
}
