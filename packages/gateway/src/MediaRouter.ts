import type { DispatchEvents, EventName, MediaPathName } from '@concord/protocol';
import type { Logger } from './logger.js';
import type { MediaRelay, RelayMember } from './MediaRelay.js';
import type { GatewayMetrics } from './metrics.js';
import type { Session } from './Session.js';
import { SfuError, type Sfu, type SfuProducerEvent, type UplinkReport } from './sfu/index.js';

/** What the {@link MediaRouter} needs from the room layer above it. */
export interface MediaRouterHost {
  /** Sends one event to one session. */
  send<K extends EventName>(session: Session, t: K, d: DispatchEvents[K]): void;
  /** Records a member's media path and tells the room (MEDIA_PATH_UPDATE). */
  pathChanged(session: Session, room: string, webrtc: boolean): Promise<void>;
  /** A session of this node by id. */
  sessionById(id: string): Session | undefined;
}

/** Why a WebRTC request failed, as REQUEST_ERROR's `code` (the SFU's codes without their prefix). */
export type MediaRequestError =
  'WEBRTC_UNAVAILABLE' | 'NOT_IN_ROOM' | 'INVALID_PARAMETERS' | `SFU_${string}`;

/** What SET_MEDIA_PATH `webrtc` answers (WEBRTC_TRANSPORTS without its `req`). */
export type WebRtcTransportsReply = Omit<DispatchEvents['WEBRTC_TRANSPORTS'], 'req'>;

/** A WebRTC membership's signalling state. */
interface WebRtcMember {
  readonly room: string;
  readonly session: Session;
  sendTransportId: string | undefined;
  recvTransportId: string | undefined;
  /** The client's RTP capabilities once it asked to consume (WEBRTC_CONSUME). */
  rtpCapabilities: unknown;
  /** consumer id → producer id. */
  readonly consumers: Map<string, string>;
}

/** A room with at least one WebRTC member: its SFU room is open and bridged. */
interface BridgedRoom {
  readonly name: string;
  /** WebRTC members by session id. */
  readonly webrtc: Map<string, WebRtcMember>;
}

/**
 * The media plane behind one interface: the WebSocket relay ({@link MediaRelay}) for every
 * room, and — when the SFU is available and a member asks for it — mediasoup for WebRTC
 * members. A room opens in the SFU with its first WebRTC member: from then on its WebSocket
 * members are bridged (their frames become RTP of a producer each, and the WebRTC producers'
 * RTP comes back as frames for the relay), with the same Opus payloads both ways, until its last
 * WebRTC member leaves. Rooms, SPEAKING and voice state stay above, the same for both paths.
 * Operations on one room are serialised. Main thread.
 */
export class MediaRouter {
  /** Set by the gateway after the room layer exists. */
  host: MediaRouterHost | undefined;
  private sfu: Sfu | undefined;
  private readonly bridged = new Map<string, BridgedRoom>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly relay: MediaRelay,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Whether WebRTC can be offered now (the SFU runs). */
  get webrtcAvailable(): boolean {
    return this.sfu !== undefined;
  }

  /** The SFU, once attached. */
  get sfuInstance(): Sfu | undefined {
    return this.sfu;
  }

  /** Starts offering WebRTC through `sfu` (once; the gateway calls it when mediasoup is ready). */
  attachSfu(sfu: Sfu): void {
    if (this.sfu) throw new Error('an SFU is already attached');
    this.sfu = sfu;
    sfu.on('producerOpened', (p) => this.onProducerOpened(p));
    sfu.on('producerClosed', (p) => this.onProducerClosed(p));
    sfu.on('frame', (room, memberId, frame) => this.onSfuFrame(room, memberId, frame));
    sfu.on('memberReset', (room, memberId) => this.onMemberReset(room, memberId));
    sfu.on('uplinkReport', (room, memberId, r) => this.onUplinkReport(room, memberId, r));
    sfu.on('workerDied', (index, pid) => {
      this.metrics.sfuWorkerDeaths.inc();
      this.logger.error({ index, pid }, 'mediasoup worker died: restarting it');
    });
    sfu.on('workerRestarted', (index, pid) =>
      this.logger.info({ index, pid }, 'mediasoup worker restarted'),
    );
    sfu.on('roomRebuilt', (room) => this.logger.info({ room }, 'SFU room rebuilt'));
    this.metrics.observeSfu(sfu);
  }

  // ---- membership (RoomService) ----

