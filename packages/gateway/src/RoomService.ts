import type {
  DispatchEvents,
  EventName,
  FrameCodec,
  Participant,
  ProtocolLimits,
  ReceiverReport,
} from '@concord/protocol';
import { PARTICIPANT_PAGE_BYTES } from './config.js';
import type { Logger } from './logger.js';
import type { MediaRouter, MediaRouterHost } from './MediaRouter.js';
import type { Session } from './Session.js';
import { START, type RoomCursor } from './cluster/cursor.js';
import type { RoomBus, RoomEvent } from './state/RoomBus.js';
import type { MemberPatch, RoomMember, StateStore } from './state/StateStore.js';

/** Why a room request failed without ending the connection. */
export type RoomRequestError = 'ALREADY_IN_ROOM' | 'NOT_IN_ROOM' | 'TOO_MANY_ROOMS' | 'ROOM_FULL';

const toParticipant = ({
  sessionId: _s,
  ...p
}: RoomMember): DispatchEvents['PARTICIPANT_JOINED']['participant'] => p;

/**
 * Splits a member list into pages of at most `PARTICIPANT_PAGE_BYTES` encoded bytes (an upper
 * estimate per entry) and `maxItems` entries, so no event outgrows the frame limit. Always at
 * least one (possibly empty) page.
 */
export function pageParticipants(list: readonly Participant[], maxItems: number): Participant[][] {
  const pages: Participant[][] = [[]];
  let bytes = 0;
  for (const p of list) {
    // Strings at most 3 bytes per UTF-16 unit, plus headers, ssrc and three booleans.
    const size = 3 * (p.userId.length + p.name.length) + 16;
    let page = pages[pages.length - 1]!;
    if (page.length > 0 && (bytes + size > PARTICIPANT_PAGE_BYTES || page.length >= maxItems)) {
      pages.push((page = []));
      bytes = 0;
    }
    page.push(p);
    bytes += size;
  }
  return pages;
}
/**
 * Room membership and voice state: applies requests to the {@link StateStore} and fans the
 * resulting events out through the {@link RoomBus} to this node's sessions (delivered by the
 * bus itself when it keeps recipients, as the cluster's Redis bus does). Main thread.
 */
