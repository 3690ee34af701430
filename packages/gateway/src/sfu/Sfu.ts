import { availableParallelism } from 'node:os';
import {
  DEFAULT_LISTEN_OPTIONS,
  webRtcListenConfig,
  type SfuListenOptions,
} from './listenOptions.js';
import type { LoadedMediasoup } from './mediasoupLoader.js';
import type { MsWorker } from './mediasoupTypes.js';
import { SfuEmitter, type SfuLogger } from './SfuEmitter.js';
import { SfuError } from './SfuError.js';
import {
  SFU_MEDIA_CODECS,
  SfuRoom,
  type ConsumerRecord,
  type MediaPath,
  type MemberRecord,
  type ProducerRecord,
  type RoomHost,
  type SfuCounters,
  type SfuLevel,
  type TransportRecord,
} from './SfuRoom.js';
import { SfuWorkerPool, type WorkerSlot } from './SfuWorkerPool.js';
import { checkDtlsParameters, checkRtpCapabilities, checkRtpParameters } from './sfuParams.js';
import { TopNSelector, type TopNOptions } from './TopNSelector.js';
import type { UplinkReport } from './UplinkMonitor.js';

/**
 * How often the SFU reports what it receives of each WebRTC producer, ms: every second, and
 * every 250 ms for 2 s after a report that showed loss or jitter, so the sender's bitrate
 * controller sees a network recover as soon as it does (as listeners' fast reports do on the
 * WebSocket path).
 */
const UPLINK_REPORT_INTERVAL_MS = 1_000;
const UPLINK_FAST_INTERVAL_MS = 250;
const UPLINK_FAST_FOR_MS = 2_000;
/** A report with loss, or jitter above this (ms), starts fast reports. */
const UPLINK_FAST_JITTER_MS = 5;

/** Settings of an {@link Sfu}. */
export interface SfuOptions extends Partial<SfuListenOptions> {
  /** mediasoup, from `loadMediasoup()`. */
  mediasoup: LoadedMediasoup;
  /** pino-compatible logger (e.g. `logger.child({ component: 'sfu' })`). */
  logger: SfuLogger;
  /** Worker processes (default: one per core). */
  workerCount?: number;
  /** mediasoup worker log level (default 'warn'). */
  workerLogLevel?: 'debug' | 'warn' | 'error' | 'none';
  /** Producers forwarded at once per room (default 3); see {@link TopNOptions}. */
  maxSpeakers?: number;
  /** Other top-N settings. */
  topN?: Partial<TopNOptions>;
  /** Audio level report interval (ms, default 250: the least mediasoup 3.8.4 allows). */
  levelIntervalMs?: number;
  /** Clock for selection (ms); default `performance.now()`. */
  now?: () => number;
}

/** What a client needs to create its side of a WebRTC transport. */
export interface SfuTransportInfo {
  id: string;
  direction: 'send' | 'recv';
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}

/** What a client needs to create its side of a consumer (it starts paused: resume it). */
export interface SfuConsumerInfo {
  id: string;
  producerId: string;
  /** The producing member. */
  memberId: string;
  kind: string;
  rtpParameters: unknown;
}

/** A producer opened or closed in a room. */
export interface SfuProducerEvent {
  room: string;
  memberId: string;
  producerId: string;
  /** The producing member's Concord ssrc. */
  ssrc: number;
  /** `websocket` for the bridge producer of a member on the WebSocket media path. */
  path: MediaPath;
}

/** A consumer paused or resumed in mediasoup (client request or top-N selection). */
export interface SfuConsumerPauseEvent {
  room: string;
  memberId: string;
  consumerId: string;
  producerId: string;
  paused: boolean;
}

