import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RebuildSummary } from '../src/cluster/RedisStateStore.js';
import { RedisServer, until } from './redisHarness.js';
import { decodeEvent, FAST, TestNode } from './redisTestNodes.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.destroy();
});

const speaking = (room: string, ssrc: number) => ({
  room,
  t: 'SPEAKING' as const,
  d: { ssrc, speaking: true },
});

describe('Redis restart', () => {
  it('reconnects every node by itself and rebuilds the shared state from what the nodes hold', async () => {
    // A long orphan grace: nothing may be reaped because Redis was away.
    const timings = { ...FAST, orphanGraceMs: 60_000 };
    const a = await new TestNode(server, 'na', 'x:', timings).start();
    const b = await new TestNode(server, 'nb', 'x:', timings).start();
    try {
      await a.session('sa1', 'alice');
      await a.session('sa2', 'bob');
      await b.session('sb1', 'carol');
      const alice = await a.joinBuffered('hall', 'sa1', 'alice', 11);
      const bob = await a.joinBuffered('hall', 'sa2', 'bob', 12);
      await a.joinBuffered('side', 'sa2', 'bob', 13);
      const carol = await b.joinBuffered('hall', 'sb1', 'carol', 21);
      await b.joinBuffered('side', 'sb1', 'carol', 22);
      await a.store.updateMember('hall', 'sa1', { muted: true });
      for (let i = 1; i <= 5; i++) await b.bus.publishAsync(speaking('hall', i));
      await until(() => alice.lastSeq === 5 && carol.lastSeq === 5, 2_000, 'events before');
      alice.buffer.acknowledge(2);
      await a.store.writer.flush();
      await b.store.writer.flush();
      const before = {
        hall: await a.store.members('hall'),
        side: await a.store.members('side'),
      };
      expect(before.hall.map((m) => m.userId)).toEqual(['alice', 'bob', 'carol']);

      const rebuilt: RebuildSummary[] = [];
      a.store.on('rebuilt', (s) => rebuilt.push(s));
      b.store.on('rebuilt', (s) => rebuilt.push(s));
      await server.stop('SIGKILL');
      // While Redis is away an event is published: it waits in the offline queue.
      b.bus.publish(speaking('hall', 6));
      await new Promise((r) => setTimeout(r, 200));
      const restartedAt = performance.now();
      await server.restart();
      await until(() => rebuilt.length === 2, 10_000, 'both nodes rebuilt');
      const rebuildMs = performance.now() - restartedAt;
      // Reconnection (≤ 1 s backoff) + the rebuild itself.
      expect(rebuildMs).toBeLessThan(3_000);
      expect(rebuilt.map((s) => s.sessions).sort()).toEqual([1, 2]);
      expect(rebuilt.reduce((n, s) => n + s.memberships, 0)).toBe(5);
      expect(rebuilt.every((s) => s.conflicts === 0 && s.fenced === 0)).toBe(true);

      expect(await b.store.members('hall')).toEqual(before.hall);
      expect(await b.store.members('side')).toEqual(before.side);
      expect((await b.store.getSession('sa1'))?.userId).toBe('alice');
      // The nodes are registered again.
      await until(() => a.registry.nodes.length === 2, 3_000, 'registry back');

      // The event queued during the outage, and new ones, reach every member (a new epoch).
      b.bus.publish(speaking('hall', 7));
      await until(
        () => alice.lastSeq === 7 && bob.lastSeq === 7 && carol.lastSeq === 7,
        3_000,
        'events after',
      );
      const r = alice.buffer.since(2);
      expect(r.ok && r.messages.map((e) => decodeEvent(e).d.ssrc)).toEqual([3, 4, 5, 6, 7]);

      // A session resumes on another node with its replay buffer intact.
      await a.store.writer.flush();
      const claimed = await b.store.claimSession('sa1', b.limits);
      expect(claimed?.lastSeq).toBe(7);
      const replay = claimed!.replay.since(2);
      expect(replay.ok && replay.messages.map((e) => decodeEvent(e).d.ssrc)).toEqual([
        3, 4, 5, 6, 7,
      ]);
      expect(claimed!.rooms.map((x) => [x.room, x.member.muted])).toEqual([['hall', true]]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
