import { MediaFlags, readMediaHeader } from '@concord/protocol';
import type { SfuLogger } from './SfuEmitter.js';
import { SfuError } from './SfuError.js';
import type { WorkerSlot } from './SfuWorkerPool.js';
import { TopNSelector, type TopNOptions } from './TopNSelector.js';
import { UplinkMonitor } from './UplinkMonitor.js';
import type {
  MsAudioLevelObserver,
  MsConsumer,
  MsDirectTransport,
  MsProducer,
  MsRouter,
  MsRtpCodecCapability,
  MsVolume,
  MsWebRtcTransport,
  MsWorker,
} from './mediasoupTypes.js';
import { AUDIO_LEVEL_EXTENSION_URI, mediaFrameToRtp, rtpToMediaFrame } from './rtpFrames.js';

/** How a member's media travels: WebRTC through the SFU, or Concord frames on its WebSocket. */
export type MediaPath = 'webrtc' | 'websocket';

/** A WebRTC transport of one member. */
export interface TransportRecord {
  readonly id: string;
  readonly member: MemberRecord;
  readonly direction: 'send' | 'recv';
  readonly transport: MsWebRtcTransport;
}

/** A producer: a WebRTC member's audio, or a WebSocket member's frames fed in by the bridge. */
export interface ProducerRecord {
  readonly id: string;
  readonly member: MemberRecord;
  readonly producer: MsProducer;
  /** WebRTC consumers of it. */
  readonly consumers: Set<ConsumerRecord>;
  /** The bridge's consumer of a WebRTC producer (while the room has WebSocket members). */
  bridgeConsumer: BridgeConsumer | undefined;
  /** Its own audio level observer (see {@link SfuRoom}: one per producer). */
  observer: MsAudioLevelObserver | undefined;
  /** Last reported average level (dBov), undefined after a `silence` report. */
  levelDbov: number | undefined;
  /** When {@link levelDbov} was reported (ms, the host's clock). */
  levelAt: number;
  /**
   * What the SFU receives of a WebRTC member's producer (none for bridge producers), and when
   * it was last reported (ms, the host's clock) / reports go fast until.
   */
  uplink: { monitor: UplinkMonitor; lastReportMs: number; fastUntilMs: number } | undefined;
}

/** A WebRTC member's consumer of another member's producer. */
export interface ConsumerRecord {
  readonly id: string;
  readonly member: MemberRecord;
  readonly producer: ProducerRecord;
  readonly consumer: MsConsumer;
  /** The client asked for it paused (consumers start paused until the client resumes them). */
  clientPaused: boolean;
  /** Paused in mediasoup right now (client pause, or its producer not among the top N). */
  paused: boolean;
}

interface BridgeConsumer {
  readonly consumer: MsConsumer;
  readonly levelExtensionId: number | undefined;
  paused: boolean;
  /** The next packet is the first after a pause: flag it Resumed (the seq gap is not loss). */
  resumed: boolean;
}

/** One member of one room. */
export interface MemberRecord {
  readonly room: SfuRoom;
  readonly memberId: string;
  /** The member's Concord stream id in this room, as the gateway assigned it. */
  readonly ssrc: number;
  readonly path: MediaPath;
  send: TransportRecord | undefined;
  recv: TransportRecord | undefined;
  producer: ProducerRecord | undefined;
  /** Consumers by producer id. */
  readonly consumers: Map<string, ConsumerRecord>;
  /** Bridge: the next packet starts a talkspurt (RTP marker bit). */
  nextMarker: boolean;
}

/** What a room needs from its {@link Sfu}: indexes, events, settings. */
export interface RoomHost {
  readonly logger: SfuLogger;
  readonly topN: Partial<TopNOptions>;
  readonly levelIntervalMs: number;
  readonly transportOptions: Record<string, unknown>;
  readonly counters: SfuCounters;
  now(): number;
  indexTransport(t: TransportRecord): void;
  unindexTransport(t: TransportRecord): void;
  indexProducer(p: ProducerRecord): void;
  unindexProducer(p: ProducerRecord): void;
  indexConsumer(c: ConsumerRecord): void;
  unindexConsumer(c: ConsumerRecord): void;
  producerOpened(p: ProducerRecord): void;
  producerClosed(p: ProducerRecord): void;
  consumerPaused(c: ConsumerRecord): void;
  speakers(room: SfuRoom, memberIds: string[]): void;
  levels(room: SfuRoom, levels: SfuLevel[]): void;
  speaking(room: SfuRoom, memberId: string, speaking: boolean): void;
  frame(room: SfuRoom, memberId: string, frame: Uint8Array): void;
}

