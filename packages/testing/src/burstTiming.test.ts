import { describe, expect, it } from 'vitest';
import { medianIntervalMs, pairBurstLatencies, percentiles } from './burstTiming.js';

describe('burst timing', () => {
  it('pairs each received onset with the latest sent one and drops the first burst', () => {
    const sent = [0, 500, 1000, 1500];
    const received = [45, 548, 1052, 1490, 1561];
    const pairs = pairBurstLatencies(sent, received);
    expect(pairs.map((p) => p.latencyMs)).toEqual([48, 52, 61]);
    expect(pairs[0]!.sentMs).toBe(500);
  });

  it('ignores onsets with no sent burst in reach and counts a burst once', () => {
    const pairs = pairBurstLatencies([1000], [900, 1010, 1020, 1600], {
      dropFirst: 0,
      maxLatencyMs: 400,
    });
    expect(pairs).toEqual([{ sentMs: 1000, receivedMs: 1010, latencyMs: 10 }]);
  });

  it('gives nearest-rank percentiles and the median period', () => {
    expect(percentiles([5, 1, 4, 2, 3], [0.5, 0.95])).toEqual([3, 5]);
    expect(percentiles([], [0.5])[0]).toBeNaN();
    expect(medianIntervalMs([0, 500, 1001, 1499, 2000])).toBe(500);
  });
});