/** Events of an {@link Sfu}. */
export interface SfuEvents {
  [event: string]: unknown[];
  /** A producer appeared: tell the room's WebRTC members (they may consume it). */
  producerOpened: [event: SfuProducerEvent];
  /** A producer closed (its consumers are closed). */
  producerClosed: [event: SfuProducerEvent];
  /** A consumer's mediasoup pause state changed. */
  consumerPaused: [event: SfuConsumerPauseEvent];
  /** The room's forwarded speakers (top N) changed: their member ids. */
  speakers: [room: string, memberIds: string[]];
  /** One audio level report (every interval while anyone sends). */
  levels: [room: string, levels: SfuLevel[]];
  /** A member started or stopped speaking (level at or above the threshold, with hangover). */
  speaking: [room: string, memberId: string, speaking: boolean];
  /**
   * A Concord media frame of WebRTC member `memberId` (stamped with its Concord ssrc) for the
   * room's WebSocket members: hand it to the relay. Emitted only while the room has any.
   */
  frame: [room: string, memberId: string, frame: Uint8Array];
  /** The room was rebuilt on a new router after its worker died. */
  roomRebuilt: [room: string];
  /**
   * After `roomRebuilt`, per WebRTC member: its transports, producer and consumers are gone;
   * the client must create transports, produce and consume again.
   */
  memberReset: [room: string, memberId: string];
  /**
   * Every second, per WebRTC producer that sent anything: what the SFU received of it (loss
   * and jitter, RFC 3550). Send it to the producer's owner as its uplink report.
   */
  uplinkReport: [room: string, memberId: string, report: UplinkReport];
  /** A worker died (`index` of its slot). */
  workerDied: [index: number, pid: number];
  /** A slot's replacement worker runs. */
  workerRestarted: [index: number, pid: number];
}

/** One worker's share in {@link SfuStats}. */
export interface SfuWorkerStats {
  index: number;
  pid: number | undefined;
  rooms: number;
  /** User + system CPU time of the worker process since it started (ms), when available. */
  cpuMs: number | undefined;
}

/** A snapshot for metrics. */
export interface SfuStats {
  workers: SfuWorkerStats[];
  rooms: number;
  members: number;
  transports: number;
  producers: number;
  consumers: number;
  /** RTP packets sent by all current consumers (WebRTC), summed from their stats. */
  forwardedPackets: number;
  counters: SfuCounters;
}

/**
 * The gateway's WebRTC SFU on mediasoup: a router per room spread over a pool of workers (one
 * per core), one send and one receive WebRTC transport per member, an audio producer per member,
 * top-N forwarding from server-side levels, and a bridge so members on the WebSocket media path
 * and WebRTC members of one room hear each other (same Opus payloads). Every call names the
 * member making it; ids of transports, producers and consumers are checked against it.
 *
 * Errors: every method rejects with {@link SfuError} only (mediasoup's exceptions wrapped).
 * A dead worker is restarted; its rooms are rebuilt (`roomRebuilt`, then `memberReset` per
 * WebRTC member). Main thread.
 */
export class Sfu extends SfuEmitter<SfuEvents> {
  /** Where mediasoup came from, and its version. */
  readonly mediasoup: { source: string; version: string };
  private readonly pool: SfuWorkerPool;
  private readonly rooms = new Map<string, SfuRoom>();
  private readonly transports = new Map<string, TransportRecord>();
  private readonly producers = new Map<string, ProducerRecord>();
  private readonly consumers = new Map<string, ConsumerRecord>();
  private readonly counterValues: SfuCounters = {
    workerDeaths: 0,
    workerRestarts: 0,
    roomsRebuilt: 0,
    bridgeFramesIn: 0,
    bridgeFramesDropped: 0,
    bridgeFramesOut: 0,
    selectionChanges: 0,
  };
  private readonly host: RoomHost;
  private capabilities: unknown;
  private closed = false;
  private readonly uplinkTimer: ReturnType<typeof setInterval>;

