import { Op, type DispatchMessage, type Participant as WireParticipant } from '@concord/protocol';
import type { GatewayConnection } from '../connection/GatewayConnection.js';
import { InvalidStateError } from '../errors.js';
import { getLogger } from '../logger.js';
import type { ConnectionQuality } from '../stats/connectionQuality.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { Participant, type VoiceState } from './Participant.js';
import type { Position } from '../media/spatialScene.js';

/** How a room reaches the client's audio (set by VoiceClient). */
export interface RoomAudioHooks {
  /** The local user muted/unmuted in this room: mute the microphone too. */
  setCaptureMuted(muted: boolean): void;
  /** Applies a remote participant's playback volume. */
  setVolume(userId: string, volume: number): void;
  /** A remote participant is gone: release its playback. */
  released(userId: string): void;
  /** Places a remote participant for spatial audio (metres), or clears its position. */
  setPosition?(userId: string, position: Position | undefined): void;
  /** This client's voice state in `room` changed (WebRTC pauses its producer / tracks). */
  voiceStateChanged?(room: string, state: VoiceState): void;
}

/** Room lifecycle. */
export type RoomState = 'joined' | 'rejoining' | 'left';

/** Events of a {@link Room}. */
export type RoomEvents = {
  /** Someone else joined. */
  participantJoined: [participant: Participant];
  /** Someone else left. */
  participantLeft: [participant: Participant];
  /** Someone's muted/deafened state changed (this client's own included). */
  voiceStateChanged: [participant: Participant, state: VoiceState];
  /** Someone started or stopped speaking. */
  speakingChanged: [participant: Participant, speaking: boolean];
  /**
   * Someone's connection quality changed: a remote participant's stream as received here, or
   * (for the local participant) this client's uplink as the others report it.
   */
  connectionQualityChanged: [
    participant: Participant,
    quality: ConnectionQuality,
    previous: ConnectionQuality,
  ];
  /** Room lifecycle transitions. */
  stateChange: [previous: RoomState, next: RoomState];
  /** A participant's voice moved between WebRTC and the WebSocket (this client's too). */
  mediaPathChanged: [participant: Participant, path: 'webrtc' | 'websocket'];
  /** This client is no longer in the room (`reason`: requested, replaced, disconnected…). */
  left: [reason: string];
};

/**
 * A voice room this client has joined: its participants and this client's voice state in it.
 * Created by `VoiceClient.join()`. Main thread.
 */
export class Room extends TypedEmitter<RoomEvents> {
  private readonly members = new Map<string, Participant>();
  /** The same participants by ssrc (those whose ssrc is known), for SPEAKING/VOICE_STATE_UPDATE. */
  private readonly bySsrc = new Map<number, Participant>();
  private _state: RoomState = 'joined';
  private readonly log = getLogger('concord:room');
  private local: Participant;
  private rejoining: Promise<void> | undefined;
  private wanted: VoiceState = { muted: false, deafened: false };

  /** @internal Created by VoiceClient from the ROOM_JOINED reply. */
  constructor(
    /** Room name. */
    readonly name: string,
    private readonly connection: GatewayConnection,
    private readonly localUserId: string,
    participants: readonly WireParticipant[],
    private readonly onLeft: (room: Room) => void,
    private readonly audio?: RoomAudioHooks,
  ) {
    super();
    for (const p of participants) this.add(new Participant(p, p.userId === localUserId));
    this.local =
      this.members.get(localUserId) ??
      new Participant(
        { userId: localUserId, name: localUserId, muted: false, deafened: false, speaking: false },
        true,
      );
  }

  /** Lifecycle state. */
  get state(): RoomState {
    return this._state;
  }

  /** Everyone in the room, this client included, by user id. */
  get participants(): ReadonlyMap<string, Participant> {
    return this.members;
  }

  /** This client's own participant. */
  get localParticipant(): Participant {
    return this.local;
  }

  /** Everyone else. */
  get remoteParticipants(): Participant[] {
    return [...this.members.values()].filter((p) => !p.isLocal);
  }

  /**
   * Mutes or unmutes this client in the room; resolves once the server has applied it.
   * @throws {TypeError} for a non-boolean. @throws {InvalidStateError} after leaving.
   */
  async setMuted(muted: boolean): Promise<void> {
    if (typeof muted !== 'boolean') throw new TypeError('muted must be a boolean');
    // The microphone follows at once; the server's copy follows the request.
    this.audio?.setCaptureMuted(muted);
    this.audio?.voiceStateChanged?.(this.name, { muted, deafened: this.local.deafened });
    await this.updateVoiceState({ muted, deafened: this.local.deafened });
  }

