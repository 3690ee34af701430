import { describe, expect, it } from 'vitest';
import { ReceptionStatistics } from './ReceptionStatistics.js';

/** Receives `seqs` (u16, in order given) one per 20 ms, timestamps 960 apart, transit `transitMs(i)`. */
function receive(
  stats: ReceptionStatistics,
  seqs: number[],
  transitMs: (i: number) => number = () => 40,
  resumedAt = -1,
): void {
  seqs.forEach((seq, i) => {
    const ts = seq * 960;
    const arrivalMs = seq * 20 + transitMs(i);
    if (i === 0 && stats.received === 0) {
      stats.start(seq);
    } else {
      const ext = stats.extend(seq);
      if (stats.accept(ext, i === resumedAt) < 0) return;
    }
    stats.observeTransit(ts, arrivalMs);
    stats.snapshot(arrivalMs);
  });
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('ReceptionStatistics', () => {
  it('extends sequence numbers across the u16 wrap (RFC 3550 A.1)', () => {
    const stats = new ReceptionStatistics();
    receive(
      stats,
      range(100, 65_500).map((s) => s & 0xffff),
    );
    expect(stats.highestSeq - 0x10000).toBe(65_599); // one cycle up, as the start was
    expect(stats.takeReceiverReport().highestSeq).toBe(65_536 + 63);
    expect(stats.lostTotal).toBe(0);
  });

  it('counts lost and duplicate packets, and the fraction lost per report interval (RFC 3550 A.3)', () => {
    const stats = new ReceptionStatistics();
    const seqs = range(200).filter((s) => s % 10 !== 5); // 20 lost
    receive(stats, [...seqs.slice(0, 50), 3, 4, ...seqs.slice(50)]); // two duplicates
    expect(stats.duplicates).toBe(2);
    expect(stats.received).toBe(180);
    expect(stats.lostTotal).toBe(20);
    const first = stats.takeReceiverReport();
    expect(first.fractionLost).toBe(Math.floor((20 * 256) / 200));
    expect(first.lostTotal).toBe(20);
    receive(stats, range(50, 200)); // a clean interval
    expect(stats.takeReceiverReport().fractionLost).toBe(0);
  });

  it('computes interarrival jitter as RFC 3550 §6.4.1: 0 on a constant path, |D| on an alternating one', () => {
    const constant = new ReceptionStatistics();
    receive(constant, range(300), () => 40);
    expect(constant.jitterMs).toBe(0);
    const alternating = new ReceptionStatistics();
    receive(alternating, range(300), (i) => (i % 2 === 0 ? 40 : 52)); // |D| = 12 ms every packet
    expect(alternating.jitterMs).toBeCloseTo(12, 3);
  });

  it('reports the loss of the last window only', () => {
    const stats = new ReceptionStatistics({ lossWindowMs: 1_000 });
    receive(
      stats,
      range(100).filter((s) => s % 5 !== 0),
    ); // 20 % loss over 2 s
    expect(stats.lossPct()).toBeCloseTo(20, 0);
    receive(stats, range(150, 100)); // 3 s clean
    expect(stats.lossPct()).toBe(0);
  });

  it('does not count sequence numbers the relay announced it did not forward', () => {
    const stats = new ReceptionStatistics();
    const seqs = [...range(50), ...range(50, 130)]; // 80 not forwarded
    receive(stats, seqs, () => 40, 50);
    expect(stats.lostTotal).toBe(0);
    expect(stats.cleanRun).toBe(99); // every packet after the first

    const unannounced = new ReceptionStatistics();
    receive(unannounced, seqs);
    expect(unannounced.lostTotal).toBe(80);
    expect(unannounced.cleanRun).toBe(49); // since the one after the gap
  });

  it('keeps its counters across a sender restart', () => {
    const stats = new ReceptionStatistics();
    receive(
      stats,
      range(50).filter((s) => s !== 10),
    );
    stats.restart();
    stats.start(30_000);
    receive(stats, range(49, 30_001));
    expect(stats.received).toBe(99);
    expect(stats.lostTotal).toBe(1);
  });

  it('rejects a loss window out of range', () => {
    expect(() => new ReceptionStatistics({ lossWindowMs: 100 })).toThrow(/lossWindowMs/);
  });
});
