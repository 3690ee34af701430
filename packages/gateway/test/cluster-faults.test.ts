// Gateway clusters under faults, measured: drain (SIGTERM and POST /admin/drain), a node killed
// with SIGKILL mid-call, Redis restarted mid-call. Real redis-server and gateway processes; raw
// protocol clients sending 20 ms frames, resuming where they are told (or on a live node).
import { Op, type DispatchMessage } from '@concord/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { homeNode } from '../src/cluster/placement.js';
import { startCluster, VoiceClient, type TestCluster } from './clusterHarness.js';
import { httpGet } from './harness.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A room name whose home, over `nodes`, is `wanted`. */
function roomHomedOn(wanted: string, nodes: string[], prefix: string): string {
  for (let i = 0; ; i++) if (homeNode(`${prefix}${i}`, nodes) === wanted) return `${prefix}${i}`;
}

/** Control events every member sees (joins, leaves, voice states), as comparable strings. */
function roomEvents(c: VoiceClient): string[] {
  return c.events
    .filter((m) => m.t === 'VOICE_STATE_UPDATE' || m.t === 'PARTICIPANT_LEFT')
    .map((m: DispatchMessage) => `${m.t}:${JSON.stringify(m.d)}`);
}

/** Whether an SSRC's frames all arrived once (no duplicates) at `listener`. */
function duplicateFrames(listener: VoiceClient, ssrc: number): number {
  const seqs = listener.from(ssrc).map((a) => a.seq);
  return seqs.length - new Set(seqs).size;
}

/**
 * Audio gaps per pair (sender, listener) in a window: on the sender's clock (what the listener
 * could not play: lost frames and delay growth, see `VoiceClient.audioGap`) and raw (largest
 * time between arrivals, which also counts stalls of this test process's timers).
 */
function measureGaps(
  pairs: Record<string, readonly [VoiceClient, VoiceClient]>,
  fromMs: number,
  toMs: number,
): { values: Record<string, number>; text: string } {
  const values: Record<string, number> = {};
  const raw: Record<string, number> = {};
  for (const [k, [sender, listener]] of Object.entries(pairs)) {
    values[k] = listener.audioGap(sender, fromMs, toMs);
    raw[k] = Math.round(listener.largestGap(sender.ssrc, fromMs, toMs));
  }
  const rounded = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v)]));
  return {
    values,
    text: `audio gaps (ms) ${JSON.stringify(rounded)}, raw arrival gaps ${JSON.stringify(raw)}`,
  };
}

