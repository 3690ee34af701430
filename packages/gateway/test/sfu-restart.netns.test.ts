// A mediasoup worker killed under a live room: restarted, the room rebuilt on a new router,
// members told to re-produce/re-consume, audio back. Loopback-only namespace
// (vitest.netns.config.ts).
import { afterEach, describe, expect, it } from 'vitest';
import type { Sfu, SfuProducerEvent } from '../src/sfu/Sfu.js';
import { TestPeer, startSfu, waitFor } from './sfuHarness.js';

let sfu: Sfu | undefined;
const peers: TestPeer[] = [];

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  sfu?.close();
  sfu = undefined;
});

describe('SFU worker death', () => {
  it('restarts the worker, rebuilds its rooms, resets their members; audio flows again within 2 s', async () => {
    const started = await startSfu({ workerCount: 2 });
    sfu = started.sfu;
    const logger = started.logger;
    const alice = await TestPeer.join(sfu, 'r', 'alice', 8001);
    const bob = await TestPeer.join(sfu, 'r', 'bob', 8002);
    await sfu.join('r', 'ws-carol', 8003, 'websocket');
    // A room on the other worker is not affected.
    const dave = await TestPeer.join(sfu, 'elsewhere', 'dave', 8004);
    peers.push(alice, bob, dave);
    const slot = sfu.roomWorker('r')!;
    expect(sfu.roomWorker('elsewhere')).toBe(1 - slot);

    const producerId = await alice.produceTone(440, 0.3);
    const before = await bob.consume(producerId, [440]);
    await waitFor(() => before.count(440) >= 20, 10_000, 'bob hearing alice');

    const events: string[] = [];
    const resets: string[] = [];
    const reopened: SfuProducerEvent[] = [];
    sfu.on('workerDied', (index) => events.push(`died ${index}`));
    sfu.on('workerRestarted', (index) => events.push(`restarted ${index}`));
    sfu.on('producerClosed', (e) => events.push(`closed ${e.memberId}`));
    sfu.on('roomRebuilt', (room) => events.push(`rebuilt ${room}`));
    sfu.on('producerOpened', (e) => reopened.push(e));
    let resetAt = 0;
    sfu.on('memberReset', (room, memberId) => {
      resets.push(`${room}/${memberId}`);
      resetAt = performance.now();
    });

    const pid = sfu.workerPids[slot]!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => resets.length === 2, 10_000, 'members reset');
    expect(events).toEqual([
      `died ${slot}`,
      'closed ws-carol',
      'closed alice',
      `restarted ${slot}`,
      'rebuilt r',
    ]);
    expect(resets.sort()).toEqual(['r/alice', 'r/bob']);
    // The WebSocket member's bridge producer is reopened by the SFU itself.
    expect(reopened).toMatchObject([{ room: 'r', memberId: 'ws-carol', path: 'websocket' }]);
    expect(sfu.workerPids[slot]).not.toBe(pid);
    expect(sfu.counters).toMatchObject({ workerDeaths: 1, workerRestarts: 1, roomsRebuilt: 1 });
    expect(
      logger.entries.some((e) => e.level === 'error' && e.message === 'mediasoup worker died'),
    ).toBe(true);

    // The clients do what the gateway will tell them: new transports, produce, consume.
    for (const p of [alice, bob]) {
      p.closeMedia();
      await p.connectTransports();
    }
    const again = await alice.produceTone(440, 0.3);
    const after = await bob.consume(again, [440]);
    await waitFor(() => after.count(440) >= 5, 2_000, 'bob hearing alice again');
    const elapsedMs = performance.now() - resetAt;
    expect(elapsedMs).toBeLessThan(2_000);

    // The other room kept its transports: dave was never reset.
    expect(resets.some((r) => r.includes('dave'))).toBe(false);
    const stats = await sfu.stats();
    expect(stats.rooms).toBe(2);
    expect(stats.workers.map((w) => w.rooms).sort()).toEqual([1, 1]);
  });

  it('while a crash-looping worker waits to restart, calls on its rooms fail with REBUILDING, not a crash', async () => {
    ({ sfu } = await startSfu({ workerCount: 1 }));
    await sfu.join('r', 'alice', 9001, 'webrtc');
    let deaths = 0;
    sfu.on('workerDied', () => deaths++);
    process.kill(sfu.workerPids[0]!, 'SIGKILL');
    await waitFor(() => sfu!.counters.roomsRebuilt === 1, 5_000, 'the first rebuild');
    const t = await sfu.createTransport('r', 'alice', 'send');
    // A second death within 10 s: the restart waits 1 s (crash-loop backoff).
    process.kill(sfu.workerPids[0]!, 'SIGKILL');
    await waitFor(() => deaths === 2, 5_000, 'the second death');
    await expect(sfu.createTransport('r', 'alice', 'recv')).rejects.toMatchObject({
      code: 'CONCORD_ERR_SFU_REBUILDING',
    });
    await expect(
      sfu.connectTransport('alice', t.id, {
        fingerprints: [{ algorithm: 'sha-256', value: 'AB' }],
      }),
    ).rejects.toMatchObject({ code: 'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT' });
    // Joining works meanwhile; the room is usable once rebuilt.
    await sfu.join('r', 'bob', 9002, 'webrtc');
    expect(sfu.workerPids).toEqual([]);
    await waitFor(() => sfu!.counters.roomsRebuilt === 2, 5_000, 'the second rebuild');
    const info = await sfu.createTransport('r', 'bob', 'recv');
    expect(info.direction).toBe('recv');
    expect(sfu.counters).toMatchObject({ workerDeaths: 2, workerRestarts: 2 });
  });
});
