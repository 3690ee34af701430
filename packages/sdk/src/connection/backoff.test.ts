import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.js';

const almostOne = 1 - Number.EPSILON;

describe('backoffDelayMs', () => {
  it('is uniform over [0, base × 2^attempt) (full jitter)', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1_000_000 };
    for (let attempt = 0; attempt < 8; attempt++) {
      const cap = 100 * 2 ** attempt;
      expect(backoffDelayMs(attempt, options, () => 0)).toBe(0);
      expect(backoffDelayMs(attempt, options, () => 0.5)).toBe(cap / 2);
      expect(backoffDelayMs(attempt, options, () => almostOne)).toBe(cap - 1);
    }
  });

  it('never exceeds maxDelayMs', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1_000 };
    const caps = [0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelayMs(a, options, () => almostOne));
    expect(caps).toEqual([99, 199, 399, 799, 999, 999, 999, 999]);
  });

  it('defaults to base 500 ms and a 30 s cap', () => {
    expect(backoffDelayMs(0, {}, () => 0.5)).toBe(250);
    expect(backoffDelayMs(10, {}, () => 0.5)).toBe(15_000);
    expect(backoffDelayMs(0, undefined, () => almostOne)).toBe(499);
  });

  it('stays finite for huge attempt counts', () => {
    expect(backoffDelayMs(10_000, { baseDelayMs: 500, maxDelayMs: 30_000 }, () => 0.5)).toBe(
      15_000,
    );
  });

  it('returns whole milliseconds spread over the range with Math.random', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelayMs(3, { baseDelayMs: 100 });
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(800);
      seen.add(Math.floor(d / 100));
    }
    expect(seen.size).toBe(8); // every eighth of the range is hit
  });
});