describe('gateway cluster under faults', () => {
  let cluster: TestCluster | undefined;
  const clients: VoiceClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await cluster?.destroy();
    cluster = undefined;
  });

  it('drain (SIGTERM): the room moves to its next node, clients resume there; gap ≤ 200 ms, no event lost or repeated', async () => {
    cluster = await startCluster(3);
    const [n0, n1, n2] = cluster.nodes as [
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
    ];
    // The worst case: the room's home is the draining node.
    const room = roomHomedOn('n0', ['n0', 'n1', 'n2'], 'drain');
    const next = homeNode(room, ['n1', 'n2'])!;
    const nextUrl = next === 'n1' ? n1.url : n2.url;
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    const c = new VoiceClient('carol');
    // Two silent members change their voice state all through the drain (muting a talker
    // would stop its audio).
    const d = new VoiceClient('dave');
    const e = new VoiceClient('erin');
    clients.push(a, b, c, d, e);
    await a.start(n0.url, room);
    await b.start(n1.url, room);
    await c.start(n2.url, room);
    await d.start(n1.url, room);
    await e.start(n2.url, room);
    a.follow = () => nextUrl;
    for (const x of [a, b, c]) x.startTalking();
    await settle(500);
    // Voice-state changes from the two staying nodes run through the drain.
    let req = 1000;
    const churn = setInterval(() => {
      d.setMuted(room, req % 2 === 0, req++);
      e.setMuted(room, req % 2 === 0, req++);
    }, 15);
    const drainAt = performance.now();
    expect(await n0.stop('SIGTERM')).toBe(0);
    await settle(700);
    clearInterval(churn);
    await settle(500);
    await settle(200);
    for (const x of [a, b, c]) x.stopTalking();
    await settle(200);
    const end = performance.now() - 200;

    expect(a.migrations).toHaveLength(1);
    const pairs = { aAtB: [a, b], aAtC: [a, c], bAtA: [b, a], bAtC: [b, c], cAtB: [c, b] } as const;
    const gaps = measureGaps(pairs, drainAt - 200, end);
    const before = measureGaps(pairs, drainAt - 450, drainAt - 50);
    console.log(
      `drain: resume ${a.migrations[0]!.toFixed(1)} ms; ${gaps.text}; baseline in the 400 ms before: ${before.text}`,
    );
    // The goal is a gap ≤ 200 ms. On a busy 2-core machine this process's own event loop adds
    // delay to every arrival (the baseline window shows how much: its largest gap is 20 ms on a
    // quiet machine), so what the drain itself may add is 200 ms beyond a 20 ms frame spacing
    // plus that same-run jitter.
    for (const [k, v] of Object.entries(gaps.values))
      expect(v, k).toBeLessThanOrEqual(200 + Math.max(0, before.values[k]! - 20));
    // Audio flowed after the drain, and nobody heard a frame twice.
    for (const [l, s] of [
      [b, a],
      [a, b],
      [c, b],
    ] as const) {
      expect(l.from(s.ssrc).filter((x) => x.at > drainAt + 500).length).toBeGreaterThan(20);
      expect(duplicateFrames(l, s.ssrc)).toBe(0);
    }
    // Every member saw the same control events, once, in the same order.
    const seen = [a, b, c, d, e].map(roomEvents);
    expect(seen[0]!.length).toBeGreaterThan(40);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    expect(seen[3]).toEqual(seen[0]);
    expect(seen[4]).toEqual(seen[0]);
    for (const x of [a, b, c, d, e]) {
      expect(x.duplicates).toBe(0);
      expect(x.gaps).toBe(0);
    }
    // The drained node left no ghost: alice is still one member (on her new node).
    expect(b.eventsOf('PARTICIPANT_LEFT')).toHaveLength(0);
  });

  it('drain over POST /admin/drain needs the metrics token, then drains like SIGTERM', async () => {
    cluster = await startCluster(2, ['--metrics-token', 'm-token-m-token']);
    const [n0, n1] = cluster.nodes as [TestCluster['nodes'][0], TestCluster['nodes'][0]];
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    clients.push(a, b);
    await a.start(n0.url, 'admin');
    await b.start(n1.url, 'admin');
    a.follow = () => n1.url;
    const base = `http://127.0.0.1:${n0.port}/admin/drain`;
    expect((await fetch(base, { method: 'POST' })).status).toBe(401);
    expect(
      (await fetch(base, { headers: { authorization: 'Bearer m-token-m-token' } })).status,
    ).toBe(405);
    const exited = new Promise((r) => n0.child.once('exit', r));
    const res = await fetch(base, {
      method: 'POST',
      headers: { authorization: 'Bearer m-token-m-token' },
    });
    expect(res.status).toBe(202);
    await exited;
    await settle(300);
    expect(a.migrations).toHaveLength(1);
    a.sendFrame();
    await settle(200);
    expect(b.from(a.ssrc)).toHaveLength(1);
    expect((await httpGet(n1, '/healthz')).status).toBe(200);
  });

  it('kill -9 of a room’s home mid-call: clients re-home and resume, audio back within 2 s, no ghost after the TTLs', async () => {
    cluster = await startCluster(3, ['--resume-window-ms', '1500']);
    const [n0, n1, n2] = cluster.nodes as [
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
    ];
    const room = roomHomedOn('n0', ['n0', 'n1', 'n2'], 'kill');
    const next = homeNode(room, ['n1', 'n2'])!;
    const nextUrl = next === 'n1' ? n1.url : n2.url;
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    const c = new VoiceClient('carol');
    // Frank's client dies with the node and never comes back: he must leave the room.
    const f = new VoiceClient('frank');
    clients.push(a, b, c, f);
    await a.start(n0.url, room);
    await f.start(n0.url, room);
    await b.start(n1.url, room);
    await c.start(n2.url, room);
    a.follow = () => nextUrl;
    for (const x of [a, b, c]) x.startTalking();
    await settle(500);
    const killedAt = performance.now();
    await n0.stop('SIGKILL');
    await settle(2_500);
    const windowEnd = performance.now();
    const gaps = measureGaps(
      { aAtB: [a, b], bAtA: [b, a], bAtC: [b, c], cAtB: [c, b] },
      killedAt - 100,
      windowEnd,
    );
    console.log(
      `kill -9: resume ${a.migrations[0]?.toFixed(1)} ms after the socket closed; ${gaps.text}`,
    );
    expect(a.migrations).toHaveLength(1);
    for (const [k, v] of Object.entries(gaps.values)) expect(v, k).toBeLessThanOrEqual(2_000);
    for (const [l, s] of [
      [b, a],
      [a, b],
      [c, b],
      [b, c],
    ] as const)
      expect(duplicateFrames(l, s.ssrc)).toBe(0);
    // Node TTL 1 s + poll 0.2 s + orphan grace (resume window) 1.5 s + sweep 0.2 s ≈ 2.9 s.
    const left = (x: VoiceClient): string[] =>
      x
        .eventsOf('PARTICIPANT_LEFT')
        .map((m) => (m as DispatchMessage & { t: 'PARTICIPANT_LEFT' }).d.userId);
    const deadline = killedAt + 6_000;
    while (left(b).length === 0 && performance.now() < deadline) await settle(50);
    const reapedMs = performance.now() - killedAt;
    console.log(`kill -9: the dead node's absent member left after ${Math.round(reapedMs)} ms`);
    await settle(300);
    expect(left(b)).toEqual(['frank']);
    expect(left(c)).toEqual(['frank']);
    expect(left(a)).toEqual(['frank']);
    for (const x of [a, b, c]) x.stopTalking();
    for (const x of [a, b, c]) {
      expect(x.duplicates).toBe(0);
      expect(x.gaps).toBe(0);
    }
  });

  it('Redis restarted empty mid-call: no crash, audio keeps flowing, state rebuilt and events flow again', async () => {
    cluster = await startCluster(2);
    const [n0, n1] = cluster.nodes as [TestCluster['nodes'][0], TestCluster['nodes'][0]];
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    clients.push(a, b);
    await a.start(n0.url, 'restart');
    await b.start(n1.url, 'restart');
    a.startTalking();
    b.startTalking();
    await settle(400);
    const restartAt = performance.now();
    await cluster.redis.restart('SIGKILL');
    const backAt = performance.now();
    // While Redis comes back, calls keep their audio (media never goes through Redis).
    await settle(1_500);
    const end = performance.now();
    const gaps = measureGaps({ aAtB: [a, b], bAtA: [b, a] }, restartAt - 100, end);
    // State rebuilt from the live connections: a newcomer sees both members.
    let rebuiltMs: number;
    for (;;) {
      const probe = new VoiceClient('zoe');
      await probe.start(n1.url, 'restart');
      const joined = probe.eventsOf('ROOM_JOINED')[0] as DispatchMessage & { t: 'ROOM_JOINED' };
      const names = joined.d.participants.map((p) => p.userId).sort();
      probe.close();
      if (names.join() === 'alice,bob,zoe') {
        rebuiltMs = performance.now() - backAt;
        break;
      }
      if (performance.now() - backAt > 5_000) throw new Error(`not rebuilt: ${names.join()}`);
      await settle(100);
    }
    console.log(
      `Redis restart: ${gaps.text}; rebuilt ≤ ${Math.round(rebuiltMs)} ms after Redis was back`,
    );
    for (const [k, v] of Object.entries(gaps.values)) expect(v, k).toBeLessThanOrEqual(200);
    expect(rebuiltMs).toBeLessThan(3_000);
    // Events flow across nodes again.
    a.setMuted('restart', true, 500);
    await b.client.waitFor((m) => m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE', 3_000);
    expect((await httpGet(n0, '/healthz')).status).toBe(200);
    expect(n0.child.exitCode).toBeNull();
    expect(n1.child.exitCode).toBeNull();
  });
});