export class RoomService implements MediaRouterHost {
  /** This node's sessions per room (local delivery with an in-memory bus, room counts). */
  private readonly local = new Map<string, Set<Session>>();
  /**
   * Told, for each room event this node delivers, how long after its publish (on any node) it
   * got here, in ms (wall clocks: across machines their skew counts too).
   */
  onEventLatency: ((ms: number) => void) | undefined;
  /** Told when a room gains its first or loses its last member on this node (cluster links). */
  onLocalRoomChange: ((room: string, present: boolean) => void) | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly bus: RoomBus,
    private readonly codec: FrameCodec,
    private readonly limits: {
      maxRoomsPerSession: number;
      maxParticipantsPerRoom: number;
      limits: ProtocolLimits;
    },
    readonly sessionById: (id: string) => Session | undefined,
    private readonly logger: Logger,
    private readonly relay: MediaRouter,
  ) {
    const busDelivers = bus.addRecipient !== undefined;
    bus.subscribe((event) => {
      if (event.sentAtMs !== undefined) this.onEventLatency?.(Date.now() - event.sentAtMs);
      if (event.replacedSessionId !== undefined) this.replacedElsewhere(event);
      if (!busDelivers) this.deliver(event);
    });
  }

  /** Rooms with members on this node. */
  get localRooms(): IterableIterator<string> {
    return this.local.keys();
  }

  /**
   * Records `session`'s media path in `room` and tells everyone there (MEDIA_PATH_UPDATE);
   * implements {@link MediaRouterHost}.
   */
  async pathChanged(session: Session, room: string, webrtc: boolean): Promise<void> {
    if (!session.rooms.has(room)) return;
    const member = await this.store.updateMember(room, session.id, { webrtc });
    if (!member) return;
    this.publish({ room, t: 'MEDIA_PATH_UPDATE', d: { ssrc: member.ssrc, webrtc } });
  }

  /** Number of rooms with members on this node. */
  get localRoomCount(): number {
    return this.local.size;
  }

  /** Joins `session` to `room`: the joiner gets ROOM_JOINED, the others PARTICIPANT_JOINED. */
  async join(session: Session, req: number, room: string): Promise<RoomRequestError | undefined> {
    if (session.rooms.has(room)) return 'ALREADY_IN_ROOM';
    if (session.rooms.size >= this.limits.maxRoomsPerSession) return 'TOO_MANY_ROOMS';
    const existing = await this.store.members(room);
    if (
      existing.length >= this.limits.maxParticipantsPerRoom &&
      !existing.some((m) => m.userId === session.userId)
    ) {
      return 'ROOM_FULL';
    }
    session.rooms.add(room);
    const member: RoomMember = {
      sessionId: session.id,
      userId: session.userId,
      name: session.record.name,
      muted: false,
      deafened: false,
      speaking: false,
      ssrc: this.relay.allocateSsrc(),
      webrtc: false,
    };
    // Registered before the store await so the ssrc is reserved; the joiner learns it from its
    // own entry in ROOM_JOINED.
    this.relay.add(session, room, member.ssrc);
    let added: Awaited<ReturnType<StateStore['addMember']>>;
    try {
      added = await this.store.addMember(room, member);
    } catch (err) {
      // Nothing of a join the store did not record may stay behind.
      session.rooms.delete(room);
      this.relay.remove(session, room);
      throw err;
    }
    const { members, replaced } = added;
    if (added.member !== undefined && added.member.ssrc !== member.ssrc) {
      // A cluster store keeps ssrcs unique per room across nodes: it may have chosen another.
      this.relay.remove(session, room);
      member.ssrc = added.member.ssrc;
      this.relay.add(session, room, member.ssrc);
    }
    if (replaced) {
      // The same user joined from another session (a new tab, a crashed client): the newer one wins.
      const old = this.sessionById(replaced.sessionId);
      if (old) this.removeReplaced(old, room);
      this.publish({
        room,
        t: 'PARTICIPANT_LEFT',
        d: { room, userId: replaced.userId },
        excludeSessionId: session.id,
        replacedSessionId: replaced.sessionId,
      });
    }
    this.addLocal(session, room);
    // A large room's list goes out in pages; ROOM_JOINED carries the last one and completes it.
    const pages = pageParticipants(members.map(toParticipant), this.limits.limits.maxArrayLength);
    for (let i = 0; i < pages.length - 1; i++)
      this.send(session, 'ROOM_PARTICIPANTS', { room, participants: pages[i]! });
    this.send(session, 'ROOM_JOINED', { req, room, participants: pages[pages.length - 1]! });
    // Events after the join's position follow ROOM_JOINED, once each, in the room's order.
    await this.bus.addRecipient?.(room, session, added.cursor ?? START);
    this.publish({
      room,
      t: 'PARTICIPANT_JOINED',
      d: { room, participant: toParticipant(member) },
      excludeSessionId: session.id,
    });
    this.logger.debug({ room, userId: session.userId, members: members.length }, 'room joined');
    return undefined;
  }

  /** Removes `session` from `room`; `req` 0 means the server initiated it. */
  async leave(
    session: Session,
    req: number,
    room: string,
    reason = 'requested',
  ): Promise<RoomRequestError | undefined> {
    if (!session.rooms.delete(room)) return 'NOT_IN_ROOM';
    session.speakingIn.delete(room);
    this.relay.remove(session, room);
    this.removeLocal(session, room);
    const removed = await this.store.removeMember(room, session.id);
    if (req > 0 || reason !== 'session ended')
      this.send(session, 'ROOM_LEFT', { req, room, reason });
    if (removed) this.publish({ room, t: 'PARTICIPANT_LEFT', d: { room, userId: removed.userId } });
    return undefined;
  }

  /**
   * Applies a voice-state change and tells everyone in the room (the requester included),
   * naming the member by its ssrc in this room.
   */
  async updateVoiceState(
    session: Session,
    room: string,
    patch: Required<Pick<MemberPatch, 'muted' | 'deafened'>>,
  ): Promise<RoomRequestError | undefined> {
    if (!session.rooms.has(room)) return 'NOT_IN_ROOM';
    const member = await this.store.updateMember(room, session.id, patch);
    if (!member) return 'NOT_IN_ROOM';
    this.relay.setVoiceState(session, room, member);
    this.publish({
      room,
      t: 'VOICE_STATE_UPDATE',
      d: { ssrc: member.ssrc, muted: member.muted, deafened: member.deafened },
    });
    return undefined;
  }

  /**
   * Records speaking state and tells the others, naming the member by its ssrc in this room;
   * unchanged states are not re-sent.
   */
  async speaking(session: Session, room: string, speaking: boolean): Promise<void> {
    if (!session.rooms.has(room) || session.speakingIn.has(room) === speaking) return;
    if (speaking) session.speakingIn.add(room);
    else session.speakingIn.delete(room);
    const member = await this.store.updateMember(room, session.id, { speaking });
    if (!member) return;
    this.publish({
      room,
      t: 'SPEAKING',
      d: { ssrc: member.ssrc, speaking },
      excludeSessionId: session.id,
    });
  }

  /**
   * Relays a listener's reception statistics to the sender of each stream, when that stream
   * belongs to another member of `room` on this node (media is node-local, so a listener can
   * only have heard local streams). Other entries are ignored.
   */
  receiverReport(session: Session, room: string, reports: readonly ReceiverReport[]): void {
    if (!session.rooms.has(room)) return;
    for (const r of reports) {
      const owner = this.relay.ownerOf(r.ssrc);
      if (!owner || owner.session === session || owner.room.name !== room) continue;
      this.send(owner.session, 'RECEIVER_REPORT', {
        room,
        fromUserId: session.userId,
        ssrc: r.ssrc,
        fractionLost: r.fractionLost,
        jitterMs: r.jitterMs,
        lostTotal: r.lostTotal,
      });
    }
  }

  /** Leaves every room (session end). */
  async leaveAll(session: Session): Promise<void> {
    for (const room of [...session.rooms]) await this.leave(session, 0, room, 'session ended');
  }

  /**
   * Restores a membership of a session taken over from another node (a resume here): its
   * stream at once, and its room events after `cursor` (what it missed is dispatched first,
   * then what follows, in order). The returned promise settles once the bus has registered the
   * recipient; the resume need not wait for it (events queue per recipient, in order).
   */
  adoptMembership(session: Session, room: string, ssrc: number, cursor: RoomCursor): Promise<void> {
    session.rooms.add(room);
    this.relay.add(session, room, ssrc);
    this.addLocal(session, room);
    return this.bus.addRecipient?.(room, session, cursor) ?? Promise.resolve();
  }

  /**
   * Forgets `session` on this node without touching the store (it moved to another node, or
   * a rebuild could not restore a membership): stream, delivery and local room entries.
   */
  dropLocal(session: Session, room?: string): void {
    for (const r of room === undefined ? [...session.rooms] : [room]) {
      if (!session.rooms.delete(r)) continue;
      session.speakingIn.delete(r);
      this.relay.remove(session, r);
      this.removeLocal(session, r);
    }
  }

  /** Sends one event to one session. */
  send<K extends EventName>(session: Session, t: K, d: DispatchEvents[K]): void {
    session.dispatch(this.codec.encodeEvent(t, d), t);
  }

  private addLocal(session: Session, room: string): void {
    let set = this.local.get(room);
    if (!set) {
      this.local.set(room, (set = new Set()));
      this.onLocalRoomChange?.(room, true);
    }
    set.add(session);
  }

  private removeLocal(session: Session, room: string): void {
    this.bus.removeRecipient?.(room, session.id);
    const set = this.local.get(room);
    if (!set?.delete(session) || set.size > 0) return;
    this.local.delete(room);
    this.onLocalRoomChange?.(room, false);
  }

  private removeReplaced(old: Session, room: string): void {
    if (!old.rooms.delete(room)) return;
    old.speakingIn.delete(room);
    this.relay.remove(old, room);
    this.removeLocal(old, room);
    this.send(old, 'ROOM_LEFT', { req: 0, room, reason: 'replaced' });
  }

  // A member replaced by a join on another node may be held here.
  private replacedElsewhere(event: RoomEvent): void {
    const old = this.sessionById(event.replacedSessionId!);
    if (old) this.removeReplaced(old, event.room);
  }

  private publish(event: RoomEvent): void {
    event.sentAtMs = Date.now();
    this.bus.publish(event);
  }

  private deliver(event: RoomEvent): void {
    const set = this.local.get(event.room);
    if (!set || set.size === 0) return;
    // Encode once, stamp each recipient's seq.
    const encoded = this.codec.encodeEvent(event.t, event.d);
    for (const s of set) if (s.id !== event.excludeSessionId) s.dispatch(encoded, event.t);
  }
}
