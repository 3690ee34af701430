import { opusPacketHasLbrr } from '@concord/protocol';
import { WasmOpusDecoder, WasmOpusEncoder } from '@concord/wasm-dsp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidStateError } from '../errors.js';
import {
  JitterBuffer,
  type JitterBufferOptions,
  type JitterBufferStats,
  type JitterFrameKind,
  type JitterPacket,
} from './JitterBuffer.js';
import {
  FRAME,
  FakeDecoder,
  fakePacket,
  rng,
  trace,
  type TraceArrival,
} from './jitterTrace.test-util.js';

interface PullRecord {
  atMs: number;
  kind: JitterFrameKind;
  level: number;
  stats: JitterBufferStats;
}

/**
 * Runs a trace on fake timers: each packet is pushed by a timer at its arrival time, and a 20 ms
 * interval (starting at `pullPhaseMs`) pulls, as the playback side would.
 */
function simulate(
  jb: JitterBuffer,
  arrivals: TraceArrival[],
  durationMs: number,
  pullPhaseMs = 7,
  queuedMs = 0,
): PullRecord[] {
  // One timer at a time (the next arrival), so fake timers stay fast on 3,000-packet traces.
  const queue = arrivals
    .map((a) => ({ packet: a.packet, atMs: Math.max(0, Math.round(a.atMs)) }))
    .sort((x, y) => x.atMs - y.atMs);
  let next = 0;
  const arrive = (): void => {
    while (next < queue.length && queue[next]!.atMs <= Date.now())
      jb.push(queue[next++]!.packet, Date.now());
    if (next < queue.length) setTimeout(arrive, queue[next]!.atMs - Date.now());
  };
  if (queue.length > 0) setTimeout(arrive, queue[0]!.atMs);
  const pulls: PullRecord[] = [];
  const tick = (): void => {
    const frame = jb.pull(Date.now(), queuedMs);
    pulls.push({
      atMs: Date.now(),
      kind: jb.lastFrameKind,
      level: frame[0]!,
      stats: jb.getStats(),
    });
  };
  setTimeout(() => {
    tick();
    setInterval(tick, 20);
  }, pullPhaseMs);
  vi.advanceTimersByTime(durationMs);
  vi.clearAllTimers();
  return pulls;
}

function buffer(options: Partial<JitterBufferOptions> = {}): {
  jb: JitterBuffer;
  dec: FakeDecoder;
} {
  const dec = new FakeDecoder();
  // 40 ms of buffer level with 20 ms packets = the one-frame hold floor these tests were
  // written for (before the minimum delay counted the arriving packet).
  return {
    jb: new JitterBuffer({ decoder: dec, minDelayMs: LEGACY_MIN_DELAY_MS, ...options }),
    dec,
  };
}

/** The minimum buffer level (packet included) equal to the earlier one-frame minimum hold. */
const LEGACY_MIN_DELAY_MS = 40;

function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

