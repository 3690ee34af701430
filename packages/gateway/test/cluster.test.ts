// Gateway clusters end to end: real redis-server, real gateway processes started with --redis,
// raw protocol clients. Media crosses nodes over the node-to-node links (never Redis); room
// events go through Redis sharded pub/sub.
import { Op, type DispatchMessage } from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeNode, rankNodes } from '../src/cluster/placement.js';
import { httpGet, metricValue } from './harness.js';
import { startCluster, VoiceClient, type TestCluster } from './clusterHarness.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The VOICE_STATE_UPDATE events a client saw, as `ssrc:muted` in arrival order. */
const voiceStates = (c: VoiceClient): string[] =>
  c.eventsOf('VOICE_STATE_UPDATE').map((m) => {
    const d = (m as DispatchMessage & { t: 'VOICE_STATE_UPDATE' }).d;
    return `${d.ssrc}:${d.muted}`;
  });

describe('gateway cluster: two nodes, one room', () => {
  let cluster: TestCluster;
  const clients: VoiceClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster(2);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster.destroy();
  });

  it('clients on different nodes hear each other and see each other’s events exactly once, in order', async () => {
    const [n0, n1] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    const c = new VoiceClient('carol');
    clients.push(a, b, c);
    await a.start(n0.url, 'lobby');
    await b.start(n1.url, 'lobby');
    await c.start(n1.url, 'lobby');
    // ssrcs are unique in the room across nodes.
    expect(new Set([a.ssrc, b.ssrc, c.ssrc]).size).toBe(3);
    // Each sees the later joiners exactly once.
    await settle(200);
    expect(a.eventsOf('PARTICIPANT_JOINED').map(userOf)).toEqual(['bob', 'carol']);
    expect(b.eventsOf('PARTICIPANT_JOINED').map(userOf)).toEqual(['carol']);

    // Media: 50 frames each way between nodes (and within n1), every frame exactly once.
    for (let i = 0; i < 50; i++) {
      a.sendFrame();
      b.sendFrame();
      await settle(20);
    }
    await settle(300);
    for (const [listener, sender] of [
      [b, a],
      [c, a],
      [a, b],
      [c, b],
    ] as const) {
      const seqs = listener.from(sender.ssrc).map((x) => x.seq);
      expect(seqs, `${listener.user} hears ${sender.user}`).toEqual([...Array(50).keys()]);
    }
    expect(a.from(a.ssrc)).toHaveLength(0);

    // Control events from both nodes at once: every member sees all, once, in one order.
    for (let i = 0; i < 20; i++) {
      a.setMuted('lobby', i % 2 === 0, 100 + i);
      b.setMuted('lobby', i % 2 === 0, 100 + i);
      c.setMuted('lobby', i % 2 === 0, 100 + i);
    }
    await settle(600);
    const seen = [a, b, c].map(voiceStates);
    expect(seen[0]).toHaveLength(60);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    for (const x of [a, b, c]) {
      expect(x.duplicates).toBe(0);
      expect(x.gaps).toBe(0);
    }

    // Metrics and readiness per node.
    const health = JSON.parse((await httpGet(n0, '/healthz')).body) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'listening', node: 'n0', redis: 'up', nodes: 2 });
    const { body } = await httpGet(n1, '/metrics');
    expect(metricValue(body, 'concord_cluster_nodes')).toBe(2);
    expect(metricValue(body, 'concord_cluster_rooms')).toBe(1);
    // Every room event n1 processed has its publish-to-delivery time: bob's and carol's joins
    // and the 60 voice states (alice joined before n1 followed the room).
    expect(metricValue(body, 'concord_room_event_latency_seconds_count')).toBe(62);
    // One link each way, kept open between live nodes.
    expect(metricValue(body, 'concord_cluster_media_links')).toBe(2);
  });

  it('a session resumes on the other node with every missed event once (claim + catch-up)', async () => {
    const [n0, n1] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const d = new VoiceClient('dave');
    const e = new VoiceClient('erin');
    clients.push(d, e);
    await d.start(n0.url, 'hall');
    await e.start(n1.url, 'hall');
    await settle(100);
    d.client.cut();
    // Events while d is away.
    for (let i = 0; i < 5; i++) e.setMuted('hall', i % 2 === 0, 200 + i);
    await settle(200);
    await d.resumeAt(n1.url);
    await settle(300);
    expect(voiceStates(d)).toEqual(voiceStates(e));
    expect(voiceStates(d)).toHaveLength(5);
    expect(d.duplicates).toBe(0);
    expect(d.gaps).toBe(0);
    // Its stream still works from the new node.
    for (let i = 0; i < 10; i++) {
      d.sendFrame();
      await settle(20);
    }
    await settle(200);
    expect(e.from(d.ssrc).map((x) => x.seq)).toEqual([...Array(10).keys()]);
    const { body } = await httpGet(n1, '/metrics');
    expect(metricValue(body, 'concord_cluster_migrations_total')).toBeGreaterThanOrEqual(1);
    expect(d.client.received.some((m) => m.op === Op.Resumed)).toBe(true);
  });
});

describe('gateway cluster: a healed partition', () => {
  let cluster: TestCluster;
  const clients: VoiceClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster(3, ['--enable-test-impairment']);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster.destroy();
  });

  it('two nodes that both think they are a room’s home converge to one home; nobody hears a member twice', async () => {
    const [n0, n1, n2] = cluster.nodes as [
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
      TestCluster['nodes'][0],
    ];
    // A room ranked n1 > n0 > n2: n0, cut off from n1, takes it as its own.
    let room = '';
    for (let i = 0; !room; i++) {
      const r = `split${i}`;
      if (rankNodes(r, ['n0', 'n1', 'n2']).join() === 'n1,n0,n2') room = r;
    }
    const placement = async (gw: TestCluster['nodes'][0], method = 'GET', query = '') => {
      const res = await fetch(`http://127.0.0.1:${gw.port}/test/placement?room=${room}${query}`, {
        method,
        headers: { 'x-concord-test': '1' },
      });
      return ((await res.json()) as { home: string }).home;
    };
    expect(await placement(n0, 'PUT', '&hide=n1')).toBe('n0');
    expect(await placement(n1)).toBe('n1');
    expect(await placement(n2)).toBe('n1');
    const a = new VoiceClient('alice');
    const b = new VoiceClient('bob');
    const c = new VoiceClient('carol');
    clients.push(a, b, c);
    await a.start(n0.url, room);
    await b.start(n1.url, room);
    await c.start(n2.url, room);
    for (const x of [a, b, c]) x.startTalking();
    await settle(600);
    const healedAt = performance.now();
    expect(await placement(n0, 'DELETE')).toBe('n1');
    await settle(800);
    for (const x of [a, b, c]) x.stopTalking();
    await settle(200);
    expect(await placement(n0)).toBe(homeNode(room, ['n0', 'n1', 'n2']));
    for (const listener of [a, b, c])
      for (const sender of [a, b, c]) {
        if (listener === sender) continue;
        const seqs = listener.from(sender.ssrc).map((x) => x.seq);
        // Nobody heard a frame twice, before or after the heal.
        expect(seqs.length, `${listener.user} ← ${sender.user}`).toBe(new Set(seqs).size);
        // After the heal everyone hears everyone.
        const after = listener.from(sender.ssrc).filter((x) => x.at > healedAt + 300);
        expect(after.length, `${listener.user} ← ${sender.user}`).toBeGreaterThan(15);
      }
  });
});

function userOf(m: DispatchMessage): string {
  return (m as DispatchMessage & { t: 'PARTICIPANT_JOINED' }).d.participant.userId;
}