  /** A fresh stream id (see {@link MediaRelay.allocateSsrc}). */
  allocateSsrc(): number {
    return this.relay.allocateSsrc();
  }

  /** Registers `session`'s membership of `room` (WebSocket path) with stream `ssrc`. */
  add(session: Session, room: string, ssrc: number): void {
    this.relay.add(session, room, ssrc);
    if (this.bridged.has(room)) {
      this.serialise(room, () => this.joinBridge(room, session, ssrc)).catch((err: unknown) =>
        this.logger.warn({ err, room }, 'bridging a WebSocket member into the SFU failed'),
      );
    }
  }

  /** Removes `session`'s membership of `room` from the relay and the SFU (idempotent). */
  remove(session: Session, room: string): void {
    this.relay.remove(session, room);
    const r = this.bridged.get(room);
    if (!r || !this.sfu) return;
    this.serialise(room, async () => {
      const wasWebRtc = r.webrtc.delete(session.id);
      if (wasWebRtc) this.metrics.webrtcMembers.dec();
      await this.sfu?.leave(room, session.id);
      if (wasWebRtc && r.webrtc.size === 0) await this.closeBridge(r);
    }).catch((err: unknown) => this.logger.warn({ err, room }, 'leaving the SFU failed'));
  }

  /** Records a member's muted/deafened state. */
  setVoiceState(session: Session, room: string, state: { muted: boolean; deafened: boolean }) {
    this.relay.setVoiceState(session, room, state);
  }

  /** The membership that owns `ssrc` on this node. */
  ownerOf(ssrc: number): RelayMember | undefined {
    return this.relay.ownerOf(ssrc);
  }

  /** Relays one WebSocket-path media frame (see {@link MediaRelay.relay}); bridged into the SFU. */
  relayFrame(session: Session, frame: Uint8Array): void {
    this.relay.relay(session, frame);
  }

  // ---- signalling (Connection) ----

  /**
   * Moves `session`'s membership of `room` to `path`. For `webrtc`, resolves with what the
   * client needs (WEBRTC_TRANSPORTS); for `websocket`, with undefined.
   */
  async setPath(
    session: Session,
    room: string,
    path: MediaPathName,
  ): Promise<WebRtcTransportsReply | undefined> {
    const member = this.relay.memberOf(session, room);
    if (!member) throw requestError('NOT_IN_ROOM', `not in room ${room}`);
    if (path === 'websocket') {
      await this.serialise(room, () => this.toWebSocket(room, session, member));
      return undefined;
    }
    const sfu = this.sfu;
    if (!sfu) throw requestError('WEBRTC_UNAVAILABLE', 'this gateway offers no WebRTC (yet)');
    return this.serialise(room, () => this.toWebRtc(sfu, room, session, member));
  }

  /** Connects one of the membership's transports. */
  async connect(session: Session, room: string, transportId: string, dtls: string) {
    const sfu = this.requireWebRtc(session, room).sfu;
    await sfuCall(() => sfu.connectTransport(session.id, transportId, parseJson(dtls)));
  }

  /** Produces the membership's audio; resolves with the producer id. */
  async produce(session: Session, room: string, transportId: string, rtp: string) {
    const sfu = this.requireWebRtc(session, room).sfu;
    const { producerId } = await sfuCall(() =>
      sfu.produce(session.id, transportId, 'audio', parseJson(rtp)),
    );
    return producerId;
  }

  /**
   * Records the client's RTP capabilities and creates its consumers of every producer of the
   * room (WEBRTC_CONSUMER each), then of every producer that appears.
   */
  async consume(session: Session, room: string, capabilities: string): Promise<void> {
    const { sfu, member } = this.requireWebRtc(session, room);
    const caps = parseJson(capabilities);
    member.rtpCapabilities = caps;
    for (const p of sfu.producersOf(room, session.id)) await this.consumeOne(member, p);
  }

  /** The client side of a consumer is ready: forward it (while among the room's top N). */
  async resume(session: Session, room: string, consumerId: string): Promise<void> {
    const { sfu } = this.requireWebRtc(session, room);
    await sfuCall(() => sfu.resumeConsumer(session.id, consumerId));
  }

  // ---- internals ----

  private requireWebRtc(session: Session, room: string): { sfu: Sfu; member: WebRtcMember } {
    const member = this.bridged.get(room)?.webrtc.get(session.id);
    if (!this.sfu || !member)
      throw requestError('SFU_WRONG_MEDIA_PATH', `room ${room} is not on the WebRTC path`);
    return { sfu: this.sfu, member };
  }

