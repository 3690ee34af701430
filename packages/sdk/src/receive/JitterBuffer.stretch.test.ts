import { compileKernel, TimeStretcher } from '@concord/wasm-dsp';
import { beforeAll, describe, expect, it } from 'vitest';
import { JitterBuffer, type JitterBufferOptions, type JitterBufferStats } from './JitterBuffer.js';
import {
  FakeDecoder,
  fakePacket,
  rng,
  signalAt,
  signalPacket,
  SignalDecoder,
  trace,
  VOICED_F0_HZ,
  type SignalKind,
  type TraceArrival,
} from './jitterTrace.test-util.js';

const VOICED_PERIOD_MS = 1_000 / VOICED_F0_HZ; // 7.14 ms

let compiled: WebAssembly.Module;
beforeAll(async () => {
  // One compiled kernel; each buffer gets its own instance, as a worker would create it.
  compiled = await compileKernel('tsm');
});

function stretcher(): TimeStretcher {
  return TimeStretcher.createSync(compiled);
}

interface Run {
  /** Samples played from the first non-silent pull on. */
  out: Float32Array;
  /** Stats after each pull while playing, with the pull time. */
  pulls: { atMs: number; stats: JitterBufferStats }[];
}

/**
 * Drives a buffer on an explicit clock: packets pushed at their arrival times, a pull of the
 * buffer's `pullSamples` every pull period from `phaseMs` on, for `durationMs`.
 */
function run(
  jb: JitterBuffer,
  arrivals: TraceArrival[],
  pullSamples: number,
  durationMs: number,
  phaseMs = 3,
): Run {
  const queue = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  const pullMs = pullSamples / 48;
  const chunks: Float32Array[] = [];
  const pulls: Run['pulls'] = [];
  let next = 0;
  for (let t = phaseMs; t < durationMs; t += pullMs) {
    while (next < queue.length && queue[next]!.atMs <= t)
      jb.push(queue[next]!.packet, queue[next++]!.atMs);
    const frame = jb.pull(t);
    if (jb.status !== 'playing') continue;
    chunks.push(frame.slice());
    pulls.push({ atMs: t, stats: jb.getStats() });
  }
  const out = new Float32Array(chunks.length * pullSamples);
  chunks.forEach((c, i) => out.set(c, i * pullSamples));
  return { out, pulls };
}

/** `count` packets of `samples` of one signal kind (per packet), sent back to back. */
function signalTrace(
  count: number,
  samples: number,
  delayMs: (k: number) => number,
  kind: (k: number) => SignalKind = () => 'voiced',
  clockScale = 1,
): TraceArrival[] {
  return trace(count, delayMs, {
    frameMs: samples / 48,
    clockScale,
    // Sent when complete: one packet duration after its first sample.
    startMs: samples / 48,
    packet: (k) => signalPacket(k, k * samples, samples, kind(k)),
  });
}

function buffer(options: Partial<JitterBufferOptions> & { stretch?: boolean } = {}) {
  const { stretch = true, ...rest } = options;
  const decoder = new SignalDecoder();
  const jb = new JitterBuffer({
    decoder,
    ...(stretch && { timeStretcher: stretcher() }),
    ...rest,
  });
  return { jb, decoder };
}