/** A member's level in one report (every level interval). */
export interface SfuLevel {
  memberId: string;
  producerId: string;
  /** Average level over the report interval, dBov (−127…0). */
  levelDbov: number;
}

/** Counters of the SFU (cumulative). */
export interface SfuCounters {
  /** Worker processes that died. */
  workerDeaths: number;
  /** Workers started to replace dead ones. */
  workerRestarts: number;
  /** Rooms rebuilt on a new router after their worker died. */
  roomsRebuilt: number;
  /** WebSocket-path frames fed to the SFU as RTP. */
  bridgeFramesIn: number;
  /** WebSocket-path frames dropped (room rebuilding, producer not ready, invalid). */
  bridgeFramesDropped: number;
  /** RTP packets of WebRTC producers turned into frames for the WebSocket path. */
  bridgeFramesOut: number;
  /** Consumer pauses and resumes made by top-N selection. */
  selectionChanges: number;
}

/** The router codec: Opus, 48 kHz (RFC 7587: always "opus/48000/2" in SDP). */
export const SFU_MEDIA_CODECS: MsRtpCodecCapability[] = [
  {
    kind: 'audio',
    mimeType: 'audio/opus',
    clockRate: 48_000,
    channels: 2,
    parameters: { useinbandfec: 1, usedtx: 1 },
  },
];

/** Serializes a room's asynchronous operations (like mediasoup-client's AwaitQueue). */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

interface MediaPlane {
  readonly worker: MsWorker;
  readonly router: MsRouter;
  readonly bridge: MsDirectTransport;
  /** Runs selection every level interval. */
  readonly ticker: NodeJS.Timeout;
  /** Opus payload type and audio level extension id of bridge producers. */
  readonly payloadType: number;
  readonly levelExtensionId: number;
}

type RoomState =
  | { status: 'creating' }
  | { status: 'ready'; plane: MediaPlane }
  | { status: 'rebuilding' }
  | { status: 'closed' };

/**
 * One room of the SFU: its router (on one worker slot), top-N selection from audio levels, its
 * bridge (a DirectTransport) to the WebSocket media path, and its members' transports,
 * producers and consumers. Operations that touch mediasoup run one at a time (a queue);
 * ownership is checked by the {@link Sfu} before.
 *
 * Levels: each producer has an audio level observer of its own. One observer for the room
 * would be cheaper, but mediasoup 3.8.4 keys its report by level, so of several producers with
 * the same average dBov in an interval it reports only one — the others would look silent and
 * lose their slots. A ticker runs the selection every level interval from the latest reports.
 * Main thread.
 */
export class SfuRoom {
  /** Members by member id. */
  readonly members = new Map<string, MemberRecord>();
  /** Producers by id. */
  readonly producers = new Map<string, ProducerRecord>();
  private readonly queue = new SerialQueue();
  private state: RoomState = { status: 'creating' };
  private selector: TopNSelector<string>;
  private readonly speakingNow = new Set<string>();
  private websocketMembers = 0;

  constructor(
    readonly name: string,
    readonly slot: WorkerSlot,
    private readonly host: RoomHost,
  ) {
    this.selector = new TopNSelector(host.topN);
    slot.rooms++;
  }

  /** `creating`, `ready`, `rebuilding` (worker died) or `closed`. */
  get status(): RoomState['status'] {
    return this.state.status;
  }

  /** The router's RTP capabilities (ready rooms only). */
  get rtpCapabilities(): unknown {
    return this.plane().router.rtpCapabilities;
  }

