import { MediaFlags, type MediaFrameFields } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidStateError } from '../errors.js';
import type { ConnectionQuality } from '../media/connectionQuality.js';
import { FakeDecoder, FakeSink, FakeTransport } from './fakes.test-util.js';
import { VoiceReceiver, type StreamOwner } from './VoiceReceiver.js';

const SSRC = 0xabc;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(owners: Record<number, StreamOwner> = { [SSRC]: { room: 'r', userId: 'bob' } }) {
  const transport = new FakeTransport();
  const sink = new FakeSink();
  const decoders: FakeDecoder[] = [];
  let rttMs = 10;
  const receiver = new VoiceReceiver({
    transport,
    createDecoder: () => {
      const d = new FakeDecoder();
      decoders.push(d);
      return d;
    },
    resolve: (ssrc) => owners[ssrc],
    sink: () => sink,
    rttMs: () => rttMs,
    now: () => Date.now(), // faked by vi.useFakeTimers
  });
  const qualities: [string, ConnectionQuality][] = [];
  receiver.on('connectionQualityChanged', (o, q) => qualities.push([o.userId, q]));
  /** Packet `seq` carries byte0 = seq & 0xff (the fake decoder plays it as seq/256). */
  const deliver = (seq: number, ssrc = SSRC, extra: Partial<MediaFrameFields> = {}): void =>
    transport.deliver(
      { ssrc, seq, timestamp: seq * 960, flags: MediaFlags.Speech, level: 20, ...extra },
      Uint8Array.of(seq & 0xff, 1, 2),
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

  it('drops a decoded frame instead of queueing it when playback is more than 2 frames behind', async () => {
    const { sink, receiver, deliver } = setup();
    let backlog = 0;
    (sink as FakeSink & { bufferedFrames(key: string): number }).bufferedFrames = () => backlog;
    await stream(deliver, [0, 1, 2, 3, 4, 5]);
    const queuedBefore = sink.frames.get('bob')?.length ?? 0;
    expect(queuedBefore).toBeGreaterThan(0);
    expect(receiver.driftDrops).toBe(0);
    backlog = 3; // the audio clock runs slower than the wall clock: the queue has grown
    await stream(deliver, [6, 7, 8]);
    expect(receiver.driftDrops).toBeGreaterThanOrEqual(2);
    expect(sink.frames.get('bob')?.length ?? 0).toBeLessThanOrEqual(queuedBefore + 1);
    backlog = 2;
    await stream(deliver, [9, 10]);
    expect((sink.frames.get('bob')?.length ?? 0) - queuedBefore).toBeGreaterThanOrEqual(2);
  });

  it('sends no report and keeps the quality of a stream that went quiet (muted, DTX)', async () => {
    const { transport, receiver, deliver } = setup();
    await stream(
      deliver,
      Array.from({ length: 100 }, (_, i) => i),
    ); // 2 s of packets
    const reportsWhileTalking = transport.reports.length;
    expect(reportsWhileTalking).toBeGreaterThanOrEqual(1);
    const quality = receiver.qualityOf('bob');
    await vi.advanceTimersByTimeAsync(3_000); // silence, shorter than the idle timeout
    expect(transport.reports.length).toBe(reportsWhileTalking);
    expect(receiver.qualityOf('bob')).toBe(quality);
  });
});