describe('JitterBuffer time-scale modification', () => {
  it('lowers the delay by pitch periods inside a talk-spurt, never by dropping a frame', () => {
    // Continuous voiced speech on a calm path, starting 80 ms deep: the buffer must come down
    // to its target (10 ms hold for 10 ms packets) while the speaker talks.
    const arrivals = signalTrace(600, 480, () => 5);
    const { jb, decoder } = buffer({ initialDelayMs: 80, pullSamples: 128 });
    const { pulls } = run(jb, arrivals, 128, 6_200);
    const s = jb.getStats();
    const ops = jb.getOperationStats();
    expect(s.droppedFrames).toBe(0);
    expect(s.insertedFrames).toBe(0);
    expect(ops.frameDrop.count + ops.frameInsert.count).toBe(0);
    // Each accelerate removed one period of the 140 Hz voice (7.1 ms), not a frame.
    expect(ops.accelerate.count).toBeGreaterThanOrEqual(6);
    const perOpMs = s.acceleratedMs / ops.accelerate.count;
    expect(perOpMs).toBeGreaterThan(VOICED_PERIOD_MS - 0.3);
    expect(perOpMs).toBeLessThan(VOICED_PERIOD_MS + 0.3);
    // The delay came down from ~80 ms to within a period or two of the target.
    const start = pulls[0]!.stats.currentDelayMs;
    const end = pulls.at(-1)!.stats;
    expect(start).toBeGreaterThan(70);
    expect(end.currentDelayMs).toBeLessThanOrEqual(end.targetDelayMs + 12);
    // In steps of a period at most (pull to pull), never a 10 ms frame.
    for (let k = 1; k < pulls.length; k++) {
      const step = pulls[k - 1]!.stats.currentDelayMs - pulls[k]!.stats.currentDelayMs;
      expect(step).toBeLessThan(VOICED_PERIOD_MS + 1);
    }
    // Every packet was played (none skipped, none late), nothing concealed mid-stream.
    expect(decoder.decoded).toBe(600);
    expect(s.late + s.concealed).toBe(0);
  });

  it('without a stretcher the same stream sheds its delay by whole frames inside speech', () => {
    const arrivals = signalTrace(600, 480, () => 5);
    const { jb } = buffer({ stretch: false, initialDelayMs: 80, pullSamples: 128 });
    run(jb, arrivals, 128, 6_000);
    // Loud speech throughout: each drop waited forceCorrectionAfterMs, then cut 10 ms of speech.
    expect(jb.getStats().droppedFrames).toBeGreaterThanOrEqual(3);
    expect(jb.getOperationStats().accelerate.count).toBe(0);
  });

  it('raises the delay by preemptive expand against a slow sender clock, without inserted frames', () => {
    // The sender's clock runs 1 % slow: 10 ms less delay every second, for 6 s of speech.
    const arrivals = signalTrace(
      600,
      480,
      () => 5,
      () => 'voiced',
      1.01,
    );
    const { jb } = buffer({ pullSamples: 480 });
    const { pulls } = run(jb, arrivals, 480, 6_100);
    const s = jb.getStats();
    const ops = jb.getOperationStats();
    expect(s.insertedFrames).toBe(0);
    expect(ops.frameInsert.count).toBe(0);
    // The 60 ms of drift (less the 30 ms the buffer started above its target) made up by
    // periods of 7.1 ms.
    expect(s.expandedMs).toBeGreaterThan(40);
    expect(ops.preemptiveExpand.count).toBeGreaterThanOrEqual(6);
    const late = pulls.filter((p) => p.atMs > 1_000 && p.atMs < 6_000);
    expect(late.at(-1)!.stats.late + late.at(-1)!.stats.concealed).toBe(0);
    for (const p of late) {
      expect(p.stats.currentDelayMs).toBeLessThanOrEqual(p.stats.targetDelayMs + 20);
    }
  });

  it('retries refused stretches on unvoiced speech and falls back to a whole frame after forceCorrectionAfterMs', () => {
    // Loud noise (unvoiced, never periodic) for 5 s, starting 80 ms deep.
    const arrivals = signalTrace(
      500,
      480,
      () => 5,
      () => 'unvoiced',
    );
    const { jb } = buffer({ initialDelayMs: 80, pullSamples: 480 });
    const { pulls } = run(jb, arrivals, 480, 5_000);
    const ops = jb.getOperationStats();
    expect(ops.accelerate.count).toBe(0);
    expect(ops.accelerateRefused.count).toBeGreaterThan(50); // retried packet after packet
    expect(jb.getStats().stretchRefusals).toBe(ops.accelerateRefused.count);
    const firstDrop = pulls.find((p) => p.stats.droppedFrames > 0);
    expect(firstDrop).toBeDefined();
    expect(firstDrop!.atMs - pulls[0]!.atMs).toBeGreaterThanOrEqual(1_000);
  });

  it('drops whole frames in quiet frames even with a stretcher', () => {
    // 1 s of quiet frames (a pause), then speech, starting 80 ms deep.
    const arrivals = signalTrace(
      300,
      480,
      () => 5,
      (k) => (k < 100 ? 'quiet' : 'voiced'),
    );
    const { jb } = buffer({ initialDelayMs: 80, pullSamples: 480 });
    const { pulls } = run(jb, arrivals, 480, 3_000);
    const inPause = pulls.filter((p) => p.atMs < 1_000).at(-1)!.stats;
    expect(inPause.droppedFrames).toBeGreaterThanOrEqual(3);
  });

  it('passes every sample through the stretcher unchanged when no correction is due', () => {
    // Calm path, the initial delay at the target: nothing to correct. The stretcher records
    // each packet as played and returns it bit for bit.
    const arrivals = signalTrace(300, 480, () => 5);
    for (const [pullSamples, initialDelayMs] of [
      [128, 12],
      [480, 15],
    ] as const) {
      // Playing starts up to half a pull early, so the hold starts within [target, target +
      // a pull) of the 10 ms target; the FIFO's remainder at each decode (0, 32, 64 or 96
      // samples with 128-sample pulls, 0 with 480) is shorter than any period: nothing can be
      // taken off without the hold dropping below the target, nothing is missing.
      const { jb } = buffer({ initialDelayMs, pullSamples });
      const { out } = run(jb, arrivals, pullSamples, 2_900);
      const ops = jb.getOperationStats();
      expect(ops.accelerate.count + ops.preemptiveExpand.count).toBe(0);
      expect(ops.accelerateRefused.count + ops.preemptiveExpandRefused.count).toBe(0);
      expect(out.length).toBeGreaterThan(280 * 480);
      for (let n = 0; n < 280 * 480; n++) {
        if (out[n] !== Math.fround(signalAt('voiced', n))) {
          throw new Error(`sample ${n} differs (pull ${pullSamples})`);
        }
      }
    }
  });

  it('reports the cost of each operation with the clock it is given', () => {
    let t = 0;
    const cpuClock = (): number => (t += 0.002); // 2 µs between reads
    const lost = new Set([50, 51, 120]);
    const arrivals = signalTrace(200, 480, (k) => (lost.has(k) ? NaN : 5));
    const { jb } = buffer({ stretch: false, pullSamples: 480, cpuClock, initialDelayMs: 10 });
    const { pulls } = run(jb, arrivals, 480, 2_000);
    const ops = jb.getOperationStats();
    // One operation per 10 ms pull: every pull is accounted for by exactly one operation.
    const total = Object.values(ops).reduce((n, o) => n + o.count, 0);
    expect(total).toBe(pulls.length);
    // Three lost packets concealed; playback resumed twice (after 50–51 and after 120).
    expect(ops.expand.count).toBeGreaterThanOrEqual(3);
    expect(ops.merge.count).toBe(2);
    for (const o of Object.values(ops)) {
      if (o.count > 0) expect(o.meanUs).toBeCloseTo(2, 6);
    }
  });
});