  /** Runs `task` after the room's earlier operations. */
  run<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }

  /** Why {@link create} failed (the room is closed then). */
  failure: SfuError | undefined;

  /** Creates the media plane on the slot's worker (first task of the queue). */
  async create(): Promise<void> {
    let plane: MediaPlane;
    try {
      plane = await this.buildPlane(await this.slot.ready);
    } catch (e) {
      this.failure = SfuError.fromMediasoup('creating the room', e);
      this.close();
      throw this.failure;
    }
    if (this.state.status !== 'creating') {
      clearInterval(plane.ticker);
      plane.router.close();
      return;
    }
    this.state = { status: 'ready', plane };
  }

  private async buildPlane(worker: MsWorker): Promise<MediaPlane> {
    let router: MsRouter | undefined;
    try {
      router = await worker.createRouter({ mediaCodecs: SFU_MEDIA_CODECS });
      const bridge = await router.createDirectTransport();
      const caps = router.rtpCapabilities;
      const opus = caps.codecs?.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
      const ext = caps.headerExtensions?.find(
        (h) => h.uri === AUDIO_LEVEL_EXTENSION_URI && (h.kind === undefined || h.kind === 'audio'),
      );
      const levelExtensionId = ext?.preferredId ?? ext?.id;
      if (opus?.preferredPayloadType === undefined || levelExtensionId === undefined)
        throw new Error('the router offers no Opus payload type or no audio level extension');
      const ticker = setInterval(() => this.onTick(), this.host.levelIntervalMs);
      ticker.unref();
      return {
        worker,
        router,
        bridge,
        ticker,
        payloadType: opus.preferredPayloadType,
        levelExtensionId,
      };
    } catch (e) {
      router?.close();
      throw SfuError.fromMediasoup('creating the room router', e);
    }
  }

  private plane(): MediaPlane {
    const s = this.state;
    if (s.status === 'ready') return s.plane;
    if (s.status === 'closed') throw SfuError.notInRoom(this.name, '(any)');
    throw SfuError.rebuilding(this.name);
  }

  /**
   * Adds a member. A WebSocket member gets its bridge producer (fed by {@link pushFrame}); the
   * first one makes the bridge consume every WebRTC producer.
   */
  async addMember(memberId: string, ssrc: number, path: MediaPath): Promise<MemberRecord> {
    const m: MemberRecord = {
      room: this,
      memberId,
      ssrc,
      path,
      send: undefined,
      recv: undefined,
      producer: undefined,
      consumers: new Map(),
      nextMarker: true,
    };
    this.members.set(memberId, m);
    if (path === 'websocket') {
      this.websocketMembers++;
      if (this.state.status === 'ready') {
        try {
          await this.openBridgeProducer(m, this.state.plane);
          if (this.websocketMembers === 1) await this.openBridgeConsumers(this.state.plane);
        } catch (e) {
          await this.removeMember(m);
          throw SfuError.fromMediasoup('joining the room', e);
        }
      }
    }
    return m;
  }

  /** Removes a member with everything it has; closes the room's plane when it empties. */
  async removeMember(m: MemberRecord): Promise<void> {
    if (this.members.get(m.memberId) !== m) return;
    this.members.delete(m.memberId);
    if (m.send) this.closeTransport(m.send);
    if (m.recv) this.closeTransport(m.recv);
    if (m.producer) this.closeProducer(m.producer);
    if (this.speakingNow.delete(m.memberId)) this.host.speaking(this, m.memberId, false);
    if (m.path === 'websocket' && --this.websocketMembers === 0) this.closeBridgeConsumers();
    if (this.members.size === 0) this.close();
    await Promise.resolve();
  }

  /** Closes the room's router (and so everything on it); idempotent. */
  close(): void {
    const s = this.state;
    if (s.status === 'closed') return;
    this.state = { status: 'closed' };
    this.slot.rooms--;
    if (s.status === 'ready') {
      clearInterval(s.plane.ticker);
      if (!s.plane.router.closed) s.plane.router.close();
    }
  }

  /**
   * Creates a member's WebRTC transport in `direction`, replacing an earlier one (ICE restart by
   * reconnection: its producer or consumers close with it).
   */
  async createTransport(m: MemberRecord, direction: 'send' | 'recv'): Promise<TransportRecord> {
    const plane = this.plane();
    let transport: MsWebRtcTransport;
    try {
      transport = await plane.router.createWebRtcTransport({
        ...this.host.transportOptions,
        appData: { room: this.name, memberId: m.memberId, direction },
      });
    } catch (e) {
      throw SfuError.fromMediasoup('createWebRtcTransport', e);
    }
    if (this.members.get(m.memberId) !== m || this.state.status !== 'ready') {
      transport.close();
      throw SfuError.notInRoom(this.name, m.memberId);
    }
    const old = m[direction];
    if (old) this.closeTransport(old);
    const t: TransportRecord = { id: transport.id, member: m, direction, transport };
    m[direction] = t;
    this.host.indexTransport(t);
    transport.on('dtlsstatechange', (state: string) => {
      if (state === 'failed' || state === 'closed')
        this.host.logger.info(
          { room: this.name, memberId: m.memberId, transportId: t.id, dtlsState: state },
          'SFU transport DTLS ended',
        );
    });
    return t;
  }

  /** Connects a transport (DTLS parameters checked by the caller). */
  async connect(t: TransportRecord, dtlsParameters: unknown): Promise<void> {
    this.plane();
    try {
      await t.transport.connect({ dtlsParameters });
    } catch (e) {
      throw SfuError.fromMediasoup('transport.connect', e);
    }
  }

  /** Creates the member's audio producer on its send transport. */
  async produce(t: TransportRecord, rtpParameters: unknown): Promise<ProducerRecord> {
    const plane = this.plane();
    const m = t.member;
    if (m.producer) throw SfuError.limit(`member ${m.memberId} already produces in "${this.name}"`);
    let producer: MsProducer;
    try {
      producer = await t.transport.produce({ kind: 'audio', rtpParameters });
    } catch (e) {
      throw SfuError.fromMediasoup('transport.produce', e);
    }
    if (t.transport.closed || m.send !== t || m.producer) {
      producer.close();
      throw SfuError.unknownTransport(t.id);
    }
    const p = this.registerProducer(m, producer);
    await this.monitorUplink(p);
    await this.observe(plane, p);
    if (this.websocketMembers > 0) await this.openBridgeConsumer(plane, p);
    return p;
  }

  /**
   * Measures what arrives of `p` from its `rtp` trace events (sequence numbers, RTP time
   * stamps, arrival times): the uplink reports the gateway sends its owner every second. A
   * worker that cannot trace leaves the producer unmonitored (the client falls back to RTCP).
   */
  private async monitorUplink(p: ProducerRecord): Promise<void> {
    const producer = p.producer;
    if (!producer.enableTraceEvent) return;
    const uplink = new UplinkMonitor();
    producer.on('trace', (...args: unknown[]) => {
      const t = args[0] as { type?: string; timestamp?: number; info?: Record<string, unknown> };
      const seq = t.info?.['sequenceNumber'];
      const ts = t.info?.['timestamp'];
      if (t.type === 'rtp' && typeof seq === 'number' && typeof ts === 'number')
        uplink.onPacket(seq, ts, typeof t.timestamp === 'number' ? t.timestamp : this.host.now());
    });
    try {
      await producer.enableTraceEvent(['rtp']);
      p.uplink = { monitor: uplink, lastReportMs: this.host.now(), fastUntilMs: 0 };
    } catch (e) {
      this.host.logger.warn({ err: e, producerId: p.id }, 'producer rtp trace unavailable');
    }
  }

  /** Creates a paused consumer of `p` for the owner of `t` (capabilities checked by the caller). */
  async consume(
    t: TransportRecord,
    p: ProducerRecord,
    rtpCapabilities: unknown,
  ): Promise<ConsumerRecord> {
    const plane = this.plane();
    const m = t.member;
    if (m.consumers.has(p.id))
      throw SfuError.limit(`member ${m.memberId} already consumes producer ${p.id}`);
    let ok: boolean;
    try {
      ok = plane.router.canConsume({ producerId: p.id, rtpCapabilities });
    } catch (e) {
      throw SfuError.fromMediasoup('router.canConsume', e);
    }
    if (!ok) throw SfuError.cannotConsume(p.id);
    let consumer: MsConsumer;
    try {
      consumer = await t.transport.consume({ producerId: p.id, rtpCapabilities, paused: true });
    } catch (e) {
      throw SfuError.fromMediasoup('transport.consume', e);
    }
    if (t.transport.closed || m.recv !== t || p.producer.closed || m.consumers.has(p.id)) {
      consumer.close();
      throw SfuError.unknownProducer(p.id);
    }
    const c: ConsumerRecord = {
      id: consumer.id,
      member: m,
      producer: p,
      consumer,
      clientPaused: true,
      paused: true,
    };
    m.consumers.set(p.id, c);
    p.consumers.add(c);
    this.host.indexConsumer(c);
    return c;
  }

  /** The client paused or resumed its consumer. */
  async setClientPaused(c: ConsumerRecord, paused: boolean): Promise<void> {
    this.plane();
    c.clientPaused = paused;
    await this.applyConsumer(c);
  }

  /** Closes a producer the client closed. */
  async closeProducerByClient(p: ProducerRecord): Promise<void> {
    this.closeProducer(p);
    await Promise.resolve();
  }

  /**
   * Feeds one Concord media frame of a WebSocket member into its bridge producer.
   * @returns false when dropped (room not ready, no producer yet).
   * @throws {ProtocolError} `INVALID_FRAME` for a malformed frame.
   * @throws {SfuError} `CONCORD_ERR_SFU_SSRC_MISMATCH` for another stream's frame.
   */
  pushFrame(m: MemberRecord, frame: Uint8Array): boolean {
    const ssrc = readMediaHeader(frame);
    if (ssrc !== m.ssrc) throw SfuError.ssrcMismatch(ssrc, m.ssrc);
    const s = this.state;
    const send = m.producer?.producer.send;
    if (s.status !== 'ready' || !m.producer || !send || m.producer.producer.closed) {
      this.host.counters.bridgeFramesDropped++;
      return false;
    }
    const rtp = mediaFrameToRtp(frame, {
      payloadType: s.plane.payloadType,
      audioLevelExtensionId: s.plane.levelExtensionId,
      marker: m.nextMarker,
    });
    m.nextMarker = (frame[11]! & MediaFlags.Dtx) !== 0;
    send.call(m.producer.producer, rtp);
    this.host.counters.bridgeFramesIn++;
    return true;
  }

  /** Whether the member's producer is among the room's top N right now. */
  isSelected(p: ProducerRecord): boolean {
    return this.selector.isSelected(p.id);
  }

  /**
   * The worker died: forget every mediasoup object (all closed already) and wait for
   * {@link rebuild}. Returns the producers that were lost. Synchronous.
   */
  markDead(): ProducerRecord[] {
    const s = this.state;
    if (s.status === 'closed') return [];
    if (s.status === 'ready') clearInterval(s.plane.ticker);
    this.state = { status: 'rebuilding' };
    // A fresh selector first: forgetting producers below must not pause or resume anything.
    this.selector = new TopNSelector(this.host.topN);
    const lost = [...this.producers.values()];
    for (const m of this.members.values()) {
      for (const t of [m.send, m.recv]) if (t) this.host.unindexTransport(t);
      m.send = undefined;
      m.recv = undefined;
      m.nextMarker = true;
    }
    for (const p of lost) this.forgetProducer(p);
    for (const id of this.speakingNow) this.host.speaking(this, id, false);
    this.speakingNow.clear();
    return lost;
  }

  /**
   * Builds a new media plane on `worker` and reopens the bridge producers of WebSocket members.
   * WebRTC members must create new transports, produce and consume again (the caller tells them).
   */
  async rebuild(worker: MsWorker): Promise<void> {
    if (this.state.status !== 'rebuilding') return;
    const plane = await this.buildPlane(worker);
    if (this.state.status !== 'rebuilding') {
      clearInterval(plane.ticker);
      plane.router.close();
      return;
    }
    this.state = { status: 'ready', plane };
    for (const m of this.members.values())
      if (m.path === 'websocket') await this.openBridgeProducer(m, plane);
  }

  private registerProducer(m: MemberRecord, producer: MsProducer): ProducerRecord {
    const p: ProducerRecord = {
      id: producer.id,
      member: m,
      producer,
      consumers: new Set(),
      bridgeConsumer: undefined,
      observer: undefined,
      levelDbov: undefined,
      levelAt: Number.NEGATIVE_INFINITY,
      uplink: undefined,
    };
    m.producer = p;
    this.producers.set(p.id, p);
    this.host.indexProducer(p);
    const change = this.selector.add(p.id, this.host.now());
    this.applySelection(change.selected, change.deselected);
    this.host.producerOpened(p);
    return p;
  }

  private async observe(plane: MediaPlane, p: ProducerRecord): Promise<void> {
    let observer: MsAudioLevelObserver | undefined;
    try {
      observer = await plane.router.createAudioLevelObserver({
        maxEntries: 1,
        threshold: -127, // any packet: the selection applies its own threshold
        interval: this.host.levelIntervalMs,
      });
      await observer.addProducer({ producerId: p.id });
    } catch (e) {
      // Without levels the producer still flows; selection treats it as silent.
      observer?.close();
      this.host.logger.warn({ room: this.name, producerId: p.id, err: e }, 'audio level observer');
      return;
    }
    if (this.producers.get(p.id) !== p) {
      observer.close();
      return;
    }
    p.observer = observer;
    observer.on('volumes', (volumes: MsVolume[]) => {
      const v = volumes[0];
      if (!v) return;
      p.levelDbov = v.volume;
      p.levelAt = this.host.now();
    });
    observer.on('silence', () => {
      p.levelDbov = undefined;
    });
  }

  private async openBridgeProducer(m: MemberRecord, plane: MediaPlane): Promise<void> {
    let producer: MsProducer;
    try {
      producer = await plane.bridge.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              payloadType: plane.payloadType,
              clockRate: 48_000,
              channels: 2,
              parameters: {},
              rtcpFeedback: [],
            },
          ],
          headerExtensions: [{ uri: AUDIO_LEVEL_EXTENSION_URI, id: plane.levelExtensionId }],
          encodings: [{ ssrc: m.ssrc }],
        },
        appData: { room: this.name, memberId: m.memberId, bridge: true },
      });
    } catch (e) {
      throw SfuError.fromMediasoup('bridge produce', e);
    }
    if (this.members.get(m.memberId) !== m || this.state.status !== 'ready') {
      producer.close();
      return;
    }
    m.nextMarker = true;
    const p = this.registerProducer(m, producer);
    await this.observe(plane, p);
  }

  private async openBridgeConsumers(plane: MediaPlane): Promise<void> {
    for (const p of this.producers.values())
      if (p.member.path === 'webrtc' && !p.bridgeConsumer) await this.openBridgeConsumer(plane, p);
  }

  private async openBridgeConsumer(plane: MediaPlane, p: ProducerRecord): Promise<void> {
    let consumer: MsConsumer;
    try {
      // 3.8.4 wants capabilities for DirectTransport consumers too: the router's own (they
      // keep the audio level extension the frames' level byte comes from).
      consumer = await plane.bridge.consume({
        producerId: p.id,
        rtpCapabilities: plane.router.rtpCapabilities,
        paused: !this.isSelected(p),
      });
    } catch (e) {
      this.host.logger.warn({ room: this.name, producerId: p.id, err: e }, 'bridge consume');
      return;
    }
    if (p.producer.closed || this.websocketMembers === 0 || p.bridgeConsumer) {
      consumer.close();
      return;
    }
    const levelExtensionId = consumer.rtpParameters.headerExtensions?.find(
      (h) => h.uri === AUDIO_LEVEL_EXTENSION_URI,
    )?.id;
    const b: BridgeConsumer = {
      consumer,
      levelExtensionId,
      paused: consumer.paused,
      resumed: false,
    };
    p.bridgeConsumer = b;
    const m = p.member;
    const options = { ssrc: m.ssrc, audioLevelExtensionId: levelExtensionId, extraFlags: 0 };
    consumer.on('rtp', (packet: Buffer) => {
      if (p.bridgeConsumer !== b) return;
      options.extraFlags = b.resumed ? MediaFlags.Resumed : 0;
      b.resumed = false;
      let frame: Uint8Array;
      try {
        frame = rtpToMediaFrame(packet, options);
      } catch (e) {
        this.host.counters.bridgeFramesDropped++;
        this.host.logger.debug({ room: this.name, err: e }, 'bridge dropped an RTP packet');
        return;
      }
      this.host.counters.bridgeFramesOut++;
      this.host.frame(this, m.memberId, frame);
    });
  }

  private closeBridgeConsumers(): void {
    for (const p of this.producers.values()) {
      const b = p.bridgeConsumer;
      p.bridgeConsumer = undefined;
      if (b && !b.consumer.closed) b.consumer.close();
    }
  }

  private closeTransport(t: TransportRecord): void {
    this.forgetTransport(t);
    if (!t.transport.closed) t.transport.close();
  }

  /** Drops a transport and what lives on it from the records (mediasoup closes them itself). */
  private forgetTransport(t: TransportRecord): void {
    const m = t.member;
    if (m[t.direction] === t) m[t.direction] = undefined;
    this.host.unindexTransport(t);
    if (t.direction === 'send') {
      if (m.producer && m.path === 'webrtc') this.closeProducer(m.producer);
    } else {
      for (const c of m.consumers.values()) this.forgetConsumer(c);
    }
  }

  private closeProducer(p: ProducerRecord): void {
    this.forgetProducer(p);
    if (!p.producer.closed) p.producer.close(); // closes its consumers too
    this.host.producerClosed(p);
  }

  private forgetProducer(p: ProducerRecord): void {
    if (this.producers.get(p.id) !== p) return;
    this.producers.delete(p.id);
    if (p.observer && !p.observer.closed) p.observer.close();
    p.observer = undefined;
    if (p.member.producer === p) p.member.producer = undefined;
    this.host.unindexProducer(p);
    for (const c of [...p.consumers]) this.forgetConsumer(c);
    p.bridgeConsumer = undefined;
    const change = this.selector.remove(p.id, this.host.now());
    this.applySelection(change.selected, change.deselected);
  }

  private forgetConsumer(c: ConsumerRecord): void {
    c.member.consumers.delete(c.producer.id);
    c.producer.consumers.delete(c);
    this.host.unindexConsumer(c);
  }

  /** Every level interval: selection and speaking from the producers' latest levels. */
  private onTick(): void {
    if (this.state.status !== 'ready' || this.producers.size === 0) return;
    const now = this.host.now();
    // A report older than two intervals is stale (its observer stopped reporting).
    const fresh = 2 * this.host.levelIntervalMs;
    const levels = new Map<string, number>();
    const report: SfuLevel[] = [];
    for (const p of this.producers.values()) {
      if (p.levelDbov === undefined || now - p.levelAt > fresh) continue;
      levels.set(p.id, p.levelDbov);
      report.push({ memberId: p.member.memberId, producerId: p.id, levelDbov: p.levelDbov });
    }
    const change = this.selector.update(levels, now);
    this.applySelection(change.selected, change.deselected);
    if (report.length > 0) this.host.levels(this, report);
    for (const p of this.producers.values()) {
      const id = p.member.memberId;
      const speaking = this.selector.isSpeaking(p.id, now);
      if (speaking === this.speakingNow.has(id)) continue;
      if (speaking) this.speakingNow.add(id);
      else this.speakingNow.delete(id);
      this.host.speaking(this, id, speaking);
    }
  }

  private applySelection(selected: string[], deselected: string[]): void {
    if (selected.length === 0 && deselected.length === 0) return;
    for (const id of [...selected, ...deselected]) {
      const p = this.producers.get(id);
      if (!p) continue;
      for (const c of p.consumers) void this.applyConsumer(c);
      const b = p.bridgeConsumer;
      if (b) void this.applyBridge(b, !this.selector.isSelected(id));
    }
    this.host.speakers(
      this,
      this.selector.selected.flatMap((id) => {
        const p = this.producers.get(id);
        return p ? [p.member.memberId] : [];
      }),
    );
  }

  private async applyConsumer(c: ConsumerRecord): Promise<void> {
    const paused = c.clientPaused || !this.selector.isSelected(c.producer.id);
    if (paused === c.paused || c.consumer.closed) return;
    c.paused = paused;
    if (!c.clientPaused) this.host.counters.selectionChanges++;
    try {
      await (paused ? c.consumer.pause() : c.consumer.resume());
      this.host.consumerPaused(c);
    } catch (e) {
      this.host.logger.warn({ room: this.name, consumerId: c.id, err: e }, 'consumer pause/resume');
    }
  }

  private async applyBridge(b: BridgeConsumer, paused: boolean): Promise<void> {
    if (paused === b.paused || b.consumer.closed) return;
    b.paused = paused;
    if (!paused) b.resumed = true;
    this.host.counters.selectionChanges++;
    try {
      await (paused ? b.consumer.pause() : b.consumer.resume());
    } catch (e) {
      this.host.logger.warn({ room: this.name, err: e }, 'bridge consumer pause/resume');
    }
  }
}