  private constructor(
    private readonly options: SfuOptions,
    listen: ReturnType<typeof webRtcListenConfig>,
  ) {
    super(options.logger);
    this.mediasoup = { source: options.mediasoup.source, version: options.mediasoup.version };
    this.pool = new SfuWorkerPool(
      options.mediasoup.api,
      { logLevel: options.workerLogLevel ?? 'warn', ...listen.workerSettings },
      options.logger,
      {
        died: (slot, pid) => this.onWorkerDied(slot, pid),
        restarted: (slot, worker) => this.onWorkerRestarted(slot, worker),
      },
    );
    const now = options.now ?? (() => performance.now());
    this.uplinkTimer = setInterval(() => this.reportUplinks(now()), UPLINK_FAST_INTERVAL_MS);
    this.uplinkTimer.unref?.();
    const topN: Partial<TopNOptions> = { ...options.topN };
    if (options.maxSpeakers !== undefined) topN.maxSpeakers = options.maxSpeakers;
    this.host = {
      logger: options.logger,
      topN,
      levelIntervalMs: options.levelIntervalMs ?? 250,
      transportOptions: listen.transportOptions,
      counters: this.counterValues,
      now,
      indexTransport: (t) => this.transports.set(t.id, t),
      unindexTransport: (t) => this.transports.delete(t.id),
      indexProducer: (p) => this.producers.set(p.id, p),
      unindexProducer: (p) => this.producers.delete(p.id),
      indexConsumer: (c) => this.consumers.set(c.id, c),
      unindexConsumer: (c) => this.consumers.delete(c.id),
      producerOpened: (p) => this.safeEmit('producerOpened', producerEvent(p)),
      producerClosed: (p) => this.safeEmit('producerClosed', producerEvent(p)),
      consumerPaused: (c) =>
        this.safeEmit('consumerPaused', {
          room: c.member.room.name,
          memberId: c.member.memberId,
          consumerId: c.id,
          producerId: c.producer.id,
          paused: c.paused,
        }),
      speakers: (room, ids) => this.safeEmit('speakers', room.name, ids),
      levels: (room, levels) => this.safeEmit('levels', room.name, levels),
      speaking: (room, id, speaking) => this.safeEmit('speaking', room.name, id, speaking),
      frame: (room, id, frame) => this.safeEmit('frame', room.name, id, frame),
    };
  }