function at(pulls: PullRecord[], ms: number): PullRecord {
  return pulls.find((p) => p.atMs >= ms)!;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('JitterBuffer ordering', () => {
  it('plays reordered packets in sequence order with no loss or concealment', () => {
    const { jb, dec } = buffer();
    // Every even frame is 25 ms slower, so it arrives after its odd successor.
    const pulls = simulate(
      jb,
      trace(200, (k) => (k % 2 === 0 ? 55 : 30)),
      4_500,
    );
    expect(dec.decodedFrames).toEqual(range(200));
    const s = jb.getStats();
    expect(s).toMatchObject({ late: 0, concealed: 0, lostTotal: 0, duplicates: 0 });
    // (After the last packet, at 4 s, the stream underruns: PLC.)
    expect(pulls.filter((p) => p.atMs < 4_000 && p.kind === 'plc')).toHaveLength(0);
    expect(s.targetDelayMs).toBe(30); // the 25 ms spread, rounded up to the 5 ms bucket edge
  });

  it('drops duplicates and counts them', () => {
    const { jb, dec } = buffer();
    const once = trace(100, () => 40);
    const twice = [...once, ...once.map((a) => ({ packet: a.packet, atMs: a.atMs + 7 }))];
    simulate(jb, twice, 2_500);
    expect(dec.decodedFrames).toEqual(range(100));
    expect(jb.getStats()).toMatchObject({ duplicates: 100, received: 100, lostTotal: 0 });
  });

  it('crosses the u16 sequence and u32 timestamp wrap without loss, also reordered', () => {
    const { jb, dec } = buffer();
    const packet = (k: number): JitterPacket =>
      fakePacket(k, { seq0: 65_500, ts0: 2 ** 32 - 50 * FRAME });
    simulate(
      jb,
      trace(200, (k) => (k % 3 === 1 ? 65 : 30), { packet }),
      4_500,
    );
    expect(dec.decodedFrames).toEqual(range(200));
    expect(jb.getStats()).toMatchObject({ late: 0, concealed: 0, lostTotal: 0 });
    // Extended highest sequence number: one cycle + (65,500 + 199 − 65,536).
    expect(jb.takeReceiverReport().highestSeq).toBe(65_536 + 163);
  });

  it('returns the same preallocated 960-sample frame from every pull', () => {
    const { jb } = buffer();
    jb.push(fakePacket(0), 0);
    const a = jb.pull(50);
    const b = jb.pull(70);
    expect(a).toBe(b);
    expect(a).toHaveLength(960);
  });
});

describe('JitterBuffer loss', () => {
  it('rebuilds isolated lost frames from the next packet’s FEC and conceals the rest with PLC', () => {
    const { jb, dec } = buffer();
    const lost = new Set([...range(200).filter((k) => k % 10 === 5), 50, 51, 70]);
    // Frame 71 carries no FEC, so lost frame 70 can only be concealed.
    const packet = (k: number): JitterPacket => fakePacket(k, { fec: k !== 71 });
    simulate(
      jb,
      trace(200, (k) => (lost.has(k) ? NaN : 40), { packet }),
      4_500,
    );

    const fec = dec.log.filter((e) => e.path === 'fec').map((e) => e.frame);
    // 50 and 70 have no usable next packet (51 is lost too; 71 has no FEC): PLC.
    expect(fec).toEqual([...lost].filter((k) => k !== 50 && k !== 70).sort((x, y) => x - y));
    expect(dec.decodedFrames).toEqual(range(200).filter((k) => !lost.has(k)));
    const s = jb.getStats();
    expect(s).toMatchObject({ fecRecovered: 21, concealed: 2, lostTotal: 23, late: 0 });
    expect(s.lossPct).toBeCloseTo((100 * 23) / 199, 0);
    const rr = jb.takeReceiverReport();
    expect(rr.fractionLost).toBe(Math.floor((23 * 256) / 200));
    expect(rr.lostTotal).toBe(23);
    expect(jb.takeReceiverReport().fractionLost).toBe(0); // nothing new since the last report
  });

  it('after an underrun, lost frames still ahead are concealed or rebuilt, not taken for DTX', () => {
    // Packets 40 and 41 lost; 42 arrives (a little early) just after frame 40 was due — the
    // buffer ran empty and concealed 40 — and before frame 41 is: 41 is still ahead, and 42
    // carries its FEC.
    const { jb, dec } = buffer({ initialDelayMs: 20, fecDelay: false });
    const pulls = simulate(
      jb,
      trace(100, (k) => (k === 40 || k === 41 ? NaN : k === 42 ? 15 : 20)),
      2_500,
      7,
    );
    const kinds = pulls.map((p) => p.kind).filter((k) => k !== 'silence');
    expect(kinds).not.toContain('comfort');
    const s = jb.getStats();
    expect(s.comfortFrames).toBe(0);
    expect(s.concealed + s.fecRecovered).toBe(2);
    expect(dec.log.filter((e) => e.path === 'fec').map((e) => e.frame)).toEqual([41]);
    expect(dec.decodedFrames).toEqual(range(100).filter((k) => k !== 40 && k !== 41));
  });

  it('drops a packet that arrives after its play-out time, counts it late, and conceals its frame', () => {
    const { jb, dec } = buffer();
    const packet = (k: number): JitterPacket => fakePacket(k, { fec: false });
    simulate(
      jb,
      trace(100, (k) => (k === 30 ? 190 : 40), { packet }),
      2_500,
    );
    expect(dec.decodedFrames).toEqual(range(100).filter((k) => k !== 30));
    // Late packets count as received for loss (RFC 3550 A.3).
    expect(jb.getStats()).toMatchObject({ late: 1, concealed: 1, lostTotal: 0 });
  });

  it('restarts on a sequence jump (new stream) and keeps counting', () => {
    const { jb, dec } = buffer();
    const first = trace(50, () => 40);
    const second = trace(50, () => 40, {
      startMs: 1_500,
      packet: (k) => fakePacket(k, { seq0: 30_000, ts0: 9_999_999 }),
    });
    simulate(jb, [...first, ...second], 3_000);
    expect(jb.getStats()).toMatchObject({ resyncs: 1, received: 100, lostTotal: 0 });
    expect(dec.decodedFrames).toEqual([...range(50), ...range(50)]);
  });
});

describe('JitterBuffer under the e2e impairment', () => {
  it('keeps audio going under 5 % random loss and 0–30 ms jitter, most losses rebuilt by FEC', () => {
    const run = (fecDelay: boolean) => {
      const { jb } = buffer({ fecDelay });
      const r = rng(9);
      const pulls = simulate(
        jb,
        trace(3_000, () => (r() < 0.05 ? NaN : 40 + 30 * r())),
        60_000,
      );
      return { s: jb.getStats(), pulls };
    };
    const { s, pulls } = run(true);
    expect(s.lostTotal).toBeGreaterThan(100);
    expect(s.fecRecovered / s.lostTotal).toBeGreaterThan(0.9);
    expect(s.concealed + s.late).toBeLessThanOrEqual(15); // ≤ 0.5 % of frames concealed
    // The jitter spread (30 ms) plus one frame so that the successor of a lost packet is here.
    expect(s.targetDelayMs).toBe(50);
    const delays = pulls.filter((p) => p.atMs > 2_000).map((p) => p.stats.currentDelayMs);
    expect(Math.max(...delays)).toBeLessThanOrEqual(80);
    // Without the FEC frame of delay: 20 ms less, and more losses left to PLC.
    const without = run(false).s;
    expect(without.targetDelayMs).toBe(30);
    expect(without.concealed).toBeGreaterThan(s.concealed);
  });
});

describe('JitterBuffer delay adaptation', () => {
  it('raises the target delay in a jitter burst, then decays it when the network is calm', () => {
    const { jb } = buffer();
    const r = rng(1);
    // 0–10 s calm (±2 ms), 10–20 s a burst of 0–60 ms extra delay, 20–50 s calm again.
    const delay = (k: number): number => 40 + (k >= 500 && k < 1_000 ? 60 : 2) * r();
    const pulls = simulate(jb, trace(2_500, delay), 50_200);

    const calm = at(pulls, 9_900).stats;
    const burst = at(pulls, 19_900).stats;
    const after = at(pulls, 49_900).stats;
    expect(calm.targetDelayMs).toBe(20);
    expect(burst.targetDelayMs).toBeGreaterThanOrEqual(55);
    expect(burst.currentDelayMs).toBeGreaterThanOrEqual(burst.targetDelayMs);
    // Few packets miss their play-out during the burst once the target has caught up.
    const lateInBurst = burst.late - at(pulls, 11_000).stats.late;
    expect(lateInBurst).toBeLessThanOrEqual(25); // of 450 packets
    // The target rises within a second of the burst starting…
    expect(at(pulls, 11_000).stats.targetDelayMs).toBeGreaterThanOrEqual(45);
    // …and after the burst comes back down, with the current delay following it.
    expect(after.targetDelayMs).toBeLessThanOrEqual(25);
    expect(after.currentDelayMs).toBeLessThanOrEqual(after.targetDelayMs + 30);
    const s = jb.getStats();
    expect(s.jitterMs).toBeLessThan(2);
    expect(s.lostTotal).toBe(0);
  });

  it('counts audio queued at the sink toward the minimum delay, never toward jitter protection', () => {
    // Talk-spurts (0.6 s speech, 0.4 s DTX) on a calm path (±2 ms): each spurt is re-anchored
    // to the target. With 15 ms queued at the sink ahead of every frame, packets are held 15 ms
    // less and the total (arrival → play-out) stays at the one-frame minimum.
    const spurts = (seed: number) => {
      const r = rng(seed);
      let sent = 0;
      return trace(1_000, (k) => (k % 50 < 30 ? 40 + 2 * r() : NaN), {
        packet: (k) => fakePacket(sent++, { tsOffset: k - sent + 1 }),
      });
    };
    const holds = (queuedMs: number) => {
      const { jb } = buffer();
      const pulls = simulate(jb, spurts(4), 20_000, 7, queuedMs);
      const inSpurts = pulls.filter((x) => x.atMs > 2_000 && x.kind === 'decoded');
      const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
      return {
        holdMs: median(inSpurts.map((x) => x.stats.currentDelayMs - queuedMs)),
        stats: jb.getStats(),
      };
    };
    const plain = holds(0);
    const queued = holds(15);
    expect(plain.stats.targetDelayMs).toBe(20);
    expect(queued.stats.targetDelayMs).toBe(20); // 5 ms spread bucket + 15 ms queued
    expect(plain.holdMs - queued.holdMs).toBeGreaterThanOrEqual(10);
    expect(queued.stats.concealed + queued.stats.late).toBe(0);
    // Jittery path (0–30 ms): a packet must be here when its frame is pulled, so the hold still
    // covers the spread; the queue comes on top and nothing more is late.
    const r = rng(5);
    const { jb } = buffer();
    simulate(
      jb,
      trace(1_500, () => 40 + 30 * r()),
      30_000,
      7,
      15,
    );
    const j = jb.getStats();
    expect(j.targetDelayMs).toBeCloseTo(30 + 15, 6);
    expect(j.late + j.concealed).toBeLessThanOrEqual(15); // ≤ 1 % of frames
  });

  it('re-anchors talk-spurts without churn: no drop-then-insert at every spurt, whatever the phase', () => {
    // 0.6 s talk-spurts, 0.4 s DTX, calm path; every pull phase within a frame.
    for (let phase = 0; phase < 20; phase += 3) {
      let sent = 0;
      const r = rng(phase + 11);
      const spurts = trace(1_000, (k) => (k % 50 < 30 ? 40 + 2 * r() : NaN), {
        packet: (k) => fakePacket(sent++, { tsOffset: k - sent + 1 }),
      });
      const { jb } = buffer();
      simulate(jb, spurts, 20_000, phase);
      const s = jb.getStats();
      // 20 talk-spurts: re-anchoring may skip or add silence, but never lands below the target
      // (which would make the delay control insert a frame inside the next spurt).
      expect(s.insertedFrames).toBeLessThanOrEqual(1);
      expect(s.concealed + s.late).toBe(0);
    }
  });

  it('forgets a stall at the start of a call within a few seconds', () => {
    const { jb } = buffer();
    const r = rng(7);
    // Stalls of 200 ms 1 s and 2 s in (a page warming up: 10 packets held, then released at
    // once), then a calm path.
    const stall = (k: number, from: number): number =>
      k >= from && k < from + 10 ? 20 * (from + 10 - k) : 0;
    const delay = (k: number): number => 40 + 2 * r() + stall(k, 50) + stall(k, 100);
    const pulls = simulate(jb, trace(500, delay), 10_000);
    expect(at(pulls, 2_500).stats.targetDelayMs).toBeGreaterThanOrEqual(100); // it did react
    expect(at(pulls, 5_000).stats.targetDelayMs).toBeLessThanOrEqual(25); // and forgot it
  });

  it('never lets the delay grow past maxDelayMs, dropping late packets instead', () => {
    const { jb } = buffer({ maxDelayMs: 200 });
    const r = rng(2);
    const pulls = simulate(
      jb,
      trace(1_000, () => 40 + 400 * r()),
      20_500,
    );
    const steady = pulls.filter((p) => p.atMs > 3_000 && p.kind !== 'silence');
    const maxDelay = Math.max(...steady.map((p) => p.stats.currentDelayMs));
    expect(maxDelay).toBeLessThanOrEqual(200 + 25);
    expect(jb.getStats().targetDelayMs).toBe(200);
    expect(jb.getStats().late).toBeGreaterThan(100);
    expect(Math.max(...steady.map((p) => p.stats.bufferedPackets))).toBeLessThanOrEqual(16);
  });

  it('plays comfort noise through a DTX gap without counting loss or growing the delay', () => {
    const { jb, dec } = buffer();
    const r = rng(3);
    // Talk 2 s (frames 0–99), DTX 3 s (frames 100–249 never sent), talk 3 s (frames 250–399).
    // Sequence numbers only count sent packets; timestamps keep running (RFC 7587 §3.1.3).
    const sent = range(400).filter((k) => k < 100 || k >= 250);
    const arrivals = sent.map((k, i) => ({
      packet: { ...fakePacket(k), seq: (1000 + i) & 0xffff },
      atMs: k * 20 + 40 + 5 * r(),
    }));
    const pulls = simulate(jb, arrivals, 8_500);
    const before = at(pulls, 1_900).stats;
    const afterGap = at(pulls, 7_900).stats;
    expect(afterGap).toMatchObject({ lostTotal: 0, concealed: 0, late: 0 });
    expect(afterGap.lossPct).toBe(0);
    expect(afterGap.comfortFrames).toBeGreaterThanOrEqual(148);
    expect(afterGap.comfortFrames).toBeLessThanOrEqual(152);
    expect(Math.abs(afterGap.currentDelayMs - before.currentDelayMs)).toBeLessThanOrEqual(20);
    expect(dec.decodedFrames).toEqual(sent);
  });

  it.each([30, 80])(
    'does not count a %i-frame gap the relay announces (Resumed) as loss',
    (gap) => {
      const run = (resumed: boolean) => {
        const { jb } = buffer();
        // Frames 0–99 forwarded, then `gap` frames not forwarded by the relay (sequence numbers
        // and timestamps both keep running at the sender), then forwarded again.
        const back = 100 + gap;
        const sent = range(back + 100).filter((k) => k < 100 || k >= back);
        const arrivals = sent.map((k) => ({
          packet: { ...fakePacket(k), ...(resumed && k === back ? { resumed: true } : {}) },
          atMs: k * 20 + 40,
        }));
        return at(simulate(jb, arrivals, (back + 110) * 20), (back + 105) * 20).stats;
      };
      const announced = run(true);
      expect(announced).toMatchObject({ lostTotal: 0, concealed: 0 });
      expect(announced.lossPct).toBe(0);
      // The same gap unannounced is loss: the test would catch the flag being ignored.
      expect(run(false).lostTotal).toBe(gap);
    },
  );

  it.each([
    ['slow', 1.005],
    ['fast', 0.995],
  ])(
    'keeps the delay bounded over 60 s against a %s sender clock (±0.5 %%), correcting in quiet frames',
    (_name, clockScale) => {
      const { jb, dec } = buffer();
      const r = rng(4);
      // 1 s of speech, 0.3 s of quiet frames, repeated.
      const packet = (k: number): JitterPacket => fakePacket(k, { loud: k % 65 < 50 });
      const arrivals = trace(3_000, () => 40 + 4 * r(), { clockScale, packet });
      const pulls = simulate(jb, arrivals, 60_000 * clockScale + 500);
      const playing = pulls.filter((p) => p.atMs > 1_000 && p.kind !== 'silence');
      const delays = playing.map((p) => p.stats.currentDelayMs);
      const s = jb.getStats();
      expect(Math.max(...delays)).toBeLessThanOrEqual(s.targetDelayMs + 40);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(10);
      expect(s.late + s.concealed).toBeLessThanOrEqual(2);
      // 60 s · 0.5 % = 300 ms = 15 frames to insert (slow sender) or drop (fast sender).
      const corrections = clockScale > 1 ? s.insertedFrames : s.droppedFrames;
      expect(corrections).toBeGreaterThanOrEqual(13);
      expect(corrections).toBeLessThanOrEqual(18);
      // Inserted frames follow quiet frames (the sender's pauses).
      pulls.forEach((p, i) => {
        if (p.kind === 'inserted') expect(pulls[i - 1]!.level).toBeLessThan(0.01);
      });
      expect(new Set(dec.decodedFrames).size).toBeGreaterThanOrEqual(3_000 - 20);
    },
  );

  it('still corrects drift during continuous speech, forcing a frame drop after waiting', () => {
    const { jb } = buffer();
    const pulls = simulate(
      jb,
      trace(3_000, () => 40, { clockScale: 0.995 }),
      60_000,
    );
    const delays = pulls.filter((p) => p.atMs > 1_000).map((p) => p.stats.currentDelayMs);
    expect(Math.max(...delays)).toBeLessThanOrEqual(jb.getStats().targetDelayMs + 40);
    expect(jb.getStats().droppedFrames).toBeGreaterThanOrEqual(13);
  });
});

describe('JitterBuffer with the real Opus codec', () => {
  /** A synthetic voiced signal: glottal pulses through two formant resonators, 1 s on, 0.3 s off. */
  function voiced(samples: number, seed: number): Float32Array {
    const r = rng(seed);
    const x = new Float32Array(samples);
    let phase = 0;
    let y1 = 0;
    let y2 = 0;
    let z1 = 0;
    let z2 = 0;
    for (let n = 0; n < samples; n++) {
      const t = n / 48_000;
      const f0 = 120 + 30 * Math.sin(2 * Math.PI * 0.7 * t);
      phase += f0 / 48_000;
      let e = 0.02 * (r() - 0.5);
      if (phase >= 1) {
        phase -= 1;
        e += 1;
      }
      const f1 = 600 + 200 * Math.sin(2 * Math.PI * 1.3 * t);
      const f2 = 1_500 + 400 * Math.sin(2 * Math.PI * 0.9 * t);
      const a1 = 2 * 0.97 * Math.cos((2 * Math.PI * f1) / 48_000);
      const a2 = 2 * 0.95 * Math.cos((2 * Math.PI * f2) / 48_000);
      const y = e + a1 * y1 - 0.97 * 0.97 * y2;
      y2 = y1;
      y1 = y;
      const z = y + a2 * z1 - 0.95 * 0.95 * z2;
      z2 = z1;
      z1 = z;
      const on = t % 1.3 < 1 ? 0.5 - 0.5 * Math.cos(2 * Math.PI * 4 * t) : 0;
      x[n] = 0.01 * z * on;
    }
    return x;
  }

  function siSdr(ref: Float32Array, est: Float32Array): number {
    let dot = 0;
    let refE = 0;
    for (let i = 0; i < ref.length; i++) {
      dot += ref[i]! * est[i]!;
      refE += ref[i]! * ref[i]!;
    }
    const a = dot / refE;
    let t = 0;
    let e = 0;
    for (let i = 0; i < ref.length; i++) {
      t += (a * ref[i]!) ** 2;
      e += (est[i]! - a * ref[i]!) ** 2;
    }
    return 10 * Math.log10(t / e);
  }

  it('recovers lost frames closer to the original with in-band FEC than with PLC', async () => {
    vi.useRealTimers(); // WASM loading awaits real I/O
    const speech = voiced(48_000 * 6, 5);
    const enc = await WasmOpusEncoder.create({
      fec: true,
      packetLossPercent: 20,
      bitrateBps: 32_000,
    });
    const lookahead = enc.lookaheadSamples;
    const packets: Uint8Array[] = [];
    for (let s = 0; s + FRAME <= speech.length; s += FRAME) {
      packets.push(enc.encode(speech.subarray(s, s + FRAME)).slice());
    }
    enc.destroy();
    const lbrr = packets.slice(5).filter((p) => opusPacketHasLbrr(p)).length;
    expect(lbrr / (packets.length - 5)).toBeGreaterThan(0.5);

    // Lose ~12 % of the frames that carry sound and whose successor carries LBRR.
    const r = rng(6);
    const lost = new Set<number>();
    for (let k = 10; k < packets.length - 1; k++) {
      let e = 0;
      for (let i = k * FRAME; i < (k + 1) * FRAME; i++) e += speech[i]! ** 2;
      if (
        !lost.has(k - 1) &&
        e / FRAME > 1e-5 &&
        opusPacketHasLbrr(packets[k + 1]!) &&
        r() < 0.12
      ) {
        lost.add(k);
      }
    }
    expect(lost.size).toBeGreaterThanOrEqual(20);

    /** Plays the packets through a jitter buffer; `withFec` false marks them as FEC-less. */
    const run = async (
      withFec: boolean,
    ): Promise<{ y: Float32Array; stats: JitterBufferStats }> => {
      const jb = new JitterBuffer({
        decoder: await WasmOpusDecoder.create(),
        minDelayMs: LEGACY_MIN_DELAY_MS,
      });
      const y = new Float32Array(packets.length * FRAME);
      let k = -1;
      for (let t = 0; k < packets.length - 1; t += 20) {
        const i = t / 20;
        if (i < packets.length && !lost.has(i)) {
          const p: JitterPacket = withFec
            ? { seq: i, timestamp: i * FRAME, payload: packets[i]! }
            : { seq: i, timestamp: i * FRAME, payload: packets[i]!, fec: false };
          jb.push(p, t + 30);
        }
        const frame = jb.pull(t + 45);
        if (jb.lastFrameKind !== 'silence') y.set(frame, ++k * FRAME);
      }
      const stats = jb.getStats();
      jb.close();
      return { y, stats };
    };
    const fec = await run(true);
    const plc = await run(false);
    expect(fec.stats.fecRecovered).toBe(lost.size);
    expect(plc.stats.concealed).toBe(lost.size);
    expect(fec.stats.insertedFrames + fec.stats.droppedFrames).toBe(0);

    const lostSdr = (y: Float32Array): number => {
      const ref = new Float32Array(lost.size * FRAME);
      const est = new Float32Array(lost.size * FRAME);
      let i = 0;
      for (const k of lost) {
        ref.set(speech.subarray(k * FRAME - lookahead, (k + 1) * FRAME - lookahead), i);
        est.set(y.subarray(k * FRAME, (k + 1) * FRAME), i);
        i += FRAME;
      }
      return siSdr(ref, est);
    };
    const fecDb = lostSdr(fec.y);
    const plcDb = lostSdr(plc.y);
    expect(fecDb).toBeGreaterThan(plcDb + 3);
  });
});

describe('JitterBuffer life cycle', () => {
  it('outputs silence before the first packet and until its play-out time', () => {
    const { jb } = buffer({ initialDelayMs: 40 });
    expect(jb.status).toBe('idle');
    expect(jb.pull(0).every((v) => v === 0)).toBe(true);
    expect(jb.lastFrameKind).toBe('silence');
    jb.push(fakePacket(0), 100);
    expect(jb.status).toBe('buffering');
    jb.pull(110);
    expect(jb.lastFrameKind).toBe('silence');
    jb.pull(130);
    expect(jb.lastFrameKind).toBe('decoded');
    expect(jb.status).toBe('playing');
  });

  it('close() is idempotent, destroys the decoder, and later calls throw InvalidStateError', () => {
    const { jb, dec } = buffer();
    jb.close();
    jb.close();
    expect(dec.destroyed).toBe(true);
    expect(jb.status).toBe('closed');
    expect(() => jb.pull(0)).toThrow(InvalidStateError);
    expect(() => jb.push(fakePacket(0), 0)).toThrow(InvalidStateError);
  });

  it('rejects out-of-range packets and options', () => {
    const { jb } = buffer();
    expect(() => jb.push({ ...fakePacket(0), seq: 70_000 }, 0)).toThrow(RangeError);
    expect(() => jb.push({ ...fakePacket(0), timestamp: -1 }, 0)).toThrow(RangeError);
    expect(() => jb.push({ ...fakePacket(0), payload: new Uint8Array(0) }, 0)).toThrow(TypeError);
    expect(() => jb.push(fakePacket(0), Number.NaN)).toThrow(RangeError);
    expect(() => buffer({ minDelayMs: 5 })).toThrow(/minDelayMs/);
    expect(() => buffer({ maxDelayMs: 10 })).toThrow(/maxDelayMs/);
  });

  it('reads the LBRR flag of SILK and hybrid packets and never finds it in CELT packets', () => {
    // TOC config 1 (SILK NB 20 ms), code 0; first byte after it: VAD bit, LBRR bit.
    expect(opusPacketHasLbrr(new Uint8Array([0x08, 0b1100_0000]))).toBe(true);
    expect(opusPacketHasLbrr(new Uint8Array([0x08, 0b1000_0000]))).toBe(false);
    // Hybrid FB 20 ms (config 15).
    expect(opusPacketHasLbrr(new Uint8Array([15 << 3, 0b0100_0000]))).toBe(true);
    // CELT-only (config 31) whatever the bits.
    expect(opusPacketHasLbrr(new Uint8Array([31 << 3, 0xff]))).toBe(false);
    // Code 2: first frame length byte, then the frame.
    expect(opusPacketHasLbrr(new Uint8Array([0x08 | 2, 1, 0b0100_0000, 0]))).toBe(true);
    expect(opusPacketHasLbrr(new Uint8Array([0x08]))).toBe(false);
  });
});
