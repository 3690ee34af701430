// The SFU with real WebRTC peers: produce/consume, top-N pausing. Loopback-only namespace
// (vitest.netns.config.ts).
import { afterEach, describe, expect, it } from 'vitest';
import type { Sfu } from '../src/sfu/Sfu.js';
import type { SfuConsumerPauseEvent } from '../src/sfu/Sfu.js';
import { TestPeer, startSfu, waitFor, type ToneListener } from './sfuHarness.js';

let sfu: Sfu | undefined;
const peers: TestPeer[] = [];

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  sfu?.close();
  sfu = undefined;
});

describe('SFU with WebRTC peers', () => {
  it('forwards one member’s audio to another (mediasoup-client over libwebrtc)', async () => {
    ({ sfu } = await startSfu());
    const alice = await TestPeer.join(sfu, 'r1', 'alice', 1001);
    const bob = await TestPeer.join(sfu, 'r1', 'bob', 1002);
    peers.push(alice, bob);
    const opened: string[] = [];
    sfu.on('producerOpened', (e) => opened.push(`${e.room}/${e.memberId}/${e.ssrc}/${e.path}`));
    const producerId = await alice.produceTone(440, 0.3);
    expect(opened).toEqual(['r1/alice/1001/webrtc']);
    expect(sfu.producersOf('r1', 'bob').map((p) => p.producerId)).toEqual([producerId]);
    expect(sfu.producersOf('r1', 'alice')).toEqual([]);

    const heard = await bob.consume(producerId, [440, 1000]);
    await waitFor(() => heard.count(440) >= 50, 10_000, 'bob hearing 440 Hz');
    // Another frequency is not there (a chunk or two at the stream's onset click aside).
    expect(heard.count(1000)).toBeLessThan(heard.count(440) / 10);

    const stats = await sfu.stats();
    expect(stats).toMatchObject({
      rooms: 1,
      members: 2,
      transports: 4,
      producers: 1,
      consumers: 1,
    });
    expect(stats.forwardedPackets).toBeGreaterThan(20);
    expect(stats.workers).toHaveLength(1);
    expect(stats.workers[0]!.cpuMs).toBeGreaterThan(0);
  });

  it('forwards only the 3 loudest of 4 speakers, pausing the 4th and resuming it when one leaves', async () => {
    ({ sfu } = await startSfu({ maxSpeakers: 3 }));
    const tones = [300, 500, 700, 900];
    const speakers: TestPeer[] = [];
    for (let i = 0; i < 4; i++) {
      const p = await TestPeer.join(sfu, 'r2', `s${i}`, 2000 + i);
      speakers.push(p);
      peers.push(p);
    }
    const listener = await TestPeer.join(sfu, 'r2', 'listener', 2100);
    peers.push(listener);
    const speakerSets: string[][] = [];
    sfu.on('speakers', (_room, ids) => speakerSets.push([...ids].sort()));
    const pauses: SfuConsumerPauseEvent[] = [];
    sfu.on('consumerPaused', (e) => pauses.push(e));
    const ids: string[] = [];
    // The 4th is the quietest (−26 dB below the others): never louder by the hysteresis.
    for (let i = 0; i < 4; i++)
      ids.push(await speakers[i]!.produceTone(tones[i]!, i === 3 ? 0.015 : 0.3));
    expect(speakerSets.at(-1)).toEqual(['s0', 's1', 's2']);
    const heard: ToneListener[] = [];
    for (let i = 0; i < 4; i++) heard.push(await listener.consume(ids[i]!, [tones[i]!]));
    await waitFor(
      () => heard.slice(0, 3).every((h, i) => h.count(tones[i]!) >= 50),
      10_000,
      'the 3 loudest',
    );
    // Levels are reported every 250 ms: four reports later the selection still holds.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(heard[3]!.count(tones[3]!)).toBe(0);
    expect(speakerSets.at(-1)).toEqual(['s0', 's1', 's2']);
    const resumedBySelection = pauses.filter((p) => p.memberId === 'listener' && !p.paused);
    expect(resumedBySelection.map((p) => p.producerId).sort()).toEqual(ids.slice(0, 3).sort());

    // s0 leaves: its slot goes to s3, whose consumer resumes.
    await sfu.leave('r2', 's0');
    await waitFor(
      () => heard[3]!.count(tones[3]!) >= 25,
      5_000,
      'the 4th speaker after a slot freed',
    );
    expect(speakerSets.at(-1)).toEqual(['s1', 's2', 's3']);
    expect(pauses.some((p) => p.producerId === ids[3] && !p.paused)).toBe(true);
  });

  it('reports levels and speaking from the audio level observer', async () => {
    ({ sfu } = await startSfu());
    const a = await TestPeer.join(sfu, 'r3', 'a', 3001);
    peers.push(a);
    const levels: number[] = [];
    const speaking: string[] = [];
    sfu.on('levels', (room, l) => {
      expect(room).toBe('r3');
      for (const x of l) if (x.memberId === 'a') levels.push(x.levelDbov);
    });
    sfu.on('speaking', (room, id, on) => speaking.push(`${room}/${id}/${on}`));
    await a.produceTone(440, 0.3); // sine peak 0.3 → RMS 0.21 → about −13.5 dBov
    await waitFor(() => levels.length >= 3, 5_000, 'three level reports');
    const last = levels.at(-1)!;
    expect(last).toBeGreaterThan(-20);
    expect(last).toBeLessThan(-8);
    expect(speaking).toEqual(['r3/a/true']);
    a.tone!.stop();
    await waitFor(() => speaking.length === 2, 5_000, 'speaking to end');
    expect(speaking[1]).toBe('r3/a/false');
  });
});