  /**
   * Deafens or undeafens this client in the room.
   * @throws {TypeError} for a non-boolean. @throws {InvalidStateError} after leaving.
   */
  async setDeafened(deafened: boolean): Promise<void> {
    if (typeof deafened !== 'boolean') throw new TypeError('deafened must be a boolean');
    this.audio?.voiceStateChanged?.(this.name, { muted: this.local.muted, deafened });
    await this.updateVoiceState({ muted: this.local.muted, deafened });
  }

  /**
   * Announces that this client started/stopped speaking (normally driven by the VAD).
   * Fire-and-forget: an update lost in a reconnect is superseded by the next.
   */
  setSpeaking(speaking: boolean): void {
    if (typeof speaking !== 'boolean') throw new TypeError('speaking must be a boolean');
    this.assertJoined();
    if (this.local.speaking === speaking) return;
    this.local.speaking = speaking;
    this.connection.send({ op: Op.Speaking, d: { room: this.name, speaking } });
    this.safeEmit('speakingChanged', this.local, speaking);
  }

  /** Leaves the room (idempotent once left). */
  async leave(): Promise<void> {
    if (this._state === 'left') return;
    await this.connection.request((req) => ({ op: Op.LeaveRoom, d: { req, room: this.name } }));
    this.markLeft('requested');
  }

  private async updateVoiceState(state: VoiceState): Promise<void> {
    this.assertJoined();
    // While rejoining after a lost session the server does not know this room yet: remember
    // the wish; the rejoin applies it once the room is back.
    if (this.rejoining) {
      this.wanted = state;
      await this.rejoining;
      this.assertJoined();
      return;
    }
    await this.connection.request((req) => ({
      op: Op.UpdateVoiceState,
      d: { req, room: this.name, ...state },
    }));
  }

  private assertJoined(): void {
    if (this._state === 'left') throw new InvalidStateError(`room "${this.name}" was left`);
  }

  /**
   * @internal The participant whose membership of this room has stream id `ssrc` (unique per
   * membership across rooms), if any.
   */
  participantBySsrc(ssrc: number): Participant | undefined {
    return this.bySsrc.get(ssrc);
  }

  /** @internal Sets a participant's connection quality (from the media receiver/sender). */
  setConnectionQuality(userId: string, quality: ConnectionQuality): void {
    const p = this.members.get(userId);
    if (!p || p.connectionQuality === quality) return;
    const previous = p.connectionQuality;
    p.connectionQuality = quality;
    this.safeEmit('connectionQualityChanged', p, quality, previous);
  }

  /** @internal Applies a dispatch addressed to this room. */
  handleDispatch(m: DispatchMessage): void {
    switch (m.t) {
      case 'PARTICIPANT_JOINED': {
        const existing = this.members.get(m.d.participant.userId);
        if (existing) {
          this.apply(existing, m.d.participant);
          return;
        }
        const p = this.add(
          new Participant(m.d.participant, m.d.participant.userId === this.localUserId),
        );
        if (!p.isLocal) this.safeEmit('participantJoined', p);
        return;
      }
      case 'PARTICIPANT_LEFT': {
        const p = this.members.get(m.d.userId);
        if (!p || p.isLocal) return;
        this.remove(p);
        this.safeEmit('participantLeft', p);
        return;
      }
      case 'VOICE_STATE_UPDATE': {
        const p = this.memberOf(m);
        if (p) this.apply(p, { muted: m.d.muted, deafened: m.d.deafened });
        return;
      }
      case 'MEDIA_PATH_UPDATE': {
        const p = this.memberOf(m);
        const path = m.d.webrtc ? 'webrtc' : 'websocket';
        if (p && p.mediaPath !== path) {
          p.mediaPath = path;
          this.safeEmit('mediaPathChanged', p, path);
        }
        return;
      }
      case 'SPEAKING': {
        const p = this.memberOf(m);
        if (p && !p.isLocal && p.speaking !== m.d.speaking) {
          p.speaking = m.d.speaking;
          this.safeEmit('speakingChanged', p, m.d.speaking);
        }
        return;
      }
      case 'ROOM_LEFT':
        if (m.d.req === 0) this.markLeft(m.d.reason);
        return;
      default:
        return;
    }
  }

