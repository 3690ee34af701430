import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from './MemoryStateStore.js';
import type { RoomMember } from './StateStore.js';

const member = (sessionId: string, userId: string): RoomMember => ({
  sessionId,
  userId,
  ssrc: 0x1000 + Number(sessionId.replace(/\D/g, '') || 0),
  name: userId,
  muted: false,
  deafened: false,
  speaking: false,
  webrtc: false,
});

const LIMITS = { maxEvents: 10, maxBytes: 1_000 };

describe('MemoryStateStore', () => {
  it('keeps members in join order and returns copies, not live records', async () => {
    const store = new MemoryStateStore();
    await store.addMember('r', member('s1', 'a'));
    const { members } = await store.addMember('r', member('s2', 'b'));
    expect(members.map((m) => m.userId)).toEqual(['a', 'b']);
    members[0]!.muted = true;
    expect((await store.members('r'))[0]!.muted).toBe(false);
    const updated = await store.updateMember('r', 's1', { muted: true, speaking: true });
    expect(updated).toMatchObject({ userId: 'a', muted: true, deafened: false, speaking: true });
    updated!.deafened = true;
    expect((await store.members('r'))[0]).toMatchObject({ muted: true, deafened: false });
  });

  it('replaces the same user’s membership from another session', async () => {
    const store = new MemoryStateStore();
    await store.addMember('r', member('s1', 'a'));
    await store.addMember('r', member('s2', 'b'));
    const { members, replaced } = await store.addMember('r', member('s3', 'a'));
    expect(replaced?.sessionId).toBe('s1');
    expect(members.map((m) => `${m.sessionId}:${m.userId}`)).toEqual(['s2:b', 's3:a']);
    expect(await store.removeMember('r', 's1')).toBeUndefined();
    expect(await store.updateMember('r', 's1', { muted: true })).toBeUndefined();
  });

  it('forgets a room when its last member leaves', async () => {
    const store = new MemoryStateStore();
    await store.addMember('r', member('s1', 'a'));
    expect((await store.removeMember('r', 's1'))?.userId).toBe('a');
    expect(await store.members('r')).toEqual([]);
    expect(await store.removeMember('r', 's1')).toBeUndefined();
    expect(await store.removeMember('nowhere', 's1')).toBeUndefined();
  });

  it('keeps one replay buffer per session until the session is deleted', async () => {
    const store = new MemoryStateStore();
    await store.putSession({
      sessionId: 's1',
      userId: 'a',
      name: 'a',
      allowedRooms: ['*'],
      expiresAt: 0,
    });
    const buffer = store.replayBuffer('s1', LIMITS);
    buffer.append(1, { code: 6, fieldCount: 1, body: new Uint8Array([1]) });
    expect(buffer.byteLength).toBe(5);
    expect(store.replayBuffer('s1', LIMITS)).toBe(buffer);
    expect((await store.getSession('s1'))?.userId).toBe('a');
    await store.deleteSession('s1');
    expect(await store.getSession('s1')).toBeUndefined();
    expect(store.replayBuffer('s1', LIMITS)).not.toBe(buffer);
    expect(store.replayBuffer('s1', LIMITS).size).toBe(0);
  });
});
