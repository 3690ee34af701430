import { MediaFlags, type MediaFrameFields } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidStateError } from '../errors.js';
import type { ConnectionQuality } from '../stats/connectionQuality.js';
import { FakeDecoder, FakeSink, FakeTransport } from '../transport/fakes.test-util.js';
import type { PlayoutClock } from './PlayoutClock.js';
import { PLAYOUT_LOW_WATER_SAMPLES, VoiceReceiver, type StreamOwner } from './VoiceReceiver.js';

const SSRC = 0xabc;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Opus TOC bytes (RFC 6716 §3.1): SILK wideband, one frame of 20 ms / of 10 ms. */
const TOC_20MS = 9 << 3;
const TOC_10MS = 8 << 3;

function setup(
  owners: Record<number, StreamOwner> = { [SSRC]: { room: 'r', userId: 'bob' } },
  jitterBuffer: { pullSamples?: number; minDelayMs?: number } = {},
  packetMs: 10 | 20 = 20,
) {
  const transport = new FakeTransport();
  const sink = new FakeSink();
  const decoders: FakeDecoder[] = [];
  let rttMs = 10;
  const receiver = new VoiceReceiver({
    transport,
    createDecoder: () => {
      const d = new FakeDecoder(1);
      decoders.push(d);
      return d;
    },
    resolve: (ssrc) => owners[ssrc],
    sink: () => sink,
    rttMs: () => rttMs,
    now: () => Date.now(), // faked by vi.useFakeTimers
    // A 40 ms buffer level with 20 ms packets and 20 ms pulls: the one-frame hold floor these
    // tests assume (the default, 20 ms with the arriving packet included, holds 20 ms packets
    // not at all). 10 ms packets and pulls: the tests at the end.
    jitterBuffer: { minDelayMs: 40, pullSamples: 960, ...jitterBuffer },
  });
  const qualities: [string, ConnectionQuality][] = [];
  receiver.on('connectionQualityChanged', (o, q) => qualities.push([o.userId, q]));
  /** Packet `seq` carries byte 1 = seq & 0xff (the fake decoder plays it as seq/256). */
  const deliver = (seq: number, ssrc = SSRC, extra: Partial<MediaFrameFields> = {}): void =>
    transport.deliver(
      {
        ssrc,
        seq,
        timestamp: seq * packetMs * 48,
        flags: MediaFlags.Speech,
        level: 20,
        ...extra,
      },
      Uint8Array.of(packetMs === 20 ? TOC_20MS : TOC_10MS, seq & 0xff, 2),
      Date.now(),
    );
  const setRtt = (ms: number): void => {
    rttMs = ms;
  };
  return { transport, sink, decoders, receiver, qualities, deliver, setRtt };
}

/** Sends `seqs` one per 20 ms (in the given order), advancing fake time. */
async function stream(deliver: (seq: number) => void, seqs: number[]): Promise<void> {
  for (const seq of seqs) {
    deliver(seq);
    await vi.advanceTimersByTimeAsync(20);
  }
}

const played = (sink: FakeSink, user = 'bob'): number[] =>
  (sink.frames.get(user) ?? []).filter((v) => v > 0).map((v) => Math.round(v * 256));