  /**
   * Starts the SFU: validates the options and starts the workers.
   * @throws {RangeError} for invalid listen options, worker count or top-N settings.
   * @throws {SfuError} `CONCORD_ERR_SFU_UNAVAILABLE` when a worker does not start.
   */
  static async create(options: SfuOptions): Promise<Sfu> {
    const listen = webRtcListenConfig(options.mediasoup.version, {
      listenIp: options.listenIp ?? DEFAULT_LISTEN_OPTIONS.listenIp,
      ...(options.announcedIp !== undefined ? { announcedIp: options.announcedIp } : {}),
      portRange: options.portRange ?? DEFAULT_LISTEN_OPTIONS.portRange,
      enableUdp: options.enableUdp ?? DEFAULT_LISTEN_OPTIONS.enableUdp,
      enableTcp: options.enableTcp ?? DEFAULT_LISTEN_OPTIONS.enableTcp,
      preferUdp: options.preferUdp ?? DEFAULT_LISTEN_OPTIONS.preferUdp,
    });
    const count = options.workerCount ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1 || count > 64)
      throw new RangeError(`workerCount must be an integer in [1, 64], got ${count}`);
    const interval = options.levelIntervalMs ?? 250;
    if (!Number.isInteger(interval) || interval < 250 || interval > 5_000)
      throw new RangeError(`levelIntervalMs must be an integer in [250, 5000], got ${interval}`);
    const sfu = new Sfu(options, listen);
    // Validates the top-N settings before any worker starts.
    new TopNSelector(sfu.host.topN);
    await sfu.pool.start(count);
    options.logger.info(
      {
        workers: count,
        mediasoup: options.mediasoup.version,
        source: options.mediasoup.source,
        listen: listen.shape,
      },
      'SFU started',
    );
    return sfu;
  }

  /** Cumulative counters (worker deaths and restarts, bridge frames, selection changes). */
  get counters(): Readonly<SfuCounters> {
    return this.counterValues;
  }

  /**
   * The routers' RTP capabilities (the same for every room: same codecs, same mediasoup) as
   * clients load their device with them, without transport-wide congestion control for audio
   * (see {@link clientRtpCapabilities}). Read once from a router, then cached.
   * @throws {SfuError} `CONCORD_ERR_SFU_CLOSED`, `INTERNAL`.
   */
  async rtpCapabilities(): Promise<unknown> {
    this.checkOpen();
    if (this.capabilities !== undefined) return this.capabilities;
    for (const room of this.rooms.values())
      if (room.status === 'ready')
        return (this.capabilities = clientRtpCapabilities(room.rtpCapabilities));
    const worker = await this.pool.pick().ready;
    try {
      const router = await worker.createRouter({ mediaCodecs: SFU_MEDIA_CODECS });
      this.capabilities = clientRtpCapabilities(router.rtpCapabilities);
      router.close();
      return this.capabilities;
    } catch (e) {
      throw SfuError.fromMediasoup('reading router capabilities', e);
    }
  }

  /**
   * Adds `memberId` to `room` with its Concord stream id `ssrc` (from the relay), on media path
   * `path`. A WebSocket member gets a bridge producer (feed it with {@link pushFrame}) and the
   * room's WebRTC producers as `frame` events.
   * @throws {SfuError} `ALREADY_JOINED`, `CLOSED`, `INTERNAL`.
   * @throws {RangeError} for an ssrc outside 1–2³²−1.
   */
  async join(room: string, memberId: string, ssrc: number, path: MediaPath): Promise<void> {
    this.checkOpen();
    if (!Number.isInteger(ssrc) || ssrc < 1 || ssrc > 0xffffffff)
      throw new RangeError(`ssrc must be an integer in [1, 4294967295], got ${ssrc}`);
    if (path !== 'webrtc' && path !== 'websocket')
      throw new RangeError(`path must be 'webrtc' or 'websocket', got ${String(path)}`);
    for (let attempt = 0; ; attempt++) {
      const r = this.roomFor(room);
      if (r.members.has(memberId)) throw SfuError.alreadyJoined(room, memberId);
      const joined = await r.run(async () => {
        if (r.failure) throw r.failure; // its router could not be created
        if (r.status === 'closed') return false; // emptied meanwhile: use a new room
        if (r.members.has(memberId)) throw SfuError.alreadyJoined(room, memberId);
        await r.addMember(memberId, ssrc, path);
        return true;
      });
      if (joined) return;
      if (attempt > 2) throw SfuError.rebuilding(room);
    }
  }

  /** Removes `memberId` from `room` with its transports, producer and consumers (idempotent). */
  async leave(room: string, memberId: string): Promise<void> {
    if (this.closed) return;
    const r = this.rooms.get(room);
    if (!r) return;
    await r.run(async () => {
      const m = r.members.get(memberId);
      if (m) await r.removeMember(m);
      if (r.status === 'closed' && this.rooms.get(room) === r) this.rooms.delete(room);
    });
  }

  /**
   * Creates the member's send or receive WebRTC transport (replacing an earlier one of that
   * direction with everything on it).
   * @throws {SfuError} `NOT_IN_ROOM`, `WRONG_MEDIA_PATH`, `REBUILDING`, `INTERNAL`.
   */
  async createTransport(
    room: string,
    memberId: string,
    direction: 'send' | 'recv',
  ): Promise<SfuTransportInfo> {
    this.checkOpen();
    if (direction !== 'send' && direction !== 'recv')
      throw SfuError.invalidParameters(`direction must be 'send' or 'recv'`);
    const r = this.rooms.get(room);
    if (!r) throw SfuError.notInRoom(room, memberId);
    return r.run(async () => {
      const m = this.member(r, memberId);
      if (m.path !== 'webrtc') throw SfuError.wrongMediaPath(memberId, m.path);
      const t = await r.createTransport(m, direction);
      return {
        id: t.id,
        direction,
        iceParameters: t.transport.iceParameters,
        iceCandidates: t.transport.iceCandidates,
        dtlsParameters: t.transport.dtlsParameters,
      };
    });
  }

  /**
   * Connects the member's transport with the client's DTLS parameters.
   * @throws {SfuError} `UNKNOWN_TRANSPORT`, `NOT_OWNER`, `INVALID_PARAMETERS`, `REBUILDING`.
   */
  async connectTransport(
    memberId: string,
    transportId: unknown,
    dtlsParameters: unknown,
  ): Promise<void> {
    const t = this.ownTransport(memberId, transportId);
    checkDtlsParameters(dtlsParameters);
    const r = t.member.room;
    await r.run(async () => {
      this.stillOwned(t);
      await r.connect(t, dtlsParameters);
    });
  }

  /**
   * Creates the member's audio producer on its own send transport.
   * @throws {SfuError} `UNKNOWN_TRANSPORT`, `NOT_OWNER`, `WRONG_DIRECTION`, `LIMIT` (one per
   * member and room), `INVALID_PARAMETERS`, `REBUILDING`.
   */
  async produce(
    memberId: string,
    transportId: unknown,
    kind: unknown,
    rtpParameters: unknown,
  ): Promise<{ producerId: string }> {
    const t = this.ownTransport(memberId, transportId);
    if (t.direction !== 'send') throw SfuError.wrongDirection(t.id, t.direction);
    if (kind !== 'audio') throw SfuError.invalidParameters(`kind must be 'audio'`);
    checkRtpParameters(rtpParameters);
    const r = t.member.room;
    const p = await r.run(async () => {
      this.stillOwned(t);
      return r.produce(t, rtpParameters);
    });
    return { producerId: p.id };
  }

  /**
   * Creates, paused, the member's consumer of `producerId` (a producer of the transport's room,
   * not its own) on its own receive transport; the client resumes it with
   * {@link resumeConsumer} once its side is ready.
   * @throws {SfuError} `UNKNOWN_TRANSPORT`, `NOT_OWNER`, `WRONG_DIRECTION`, `UNKNOWN_PRODUCER`,
   * `LIMIT`, `INVALID_PARAMETERS`, `CANNOT_CONSUME`, `REBUILDING`.
   */
  async consume(
    memberId: string,
    transportId: unknown,
    producerId: unknown,
    rtpCapabilities: unknown,
  ): Promise<SfuConsumerInfo> {
    const t = this.ownTransport(memberId, transportId);
    if (t.direction !== 'recv') throw SfuError.wrongDirection(t.id, t.direction);
    const p = typeof producerId === 'string' ? this.producers.get(producerId) : undefined;
    // A producer of another room is "unknown": its existence is not revealed.
    if (!p || p.member.room !== t.member.room) throw SfuError.unknownProducer(producerId);
    if (p.member === t.member) throw SfuError.invalidParameters('a member cannot consume itself');
    checkRtpCapabilities(rtpCapabilities);
    const r = t.member.room;
    const c = await r.run(async () => {
      this.stillOwned(t);
      if (this.producers.get(p.id) !== p) throw SfuError.unknownProducer(p.id);
      return r.consume(t, p, rtpCapabilities);
    });
    return {
      id: c.id,
      producerId: p.id,
      memberId: p.member.memberId,
      kind: c.consumer.kind,
      rtpParameters: c.consumer.rtpParameters,
    };
  }

  /**
   * The client is ready for (or resumes) its consumer; it flows while its producer is among
   * the room's top N.
   * @throws {SfuError} `UNKNOWN_CONSUMER`, `NOT_OWNER`, `REBUILDING`.
   */
  async resumeConsumer(memberId: string, consumerId: unknown): Promise<void> {
    await this.setConsumerPaused(memberId, consumerId, false);
  }

  /**
   * The client pauses its consumer.
   * @throws {SfuError} `UNKNOWN_CONSUMER`, `NOT_OWNER`, `REBUILDING`.
   */
  async pauseConsumer(memberId: string, consumerId: unknown): Promise<void> {
    await this.setConsumerPaused(memberId, consumerId, true);
  }

  /**
   * Closes the member's own producer.
   * @throws {SfuError} `UNKNOWN_PRODUCER`, `NOT_OWNER`.
   */
  async closeProducer(memberId: string, producerId: unknown): Promise<void> {
    this.checkOpen();
    const p = typeof producerId === 'string' ? this.producers.get(producerId) : undefined;
    if (!p) throw SfuError.unknownProducer(producerId);
    if (p.member.memberId !== memberId || p.member.path !== 'webrtc')
      throw SfuError.notOwner(`producer ${p.id}`, memberId);
    await p.member.room.run(() => p.member.room.closeProducerByClient(p));
  }

  /** The producers of `room` a member may consume (all but its own). */
  producersOf(room: string, memberId?: string): SfuProducerEvent[] {
    const r = this.rooms.get(room);
    if (!r) return [];
    return [...r.producers.values()]
      .filter((p) => p.member.memberId !== memberId)
      .map(producerEvent);
  }

  /**
   * Feeds a Concord media frame a WebSocket member sent into the SFU (as RTP of its bridge
   * producer), so the room's WebRTC members hear it. Synchronous; nothing awaited per frame.
   * @returns false when the frame was dropped (room rebuilding, producer not open yet).
   * @throws {SfuError} `NOT_IN_ROOM`, `WRONG_MEDIA_PATH`, `SSRC_MISMATCH`.
   * @throws {ProtocolError} `INVALID_FRAME` for a malformed frame.
   */
  pushFrame(room: string, memberId: string, frame: Uint8Array): boolean {
    this.checkOpen();
    const r = this.rooms.get(room);
    const m = r?.members.get(memberId);
    if (!r || !m) throw SfuError.notInRoom(room, memberId);
    if (m.path !== 'websocket') throw SfuError.wrongMediaPath(memberId, m.path);
    return r.pushFrame(m, frame);
  }

  /** Live mediasoup objects right now (synchronous: for gauges read at scrape time). */
  get objectCounts(): Pick<
    SfuStats,
    'rooms' | 'members' | 'transports' | 'producers' | 'consumers'
  > {
    let members = 0;
    for (const r of this.rooms.values()) members += r.members.size;
    return {
      rooms: this.rooms.size,
      members,
      transports: this.transports.size,
      producers: this.producers.size,
      consumers: this.consumers.size,
    };
  }

  /** A snapshot for metrics: per-worker CPU, object counts, forwarded packets, counters. */
  async stats(): Promise<SfuStats> {
    const workers = await Promise.all(
      this.pool.slots.map(async (s): Promise<SfuWorkerStats> => {
        let cpuMs: number | undefined;
        if (s.worker) {
          try {
            const u = await s.worker.getResourceUsage();
            cpuMs = u.ru_utime + u.ru_stime;
          } catch {
            cpuMs = undefined; // the worker is dying: no figure this time
          }
        }
        return { index: s.index, pid: s.worker?.pid, rooms: s.rooms, cpuMs };
      }),
    );
    let forwardedPackets = 0;
    await Promise.all(
      [...this.consumers.values()].map(async (c) => {
        try {
          for (const s of await c.consumer.getStats())
            if (s.type === 'outbound-rtp') forwardedPackets += s.packetCount ?? 0;
        } catch {
          // closed meanwhile
        }
      }),
    );
    let members = 0;
    for (const r of this.rooms.values()) members += r.members.size;
    return {
      workers,
      rooms: this.rooms.size,
      members,
      transports: this.transports.size,
      producers: this.producers.size,
      consumers: this.consumers.size,
      forwardedPackets,
      counters: { ...this.counterValues },
    };
  }

  /** Pids of the worker processes (for tests and diagnostics). */
  get workerPids(): number[] {
    return this.pool.slots.flatMap((s) => (s.worker ? [s.worker.pid] : []));
  }

  /** The worker slot index a room's router lives on. */
  roomWorker(room: string): number | undefined {
    return this.rooms.get(room)?.slot.index;
  }

  /** Closes every worker and forgets every room; idempotent. Later calls throw `CLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.uplinkTimer);
    for (const r of this.rooms.values()) r.close();
    this.rooms.clear();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    this.pool.close();
    this.logger.info({}, 'SFU closed');
  }

  private reportUplinks(nowMs: number): void {
    for (const p of this.producers.values()) {
      const u = p.uplink;
      if (!u || p.producer.closed) continue;
      const due = nowMs < u.fastUntilMs ? UPLINK_FAST_INTERVAL_MS : UPLINK_REPORT_INTERVAL_MS;
      if (nowMs - u.lastReportMs < due - 1) continue;
      const report = u.monitor.report();
      u.lastReportMs = nowMs;
      if (!report || report.packets === 0) continue;
      if (report.fractionLost > 0 || report.jitterMs > UPLINK_FAST_JITTER_MS)
        u.fastUntilMs = nowMs + UPLINK_FAST_FOR_MS;
      this.safeEmit('uplinkReport', p.member.room.name, p.member.memberId, report);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw SfuError.closed();
  }

  private roomFor(name: string): SfuRoom {
    let r = this.rooms.get(name);
    if (r && r.status !== 'closed') return r;
    const room = new SfuRoom(name, this.pool.pick(), this.host);
    this.rooms.set(name, room);
    void room
      .run(() => room.create())
      .catch((e: unknown) => {
        this.logger.error({ room: name, err: e }, 'SFU room creation failed');
        if (this.rooms.get(name) === room) this.rooms.delete(name);
      });
    r = room;
    return r;
  }

  private member(r: SfuRoom, memberId: string): MemberRecord {
    const m = r.members.get(memberId);
    if (!m) throw SfuError.notInRoom(r.name, memberId);
    return m;
  }

  private ownTransport(memberId: string, transportId: unknown): TransportRecord {
    this.checkOpen();
    const t = typeof transportId === 'string' ? this.transports.get(transportId) : undefined;
    if (!t) throw SfuError.unknownTransport(transportId);
    if (t.member.memberId !== memberId) throw SfuError.notOwner(`transport ${t.id}`, memberId);
    return t;
  }

  /** Re-checks inside the room queue that the transport survived the wait. */
  private stillOwned(t: TransportRecord): void {
    if (this.transports.get(t.id) !== t) throw SfuError.unknownTransport(t.id);
  }

  private async setConsumerPaused(
    memberId: string,
    consumerId: unknown,
    paused: boolean,
  ): Promise<void> {
    this.checkOpen();
    const c = typeof consumerId === 'string' ? this.consumers.get(consumerId) : undefined;
    if (!c) throw SfuError.unknownConsumer(consumerId);
    if (c.member.memberId !== memberId) throw SfuError.notOwner(`consumer ${c.id}`, memberId);
    const r = c.member.room;
    await r.run(async () => {
      if (this.consumers.get(c.id) !== c) throw SfuError.unknownConsumer(c.id);
      await r.setClientPaused(c, paused);
    });
  }

  private onWorkerDied(slot: WorkerSlot, pid: number): void {
    this.counterValues.workerDeaths = this.pool.deaths;
    this.safeEmit('workerDied', slot.index, pid);
    for (const r of this.rooms.values()) {
      if (r.slot !== slot) continue;
      for (const p of r.markDead()) this.safeEmit('producerClosed', producerEvent(p));
    }
  }

  private onWorkerRestarted(slot: WorkerSlot, worker: MsWorker): void {
    this.counterValues.workerRestarts = this.pool.restarts;
    this.safeEmit('workerRestarted', slot.index, worker.pid);
    for (const r of this.rooms.values()) {
      if (r.slot !== slot || r.status !== 'rebuilding') continue;
      void r
        .run(async () => {
          await r.rebuild(worker);
          if (r.status !== 'ready') return;
          this.counterValues.roomsRebuilt++;
          this.logger.info({ room: r.name, worker: slot.index }, 'SFU room rebuilt');
          this.safeEmit('roomRebuilt', r.name);
          for (const m of r.members.values())
            if (m.path === 'webrtc') this.safeEmit('memberReset', r.name, m.memberId);
        })
        .catch((e: unknown) =>
          this.logger.error({ room: r.name, err: e }, 'SFU room rebuild failed'),
        );
    }
  }
}

