import type { EncodedEvent, Participant } from '@concord/protocol';
import type { RoomCursor } from '../cluster/cursor.js';
import type { ReplayBuffer, ReplayLimits } from './ReplayBuffer.js';

/** A participant of a room together with the session that holds the membership. */
export interface RoomMember extends Participant {
  /** Owning session (never sent to other clients). */
  sessionId: string;
}

/** What the store keeps of a session (enough for another node to resume it). */
export interface SessionRecord {
  sessionId: string;
  userId: string;
  name: string;
  /** Room patterns the session's token allows. */
  allowedRooms: string[];
  /** Token expiry, seconds since the epoch. */
  expiresAt: number;
}

/** What {@link StateStore.addMember} returns. */
export interface AddMemberResult {
  /** The room's members after the join, in join order. */
  members: RoomMember[];
  /** The same user's earlier membership, removed by this join. */
  replaced?: RoomMember;
  /** The member as stored (a cluster store may have given it another ssrc). */
  member?: RoomMember;
  /** The room's event position at the join (cluster stores). */
  cursor?: RoomCursor;
}

/** Voice-state fields a member may change. */
export type MemberPatch = Partial<Pick<Participant, 'muted' | 'deafened' | 'speaking' | 'webrtc'>>;

/**
 * Shared gateway state: sessions, room membership and replay buffers. The in-memory store is
 * the embedded default; a Redis-backed one implements the same contract so the session logic
 * never changes when a deployment scales out. Methods are async so a networked store fits.
 */
export interface StateStore {
  /** Creates or replaces a session record. */
  putSession(record: SessionRecord): Promise<void>;
  /** The session record, if it still exists. */
  getSession(sessionId: string): Promise<SessionRecord | undefined>;
  /** Deletes a session record and its replay buffer. */
  deleteSession(sessionId: string): Promise<void>;

  /**
   * Adds `member` to `room`. When the same user is already in the room through another
   * session, that membership is removed and returned as `replaced`. A shared store may store
   * another ssrc than the one asked for (unique per room across nodes): it returns the member
   * as stored, and the room's event position at the join (`cursor`: the joiner's room events
   * start after it).
   */
  addMember(room: string, member: RoomMember): Promise<AddMemberResult>;
  /** Removes a session's membership; returns it when it existed. */
  removeMember(room: string, sessionId: string): Promise<RoomMember | undefined>;
  /** Changes a member's voice state; returns the updated member when it exists. */
  updateMember(
    room: string,
    sessionId: string,
    patch: MemberPatch,
  ): Promise<RoomMember | undefined>;
  /** Members of a room, in join order. */
  members(room: string): Promise<RoomMember[]>;

  /**
   * The replay buffer of a session, created on first use with `limits`. It keeps each event
   * encoded once (shared by every recipient) and the session stamps seqs when replaying.
   */
  replayBuffer(sessionId: string, limits: ReplayLimits): ReplayBuffer<EncodedEvent>;

  /** Releases connections and timers (idempotent). */
  close(): Promise<void>;
}