describe('VoiceReceiver', () => {
  it('plays one frame per 20 ms per sender, in sequence order despite reordering', async () => {
    const { sink, deliver } = setup();
    const order = [1, 2, 4, 3, 5, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    await stream(deliver, order);
    await vi.advanceTimersByTimeAsync(200);
    expect(played(sink)).toEqual([...Array(16).keys()].map((k) => k + 1));
    // Exactly one pull per 20 ms tick from the first packet on.
    expect(sink.frames.get('bob')!.length).toBe(Math.floor((16 * 20 + 200) / 20));
  });

  it('drops frames of unknown ssrcs and decodes nothing for them', async () => {
    const { receiver, decoders, deliver } = setup();
    deliver(1, 0x999);
    expect(receiver.unknownFrameCount).toBe(1);
    expect(decoders).toHaveLength(0);
    expect(receiver.ssrcs).toEqual([]);
  });

  it('sends a RECEIVER_REPORT per room every second with fraction lost, jitter and lost total', async () => {
    const { transport, deliver } = setup();
    // 50 frames, seq 10 and 20 lost.
    await stream(
      deliver,
      [...Array(50).keys()].filter((s) => s !== 10 && s !== 20),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(transport.reports.length).toBeGreaterThanOrEqual(1);
    const first = transport.reports[0]!;
    expect(first.room).toBe('r');
    expect(first.reports).toHaveLength(1);
    const r = first.reports[0]!;
    expect(r.ssrc).toBe(SSRC);
    expect(r.lostTotal).toBe(2);
    expect(r.fractionLost).toBe(Math.floor((2 * 256) / 49));
    expect(Number.isInteger(r.jitterMs)).toBe(true);
  });

  it('reports early, then every 275 ms for 2 s, when a lossy stream turns clean (fast feedback)', async () => {
    const { transport, receiver, deliver } = setup();
    const at: number[] = [];
    const send = transport.sendReceiverReports.bind(transport);
    transport.sendReceiverReports = (room, reports) => {
      at.push(Date.now());
      send(room, reports);
    };
    // 4 s with 10 % loss: the normal cadence, 1 s.
    await stream(
      deliver,
      [...Array(200).keys()].filter((q) => q % 10 !== 5),
    );
    const lossy = at.slice(1).map((t, i) => t - at[i]!);
    expect(lossy.length).toBeGreaterThanOrEqual(2);
    for (const gap of lossy) expect(gap).toBeGreaterThanOrEqual(980);
    const clearedAt = Date.now();
    const before = at.length;
    await stream(
      deliver,
      [...Array(200).keys()].map((q) => q + 200),
    );
    const after = at.slice(before);
    // The regular report due just after clearing still counts the last losses (bad); the next
    // comes early, once 25 clean packets are in (0.5 s), not a whole interval later…
    const early = after.findIndex((t, i) => i > 0 && t - after[i - 1]! < 980);
    expect(early).toBeGreaterThan(0);
    expect(after[early]! - clearedAt).toBeLessThanOrEqual(1_000);
    // …then every 275 ms for 2 s (the sender's ABR climbs on them)…
    const fast = after.slice(early).filter((t) => t - after[early]! <= 2_000);
    expect(fast.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < fast.length; i++) {
      // Over 250 ms: the sender's ABR credits one rung per full 250 ms.
      expect(fast[i]! - fast[i - 1]!).toBeGreaterThanOrEqual(275);
      expect(fast[i]! - fast[i - 1]!).toBeLessThanOrEqual(300);
    }
    // …and back to once a second.
    const slow = after.filter((t) => t - after[early]! > 2_300);
    expect(slow.length).toBeGreaterThanOrEqual(1);
    const lastFast = after.filter((t) => t < slow[0]!).at(-1)!;
    expect(slow[0]! - lastFast).toBeGreaterThanOrEqual(980);
    for (let i = 1; i < slow.length; i++)
      expect(slow[i]! - slow[i - 1]!).toBeGreaterThanOrEqual(980);
    expect(receiver.fastReporting).toBe(false);
  });

  it('pulls a stream the sink refuses (no slot) no faster than real time', async () => {
    const { sink, receiver, deliver } = setup();
    const demand = sink as FakeSink & { bufferedSamples(key: string): number };
    demand.bufferedSamples = () => 0; // no slot: nothing ever queued
    let offered = 0;
    demand.pushFrame = () => {
      offered++;
      return false;
    };
    deliver(0);
    for (let t = 0; t < 100; t++) {
      await vi.advanceTimersByTimeAsync(5);
      receiver.tick(Date.now()); // an audio clock ticking every 5 ms
    }
    // 500 ms: about 25 frames offered, not one per tick.
    expect(offered).toBeGreaterThanOrEqual(20);
    expect(offered).toBeLessThanOrEqual(30);
  });

  it('keeps reports under the gateway limit on a lossy path that looks clean now and then', async () => {
    const { transport, deliver } = setup();
    // 30 s, one packet in 15 lost: runs of 14 clean packets keep looking like a recovery.
    await stream(
      deliver,
      [...Array(1_500).keys()].filter((q) => q % 15 !== 7),
    );
    // 1/s regular, plus at most one short early episode per 10 s: well under 2/s.
    expect(transport.reports.length).toBeLessThanOrEqual(30 + 3 * 2);
  });

  it('shares a report budget between rooms: under the gateway limit, no room starved', async () => {
    const owners: Record<number, StreamOwner> = {};
    for (let r = 0; r < 4; r++) owners[SSRC + r] = { room: `room${r}`, userId: `u${r}` };
    const { transport, receiver, deliver } = setup(owners);
    for (let k = 0; k < 3_000; k++) {
      // 60 s of four active streams, each in its own room: 4 reports/s wanted.
      for (let r = 0; r < 4; r++) deliver(k, SSRC + r);
      await vi.advanceTimersByTimeAsync(20);
    }
    // Default budget: 100 per minute plus a burst of 10 (the gateway closes above 120).
    expect(transport.reports.length).toBeLessThanOrEqual(110);
    expect(transport.reports.length).toBeGreaterThanOrEqual(95);
    expect(receiver.reportsDeferred).toBeGreaterThan(100);
    for (let r = 0; r < 4; r++) {
      const n = transport.reports.filter((m) => m.room === `room${r}`).length;
      expect(n).toBeGreaterThanOrEqual(20);
    }
  });

  it('reports per-participant stats and concealment', async () => {
    const { receiver, deliver } = setup();
    await stream(
      deliver,
      [...Array(30).keys()].filter((s) => s !== 12),
    );
    const st = receiver.getStats().get('bob')!;
    expect(st).toMatchObject({ room: 'r', ssrc: SSRC, late: 0 });
    expect(st.concealed + st.fecRecovered).toBe(1);
    expect(st.targetDelayMs).toBeGreaterThanOrEqual(20);
    expect(st.lossPct).toBeGreaterThan(0);
  });

  it('derives connection quality from loss, jitter and RTT, with events on change', async () => {
    const { receiver, qualities, deliver, setRtt } = setup();
    await stream(deliver, [...Array(60).keys()]);
    expect(receiver.qualityOf('bob')).toBe('excellent');
    // 20 % loss and a 150 ms RTT: score 0.3·0.25 + 0.3·(jitter) < 0.4 → poor.
    setRtt(150);
    await stream(
      deliver,
      [...Array(100).keys()].map((k) => 60 + k).filter((s) => s % 5 !== 0),
    );
    expect(receiver.qualityOf('bob')).toBe('poor');
    expect(qualities.map((q) => q[1])).toEqual(['excellent', 'poor']);
  });

  it('ends a stream when its sender leaves or goes idle, and stops the clock', async () => {
    const { receiver, sink, decoders, deliver, transport } = setup({
      [SSRC]: { room: 'r', userId: 'bob' },
      [SSRC + 1]: { room: 'r', userId: 'carol' },
    });
    deliver(0);
    deliver(0, SSRC + 1);
    await vi.advanceTimersByTimeAsync(20);
    receiver.remove('r', 'bob');
    expect(receiver.ssrcs).toEqual([SSRC + 1]);
    expect(decoders[0]!.destroyed).toBe(true);
    await vi.advanceTimersByTimeAsync(10_100); // carol silent for > 10 s
    expect(receiver.ssrcs).toEqual([]);
    const pulls = sink.frames.get('carol')!.length;
    const reports = transport.reports.length;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(sink.frames.get('carol')!.length).toBe(pulls); // no clock without senders
    expect(transport.reports.length).toBe(reports);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a user who rejoined with a new ssrc replaces the old stream', async () => {
    const owners: Record<number, StreamOwner> = { [SSRC]: { room: 'r', userId: 'bob' } };
    const { receiver, deliver } = setup(owners);
    deliver(0);
    owners[SSRC + 5] = { room: 'r', userId: 'bob' };
    deliver(0, SSRC + 5);
    expect(receiver.ssrcs).toEqual([SSRC + 5]);
  });

  it('close() frees every decoder and stops; tick() then throws InvalidStateError', async () => {
    const { receiver, decoders, deliver } = setup();
    deliver(0);
    receiver.close();
    receiver.close();
    expect(decoders[0]!.destroyed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => receiver.tick()).toThrow(InvalidStateError);
  });

  it("feeds a sink that reports its queue on demand, on the sink's own clock", async () => {
    const { sink, receiver, deliver } = setup();
    // A sink like RemotePlayback with shared memory: a queue it drains in 10 ms bursts of 480
    // samples (as Chromium's audio thread does), and a clock ticking after each burst.
    const queued: number[] = [];
    const demand = sink as FakeSink & {
      bufferedSamples(key: string): number;
      playoutClock(): PlayoutClock;
    };
    let queue = 0;
    let tick: ((nowMs: number) => void) | undefined;
    const clock: PlayoutClock = {
      kind: 'audio',
      start: (t) => (tick = t),
      stop: () => (tick = undefined),
    };
    const push = sink.pushFrame.bind(sink);
    demand.pushFrame = (key, samples) => {
      queued.push(queue);
      queue += 960;
      return push(key, samples);
    };
    demand.bufferedSamples = () => queue;
    demand.playoutClock = () => clock;
    let underruns = 0;
    for (let wake = 0; wake < 200; wake++) {
      if (wake % 2 === 0) deliver(wake / 2); // one packet per 20 ms
      await vi.advanceTimersByTimeAsync(10);
      if (queue < 480) underruns++;
      queue = Math.max(0, queue - 480);
      tick?.(Date.now());
    }
    expect(receiver.clockKind).toBe('audio');
    expect(vi.getTimerCount()).toBe(0); // no timer of its own
    expect(underruns).toBeLessThanOrEqual(1); // the very first wake, before any pull
    // Pulled only below the low-water mark, so the queue never holds more than mark + a frame.
    expect(Math.max(...queued)).toBeLessThan(PLAYOUT_LOW_WATER_SAMPLES);
    expect(queue).toBeLessThan(PLAYOUT_LOW_WATER_SAMPLES + 960);
    // One frame per 20 ms on average: 100 packets, 2 s of audio consumed.
    expect(Math.abs(sink.frames.get('bob')!.length - 100)).toBeLessThanOrEqual(2);
    expect(played(sink).slice(0, 90)).toEqual([...Array(90).keys()].map((k) => k + 1).slice(0, 90));
    // After a stall of the clock's thread (queue ran dry) one tick refills it to the mark.
    queue = 0;
    const before = sink.frames.get('bob')!.length;
    tick!(Date.now());
    expect(sink.frames.get('bob')!.length - before).toBe(1);
    expect(queue).toBeGreaterThanOrEqual(PLAYOUT_LOW_WATER_SAMPLES);
    receiver.close();
    expect(tick).toBeUndefined();
  });

  it("counts the sink's queue toward the minimum delay: on a calm path packets are held less", async () => {
    const { sink, receiver, deliver } = setup();
    const demand = sink as FakeSink & { bufferedSamples(key: string): number };
    let queue = 0;
    demand.bufferedSamples = () => queue;
    const holdMs: number[] = []; // pull time − arrival time (packet seq arrives at 20·seq ms)
    const push = sink.pushFrame.bind(sink);
    const t0 = Date.now();
    demand.pushFrame = (key, samples) => {
      const low = Math.round(samples[0]! * 256); // seq & 0xff; 0 = silence or seq 256·k
      if (low > 0) {
        // The latest packet with that low byte that had arrived by now (holds are < 5 s).
        const sinceStart = Date.now() - t0;
        const k = Math.floor((Math.floor(sinceStart / 20) - low) / 256) * 256 + low;
        holdMs.push(sinceStart - 20 * k);
      }
      return push(key, samples);
    };
    const median = (x: number[]): number => [...x].sort((a, b) => a - b)[x.length >> 1]!;
    // Timer clock (no playoutClock), one pull per tick either way; no jitter at all.
    await stream(
      deliver,
      Array.from({ length: 200 }, (_, i) => i),
    );
    const plain = median(holdMs.slice(100, 190));
    const before = receiver.getStats().get('bob')!;
    holdMs.length = 0;
    queue = 900; // every frame now starts playing 18.75 ms after it is pulled
    await stream(
      deliver,
      Array.from({ length: 200 }, (_, i) => i + 200),
    );
    const withQueue = median(holdMs.slice(100, 190));
    const after = receiver.getStats().get('bob')!;
    expect(plain - withQueue).toBeGreaterThanOrEqual(10);
    // The delay reported is arrival → play-out: the queue is in it.
    expect(after.targetDelayMs).toBeGreaterThanOrEqual(18.75);
    expect(after.jitterBufferDelayMs).toBeGreaterThanOrEqual(18.75);
    expect(before.targetDelayMs).toBeGreaterThanOrEqual(20);
    expect(receiver.clockKind).toBe('timer');
  });

  it('sends no report and keeps the quality of a stream that went quiet (muted, DTX)', async () => {
    const { transport, receiver, deliver } = setup();
    await stream(
      deliver,
      Array.from({ length: 100 }, (_, i) => i),
    ); // 2 s of packets
    await vi.advanceTimersByTimeAsync(1_100); // the report covering the last packets
    const reportsWhileTalking = transport.reports.length;
    expect(reportsWhileTalking).toBeGreaterThanOrEqual(1);
    const quality = receiver.qualityOf('bob');
    await vi.advanceTimersByTimeAsync(3_000); // silence, shorter than the idle timeout
    expect(transport.reports.length).toBe(reportsWhileTalking);
    expect(receiver.qualityOf('bob')).toBe(quality);
  });

  it('10 ms packets and 10 ms pulls (the defaults): packets play in order without gaps, one pull per 10 ms', async () => {
    const { sink, deliver } = setup(undefined, { pullSamples: 480, minDelayMs: 20 }, 10);
    for (let seq = 1; seq <= 40; seq++) {
      deliver(seq);
      await vi.advanceTimersByTimeAsync(10);
    }
    await vi.advanceTimersByTimeAsync(100);
    // The buffer may drop the first packet to reach its 20 ms target; after that, every one.
    const seqs = played(sink);
    expect(seqs[0]).toBeLessThanOrEqual(2);
    expect(seqs).toEqual(Array.from({ length: 41 - seqs[0]! }, (_, k) => k + seqs[0]!));
    expect(sink.frames.get('bob')!.length).toBe((40 * 10 + 100) / 10);
  });

  it('reads each packet’s duration from its Opus TOC: 20 ms packets play as two 10 ms pulls', async () => {
    const { sink, deliver, receiver } = setup(undefined, { pullSamples: 480 }, 20);
    await stream(
      deliver,
      Array.from({ length: 20 }, (_, k) => k + 1),
    );
    await vi.advanceTimersByTimeAsync(200);
    const seqs = played(sink);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, k) => [k + 1, k + 1]).flat());
    expect(receiver.getStats().get('bob')!.concealed).toBe(0);
  });
});