  private async toWebRtc(
    sfu: Sfu,
    room: string,
    session: Session,
    relayMember: RelayMember,
  ): Promise<WebRtcTransportsReply> {
    // From here its WebSocket frames are no longer relayed nor bridged.
    relayMember.webrtc = true;
    let r = this.bridged.get(room);
    if (!r) {
      r = { name: room, webrtc: new Map() };
      this.bridged.set(room, r);
      await this.openBridge(sfu, r);
    } else if (r.webrtc.has(session.id)) {
      // Asked again (e.g. after WEBRTC_RESET): start over with fresh transports.
      r.webrtc.delete(session.id);
      await sfuCall(() => sfu.leave(room, session.id));
    } else {
      // A bridged WebSocket member: its bridge producer gives way to a WebRTC one.
      await sfuCall(() => sfu.leave(room, session.id));
    }
    const member: WebRtcMember = {
      room,
      session,
      sendTransportId: undefined,
      recvTransportId: undefined,
      rtpCapabilities: undefined,
      consumers: new Map(),
    };
    r.webrtc.set(session.id, member);
    try {
      await sfuCall(() => sfu.join(room, session.id, relayMember.ssrc, 'webrtc'));
      const send = await sfuCall(() => sfu.createTransport(room, session.id, 'send'));
      const recv = await sfuCall(() => sfu.createTransport(room, session.id, 'recv'));
      member.sendTransportId = send.id;
      member.recvTransportId = recv.id;
      const capabilities = await sfuCall(() => sfu.rtpCapabilities());
      await this.host?.pathChanged(session, room, true);
      this.metrics.webrtcMembers.inc();
      return {
        room,
        rtpCapabilities: JSON.stringify(capabilities),
        sendTransport: JSON.stringify(send),
        recvTransport: JSON.stringify(recv),
      };
    } catch (err) {
      // Nothing half-done stays: back on the WebSocket path.
      r.webrtc.delete(session.id);
      relayMember.webrtc = false;
      await sfu.leave(room, session.id).catch(() => undefined);
      if (r.webrtc.size === 0) await this.closeBridge(r);
      else await this.joinBridge(room, session, relayMember.ssrc).catch(() => undefined);
      throw err;
    }
  }

  private async toWebSocket(room: string, session: Session, relayMember: RelayMember) {
    const r = this.bridged.get(room);
    const member = r?.webrtc.get(session.id);
    if (!r || !member) return; // already there
    r.webrtc.delete(session.id);
    relayMember.webrtc = false;
    this.metrics.webrtcMembers.dec();
    await this.sfu?.leave(room, session.id).catch(() => undefined);
    if (r.webrtc.size === 0) await this.closeBridge(r);
    else await this.joinBridge(room, session, relayMember.ssrc);
    await this.host?.pathChanged(session, room, false);
  }

  // Opens the room in the SFU: every WebSocket member gets a bridge producer, and the relay
  // hands the room's admitted WebSocket frames to it.
  private async openBridge(sfu: Sfu, r: BridgedRoom): Promise<void> {
    const relayRoom = this.relay.room(r.name);
    if (!relayRoom) return;
    relayRoom.bridge = (member, frame) => {
      if (member.webrtc) return;
      try {
        sfu.pushFrame(r.name, member.session.id, frame);
      } catch {
        // Not (yet, or no longer) in the SFU room: a member whose bridge producer is being set
        // up, or one leaving. The frame still reaches the WebSocket listeners.
        this.metrics.media.dropped.bridge++;
      }
    };
    for (const m of relayRoom.members)
      if (!m.webrtc) await this.joinBridge(r.name, m.session, m.ssrc).catch(() => undefined);
    this.logger.info({ room: r.name }, 'room bridged into the SFU');
  }

  private async closeBridge(r: BridgedRoom): Promise<void> {
    if (this.bridged.get(r.name) !== r) return;
    this.bridged.delete(r.name);
    const relayRoom = this.relay.room(r.name);
    if (relayRoom) {
      relayRoom.bridge = undefined;
      for (const m of relayRoom.members)
        await this.sfu?.leave(r.name, m.session.id).catch(() => undefined);
    }
    this.logger.info({ room: r.name }, 'room left the SFU: WebSocket relay only');
  }