  /** The participant an event names by ssrc; an unknown ssrc is logged and ignored. */
  private memberOf(
    m: Extract<DispatchMessage, { t: 'SPEAKING' | 'VOICE_STATE_UPDATE' | 'MEDIA_PATH_UPDATE' }>,
  ): Participant | undefined {
    const p = this.bySsrc.get(m.d.ssrc);
    if (!p)
      this.log.debug('event for an unknown ssrc ignored', {
        room: this.name,
        t: m.t,
        ssrc: m.d.ssrc,
      });
    return p;
  }

  /** @internal The session was replaced: rejoin and reconcile the member list. */
  async rejoin(): Promise<void> {
    if (this._state === 'left') return;
    if (this.rejoining) return this.rejoining;
    this.wanted = { muted: this.local.muted, deafened: this.local.deafened };
    this.rejoining = this.doRejoin().finally(() => (this.rejoining = undefined));
    return this.rejoining;
  }

  private async doRejoin(): Promise<void> {
    this.setState('rejoining');
    try {
      const reply = await this.connection.request((req) => ({
        op: Op.JoinRoom,
        d: { req, room: this.name },
      }));
      if (reply.t !== 'ROOM_JOINED') return;
      this.reconcile(reply.d.participants);
      this.setState('joined');
      const wanted = this.wanted;
      if (wanted.muted || wanted.deafened) {
        await this.connection.request((req) => ({
          op: Op.UpdateVoiceState,
          d: { req, room: this.name, ...wanted },
        }));
      }
    } catch (err) {
      this.log.warn('rejoin failed', { room: this.name, err });
      this.markLeft('rejoin failed');
    }
  }

  /** @internal The connection closed for good. */
  markLeft(reason: string): void {
    if (this._state === 'left') return;
    this.setState('left');
    this.onLeft(this);
    this.safeEmit('left', reason);
  }

  private add(p: Participant): Participant {
    this.members.set(p.userId, p);
    if (p.ssrc !== 0) this.bySsrc.set(p.ssrc, p);
    if (!p.isLocal && this.audio) {
      p.volumeSink = (userId, v) => this.audio?.setVolume(userId, v);
      p.positionSink = (userId, pos) => this.audio?.setPosition?.(userId, pos);
    }
    return p;
  }

  private remove(p: Participant): void {
    this.members.delete(p.userId);
    if (this.bySsrc.get(p.ssrc) === p) this.bySsrc.delete(p.ssrc);
    p.volumeSink = undefined;
    p.positionSink = undefined;
    this.audio?.released(p.userId);
  }

  private reconcile(list: readonly WireParticipant[]): void {
    const seen = new Set<string>();
    for (const w of list) {
      seen.add(w.userId);
      const p = this.members.get(w.userId);
      if (p) this.apply(p, w);
      else {
        const np = this.add(new Participant(w, w.userId === this.localUserId));
        if (np.isLocal) this.local = np;
        else this.safeEmit('participantJoined', np);
      }
    }
    for (const [id, p] of this.members) {
      if (!seen.has(id) && !p.isLocal) {
        this.remove(p);
        this.safeEmit('participantLeft', p);
      }
    }
  }

  private apply(p: Participant, w: Partial<WireParticipant>): void {
    const before = { muted: p.muted, deafened: p.deafened, speaking: p.speaking, ssrc: p.ssrc };
    const changed = p.apply(w);
    if (p.ssrc !== before.ssrc) {
      // A new membership (rejoin, another session of the same user): its events name the new ssrc.
      if (this.bySsrc.get(before.ssrc) === p) this.bySsrc.delete(before.ssrc);
      if (p.ssrc !== 0) this.bySsrc.set(p.ssrc, p);
    }
    if (!changed) return;
    if (before.muted !== p.muted || before.deafened !== p.deafened)
      this.safeEmit('voiceStateChanged', p, { muted: p.muted, deafened: p.deafened });
    if (before.speaking !== p.speaking) this.safeEmit('speakingChanged', p, p.speaking);
  }

  private setState(next: RoomState): void {
    const prev = this._state;
    if (prev === next) return;
    this._state = next;
    this.safeEmit('stateChange', prev, next);
  }
}