function producerEvent(p: ProducerRecord): SfuProducerEvent {
  return {
    room: p.member.room.name,
    memberId: p.member.memberId,
    producerId: p.id,
    ssrc: p.member.ssrc,
    path: p.member.path,
  };
}

const TRANSPORT_CC_URI =
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

/**
 * The router's capabilities without transport-wide congestion control for audio. With it,
 * Chromium counts voice in its bandwidth estimate and paces it: after a loss burst the estimate
 * climbs back at ~8 %/s and, below the voice's own rate, the pacer holds packets — measured here
 * as 10–20 ms of extra jitter for 5–7 s after a 5 % loss burst ended, where 2–4 ms is normal.
 * Voice is a few dozen kbit/s; it needs no pacing. (The SFU's own uplink reports, not TCC
 * feedback, tell a client its media arrives.)
 */
export function clientRtpCapabilities(caps: unknown): unknown {
  if (typeof caps !== 'object' || caps === null) return caps;
  const c = caps as { headerExtensions?: Array<{ kind?: string; uri?: string }> };
  if (!Array.isArray(c.headerExtensions)) return caps;
  return {
    ...c,
    headerExtensions: c.headerExtensions.filter(
      (h) => !(h.kind === 'audio' && h.uri === TRANSPORT_CC_URI),
    ),
  };
}
