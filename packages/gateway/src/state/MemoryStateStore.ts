import type { EncodedEvent } from '@concord/protocol';
import { ReplayBuffer, type ReplayLimits } from './ReplayBuffer.js';
import type { MemberPatch, RoomMember, SessionRecord, StateStore } from './StateStore.js';

/**
 * The embedded {@link StateStore}: everything in this process's memory. Right for one
 * gateway process; sessions do not survive a restart.
 */
export class MemoryStateStore implements StateStore {
  /** Each session's record and, once asked for, its replay buffer (one map entry per session). */
  private readonly sessions = new Map<
    string,
    { record: SessionRecord | undefined; replay: ReplayBuffer<EncodedEvent> | undefined }
  >();
  private readonly rooms = new Map<string, Map<string, RoomMember>>();

  async putSession(record: SessionRecord): Promise<void> {
    const entry = this.sessions.get(record.sessionId);
    if (entry) entry.record = record;
    else this.sessions.set(record.sessionId, { record, replay: undefined });
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    return this.sessions.get(sessionId)?.record;
  }

  async deleteSession(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  async addMember(
    room: string,
    member: RoomMember,
  ): Promise<{ members: RoomMember[]; replaced?: RoomMember }> {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    let replaced: RoomMember | undefined;
    for (const [sessionId, m] of members) {
      if (m.userId === member.userId && sessionId !== member.sessionId) {
        replaced = m;
        members.delete(sessionId);
        break;
      }
    }
    members.set(member.sessionId, { ...member });
    const list = [...members.values()].map((m) => ({ ...m }));
    return replaced ? { members: list, replaced } : { members: list };
  }

  async removeMember(room: string, sessionId: string): Promise<RoomMember | undefined> {
    const members = this.rooms.get(room);
    const member = members?.get(sessionId);
    if (!members || !member) return undefined;
    members.delete(sessionId);
    if (members.size === 0) this.rooms.delete(room);
    return member;
  }

  async updateMember(
    room: string,
    sessionId: string,
    patch: MemberPatch,
  ): Promise<RoomMember | undefined> {
    const member = this.rooms.get(room)?.get(sessionId);
    if (!member) return undefined;
    Object.assign(member, patch);
    return { ...member };
  }

  async members(room: string): Promise<RoomMember[]> {
    return [...(this.rooms.get(room)?.values() ?? [])].map((m) => ({ ...m }));
  }

  replayBuffer(sessionId: string, limits: ReplayLimits): ReplayBuffer<EncodedEvent> {
    let entry = this.sessions.get(sessionId);
    if (!entry) this.sessions.set(sessionId, (entry = { record: undefined, replay: undefined }));
    return (entry.replay ??= new ReplayBuffer<EncodedEvent>(limits, encodedSize));
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.rooms.clear();
  }
}

/** Bytes an event counts against a replay buffer: its payload and a few bytes of header. */
export const encodedSize = (e: EncodedEvent): number => e.body.length + 4;
