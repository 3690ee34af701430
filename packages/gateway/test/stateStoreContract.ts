// The StateStore contract: the same tests run against every implementation (the in-memory
// store and the Redis store), so the session logic never notices which one it has.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RoomMember, StateStore } from '../src/state/StateStore.js';

/** A store under test and how to dispose of it. */
export interface ContractSubject {
  store: StateStore;
  dispose(): Promise<void>;
}

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
const ev = (n: number) => ({ code: 6, fieldCount: 1, body: new Uint8Array([n]) });

/** Registers the contract tests for the store `make` returns (a fresh one per test). */
export function describeStateStoreContract(
  name: string,
  make: () => Promise<ContractSubject>,
): void {
  describe(`StateStore contract: ${name}`, () => {
    let subject: ContractSubject;
    let store: StateStore;
    beforeEach(async () => {
      subject = await make();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.dispose();
    });

    it('keeps members in join order and returns copies, not live records', async () => {
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

    it('keeps join order across many members, leaves and rejoins', async () => {
      for (let i = 1; i <= 12; i++) await store.addMember('big', member(`s${i}`, `u${i}`));
      await store.removeMember('big', 's3');
      await store.removeMember('big', 's7');
      await store.addMember('big', member('s3', 'u3'));
      expect((await store.members('big')).map((m) => m.userId)).toEqual([
        'u1',
        'u2',
        'u4',
        'u5',
        'u6',
        'u8',
        'u9',
        'u10',
        'u11',
        'u12',
        'u3',
      ]);
    });

    it('stores every member field as given, unicode names included', async () => {
      const m: RoomMember = {
        ...member('s9', 'ü-9'),
        name: 'Zoë / 🎧 "quoted"',
        ssrc: 0xffff_fffe,
      };
      await store.addMember('r', m);
      expect(await store.members('r')).toEqual([m]);
      expect(await store.updateMember('r', 's9', { deafened: true })).toEqual({
        ...m,
        deafened: true,
      });
    });

    it('replaces the same user’s membership from another session', async () => {
      await store.addMember('r', member('s1', 'a'));
      await store.addMember('r', member('s2', 'b'));
      const { members, replaced } = await store.addMember('r', member('s3', 'a'));
      expect(replaced?.sessionId).toBe('s1');
      expect(members.map((m) => `${m.sessionId}:${m.userId}`)).toEqual(['s2:b', 's3:a']);
      expect(await store.removeMember('r', 's1')).toBeUndefined();
      expect(await store.updateMember('r', 's1', { muted: true })).toBeUndefined();
    });

    it('forgets a room when its last member leaves', async () => {
      await store.addMember('r', member('s1', 'a'));
      expect((await store.removeMember('r', 's1'))?.userId).toBe('a');
      expect(await store.members('r')).toEqual([]);
      expect(await store.removeMember('r', 's1')).toBeUndefined();
      expect(await store.removeMember('nowhere', 's1')).toBeUndefined();
    });

    it('keeps one replay buffer per session until the session is deleted', async () => {
      await store.putSession({
        sessionId: 's1',
        userId: 'a',
        name: 'a',
        allowedRooms: ['*'],
        expiresAt: 0,
      });
      const buffer = store.replayBuffer('s1', LIMITS);
      buffer.append(1, ev(1));
      expect(buffer.byteLength).toBe(5);
      expect(store.replayBuffer('s1', LIMITS)).toBe(buffer);
      expect((await store.getSession('s1'))?.userId).toBe('a');
      await store.deleteSession('s1');
      expect(await store.getSession('s1')).toBeUndefined();
      expect(store.replayBuffer('s1', LIMITS)).not.toBe(buffer);
      expect(store.replayBuffer('s1', LIMITS).size).toBe(0);
    });

    it('replay buffers are bounded, acknowledge and replay as ReplayBuffer does', async () => {
      await store.putSession({
        sessionId: 's2',
        userId: 'b',
        name: 'b',
        allowedRooms: [],
        expiresAt: 0,
      });
      const buffer = store.replayBuffer('s2', LIMITS);
      for (let seq = 1; seq <= 25; seq++) buffer.append(seq, ev(seq));
      expect(buffer.size).toBe(10);
      const r = buffer.since(20);
      expect(r.ok && r.messages.map((e) => e.body[0])).toEqual([21, 22, 23, 24, 25]);
      expect(buffer.since(10)).toEqual({ ok: false, reason: 'evicted' });
      expect(buffer.since(26)).toEqual({ ok: false, reason: 'ahead' });
      buffer.acknowledge(23);
      expect(buffer.size).toBe(2);
      expect(buffer.since(23).ok).toBe(true);
      expect(buffer.since(22)).toEqual({ ok: false, reason: 'evicted' });
    });

    it('updates nothing for a member that does not exist', async () => {
      expect(await store.updateMember('r', 'nobody', { muted: true })).toBeUndefined();
      expect(await store.members('r')).toEqual([]);
    });

    it('returns undefined for an unknown session and survives deleting one', async () => {
      expect(await store.getSession('nope')).toBeUndefined();
      await store.deleteSession('nope');
      expect(await store.getSession('nope')).toBeUndefined();
    });
  });
}