describe('JitterBuffer with 10 ms packets', () => {
  it('reorders, rebuilds from FEC and conceals 480-sample packets', () => {
    const dec = new FakeDecoder();
    const jb = new JitterBuffer({ decoder: dec, pullSamples: 480 });
    const lost = new Set([60, 61, 150]);
    const packet = (k: number) => fakePacket(k, { samples: 480, fec: k !== 62 });
    const arrivals = trace(
      300,
      (k) => (lost.has(k) ? NaN : k % 3 === 0 ? 22 : 10), // every third packet 12 ms late
      { frameMs: 10, packet },
    );
    run(jb, arrivals, 480, 3_300);
    // 61 is rebuilt from 62's FEC? No: 62 carries none, so 60 and 61 are concealed; 150 is
    // rebuilt from 151.
    const fec = dec.log.filter((e) => e.path === 'fec').map((e) => e.frame);
    expect(fec).toEqual([150]);
    expect(dec.decodedFrames).toEqual([...Array(300).keys()].filter((k) => !lost.has(k)));
    const s = jb.getStats();
    expect(s).toMatchObject({ late: 0, lostTotal: 3, fecRecovered: 1, packetMs: 10 });
    expect(s.concealed).toBeGreaterThanOrEqual(2);
  });

  it('plays a stream that switches between 20 ms and 10 ms packets without a gap or a skip', () => {
    // 2 s of 20 ms packets, 2 s of 10 ms, 2 s of 20 ms; contiguous timestamps and sequence
    // numbers, 5–8 ms of network delay.
    const r = rng(3);
    const sizes = [...Array(100).fill(960), ...Array(200).fill(480), ...Array(100).fill(960)];
    let start = 0;
    const arrivals: TraceArrival[] = sizes.map((n: number, k) => {
      const p = signalPacket(k, start, n);
      start += n;
      return { packet: p, atMs: start / 48 + 5 + 3 * r() };
    });
    for (const pullSamples of [128, 480, 960]) {
      for (const stretch of [false, true]) {
        // A 30 ms minimum level holds 10 ms packets 20 ms: room for the 10 ms more that 20 ms
        // packets take to be sent, so the switch back to them costs no late packet.
        const { jb, decoder } = buffer({
          stretch,
          pullSamples,
          minDelayMs: 30,
          forceCorrectionAfterMs: 60_000,
        });
        const { out, pulls } = run(jb, arrivals, pullSamples, 6_400);
        const s = jb.getStats();
        expect(decoder.decoded).toBe(400);
        expect(s.late + s.concealed + s.droppedFrames + s.insertedFrames).toBe(0);
        expect(pulls.find((p) => p.atMs > 3_000)!.stats.packetMs).toBe(10);
        expect(s.packetMs).toBe(20);
        if (!stretch) {
          // Without stretching, the output is the signal itself, sample for sample.
          for (let n = 0; n < 5.5 * 48_000; n++) {
            if (out[n] !== Math.fround(signalAt('voiced', n))) {
              throw new Error(`sample ${n} differs (pull ${pullSamples})`);
            }
          }
        }
      }
    }
  });

  it('holds 10 ms packets to the minimum buffer level, the arriving packet included', () => {
    // Calm path: the target is the minimum level (20 ms) less the packet (10 ms); 20 ms packets
    // need no hold of their own, so only the jitter spread (5 ms bucket) remains.
    const hold = (samples: number) => {
      const arrivals = signalTrace(Math.round(96_000 / samples), samples, () => 5);
      const { jb } = buffer({ stretch: false, pullSamples: 480 });
      run(jb, arrivals, 480, 1_900);
      return jb.getStats().targetDelayMs;
    };
    expect(hold(480)).toBe(10);
    expect(hold(960)).toBe(5);
  });

  it('rejects packets that are neither 10 nor 20 ms and pull sizes out of range', () => {
    const { jb } = buffer({ stretch: false });
    expect(() => jb.push(fakePacket(0, { samples: 240 }), 0)).toThrow(/durationSamples/);
    expect(() => buffer({ stretch: false, pullSamples: 0 })).toThrow(/pullSamples/);
    expect(() => buffer({ stretch: false, pullSamples: 961 })).toThrow(/pullSamples/);
  });
});
