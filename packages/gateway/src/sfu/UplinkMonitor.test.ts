import { describe, expect, it } from 'vitest';
import { UplinkMonitor } from './UplinkMonitor.js';

/** Feeds 20 ms packets `from`…`to` (inclusive, mod 2^16) except `skip`, on time + `late(i)` ms. */
function feed(
  m: UplinkMonitor,
  from: number,
  count: number,
  {
    skip = new Set<number>(),
    late = (_i: number): number => 0,
    ts0 = 1_000,
  }: { skip?: Set<number>; late?: (i: number) => number; ts0?: number } = {},
) {
  for (let i = 0; i < count; i++) {
    if (skip.has(i)) continue;
    m.onPacket((from + i) % 0x1_0000, (ts0 + i * 960) >>> 0, 10_000 + i * 20 + late(i));
  }
}

describe('UplinkMonitor (RFC 3550 reception statistics)', () => {
  it('reports nothing before the first packet, then 0 loss and 0 jitter for a clean stream', () => {
    const m = new UplinkMonitor();
    expect(m.report()).toBeUndefined();
    feed(m, 100, 50);
    expect(m.report()).toEqual({ fractionLost: 0, jitterMs: 0, lostTotal: 0, packets: 50 });
  });

  it('counts the loss of each interval apart, across a sequence wrap', () => {
    const m = new UplinkMonitor();
    // 100 packets over the 65535 → 0 wrap, 10 lost: fraction 10/100 × 256 = 25.
    feed(m, 65_500, 100, { skip: new Set([3, 13, 23, 33, 43, 53, 63, 73, 83, 93]) });
    expect(m.report()).toEqual({ fractionLost: 25, jitterMs: 0, lostTotal: 10, packets: 90 });
    // The next interval is clean: its fraction is 0, the total stays.
    const m2 = m;
    for (let i = 100; i < 150; i++)
      m2.onPacket((65_500 + i) % 0x1_0000, 1_000 + i * 960, 10_000 + i * 20);
    expect(m2.report()).toEqual({ fractionLost: 0, jitterMs: 0, lostTotal: 10, packets: 50 });
  });

  it('measures jitter from arrival times against RTP timestamps (uniform ±30 ms ≈ 13 ms)', () => {
    const m = new UplinkMonitor();
    let x = 7;
    const rand = () => ((x = (x * 48_271) % 0x7fffffff) / 0x7fffffff) * 2 - 1;
    feed(m, 0, 2_000, { late: () => 30 + 30 * rand() });
    const r = m.report()!;
    // E|D| for D = difference of two U(−30, 30) delays is 20 ms; the estimator converges near it.
    expect(r.jitterMs).toBeGreaterThan(12);
    expect(r.jitterMs).toBeLessThan(28);
    expect(r.fractionLost).toBe(0);
  });

  it('ignores duplicates and counts reordered packets once; a sequence restart starts over', () => {
    const m = new UplinkMonitor();
    m.onPacket(10, 0, 0);
    m.onPacket(12, 1_920, 40);
    m.onPacket(11, 960, 41); // late
    m.onPacket(12, 1_920, 42); // duplicate
    expect(m.report()).toMatchObject({ fractionLost: 0, lostTotal: 0 });
    m.onPacket(40_000, 5_000, 60); // far jump: a new stream
    m.onPacket(40_001, 5_960, 80);
    expect(m.report()).toMatchObject({ fractionLost: 0, lostTotal: 0 });
  });
});