  private async joinBridge(room: string, session: Session, ssrc: number): Promise<void> {
    if (!this.sfu || !this.bridged.has(room)) return;
    await sfuCall(() => this.sfu!.join(room, session.id, ssrc, 'websocket'));
  }

  private async consumeOne(member: WebRtcMember, p: SfuProducerEvent): Promise<void> {
    const sfu = this.sfu;
    if (!sfu || member.recvTransportId === undefined || member.rtpCapabilities === undefined)
      return;
    if (p.memberId === member.session.id) return;
    try {
      const c = await sfu.consume(
        member.session.id,
        member.recvTransportId,
        p.producerId,
        member.rtpCapabilities,
      );
      member.consumers.set(c.id, p.producerId);
      this.host?.send(member.session, 'WEBRTC_CONSUMER', {
        room: member.room,
        consumerId: c.id,
        producerId: p.producerId,
        ssrc: p.ssrc,
        rtpParameters: JSON.stringify(c.rtpParameters),
      });
    } catch (err) {
      this.logger.warn({ err, room: member.room }, 'creating a consumer failed');
    }
  }

  private onProducerOpened(p: SfuProducerEvent): void {
    const r = this.bridged.get(p.room);
    if (!r) return;
    for (const member of r.webrtc.values())
      if (member.session.id !== p.memberId)
        this.serialise(p.room, () => this.consumeOne(member, p)).catch(() => undefined);
  }

  private onProducerClosed(p: SfuProducerEvent): void {
    const r = this.bridged.get(p.room);
    if (!r) return;
    for (const member of r.webrtc.values()) {
      for (const [consumerId, producerId] of member.consumers) {
        if (producerId !== p.producerId) continue;
        member.consumers.delete(consumerId);
        this.host?.send(member.session, 'WEBRTC_CONSUMER_CLOSED', { room: p.room, consumerId });
      }
    }
  }

  private onSfuFrame(room: string, memberId: string, frame: Uint8Array): void {
    const session = this.host?.sessionById(memberId);
    const member = session && this.relay.memberOf(session, room);
    if (member) this.relay.forwardFromSfu(member, frame);
  }

  // What the SFU received of a WebRTC member's stream, as the RECEIVER_REPORT a listener sends
  // on the WebSocket path (`fromUserId` empty: the server itself): its bitrate controller's input.
  private onUplinkReport(room: string, memberId: string, r: UplinkReport): void {
    const member = this.bridged.get(room)?.webrtc.get(memberId);
    const relayMember = member && this.relay.memberOf(member.session, room);
    if (!member || !relayMember) return;
    this.host?.send(member.session, 'RECEIVER_REPORT', {
      room,
      fromUserId: '',
      ssrc: relayMember.ssrc,
      fractionLost: r.fractionLost,
      jitterMs: r.jitterMs,
      lostTotal: r.lostTotal,
    });
  }

  private onMemberReset(room: string, memberId: string): void {
    const member = this.bridged.get(room)?.webrtc.get(memberId);
    if (!member) return;
    member.consumers.clear();
    member.rtpCapabilities = undefined;
    member.sendTransportId = member.recvTransportId = undefined;
    this.metrics.sfuMemberResets.inc();
    this.host?.send(member.session, 'WEBRTC_RESET', { room, reason: 'media server restarted' });
  }

  // One room's SFU operations run one after another (a join must not overtake a path change).
  private serialise<T>(room: string, task: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(room) ?? Promise.resolve();
    const next = prev.then(task, task);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(room, settled);
    void settled.then(() => {
      if (this.queues.get(room) === settled) this.queues.delete(room);
    });
    return next;
  }
}

/** A WebRTC request the client got wrong or that cannot be served: REQUEST_ERROR `code`. */
export class MediaRequestFailure extends Error {
  constructor(
    readonly code: MediaRequestError,
    message: string,
  ) {
    super(message);
    this.name = 'MediaRequestFailure';
  }
}

function requestError(code: MediaRequestError, message: string): MediaRequestFailure {
  return new MediaRequestFailure(code, message);
}

// The SFU's typed errors become request errors (`CONCORD_ERR_SFU_NOT_OWNER` → `SFU_NOT_OWNER`).
async function sfuCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof SfuError)
      throw requestError(err.code.replace('CONCORD_ERR_', '') as MediaRequestError, err.message);
    throw err;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw requestError('INVALID_PARAMETERS', 'parameters are not valid JSON');
  }
}
