import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MediaImpairment } from './MediaImpairment.js';

describe('MediaImpairment (test-only)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('drops about lossPct % of frames, the same frames for the same seed', () => {
    const run = (seed: number): boolean[] => {
      const imp = new MediaImpairment({ lossPct: 5, jitterMs: 0, seed });
      return Array.from({ length: 20_000 }, () => imp.forward(() => undefined));
    };
    const a = run(7);
    const lost = a.filter((ok) => !ok).length / a.length;
    expect(lost).toBeGreaterThan(0.045);
    expect(lost).toBeLessThan(0.055);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
  });

  it('delays each frame by 0–jitterMs ms, so frames can arrive out of order', async () => {
    const imp = new MediaImpairment({ lossPct: 0, jitterMs: 30, seed: 1 });
    const arrived: number[] = [];
    for (let i = 0; i < 50; i++) imp.forward(() => arrived.push(i));
    await vi.advanceTimersByTimeAsync(15);
    expect(arrived.length).toBeGreaterThan(0);
    expect(arrived.length).toBeLessThan(50);
    await vi.advanceTimersByTimeAsync(15);
    expect(arrived).toHaveLength(50);
    expect(arrived).not.toEqual([...arrived].sort((x, y) => x - y));
  });

  it('rejects settings out of range', () => {
    expect(() => new MediaImpairment({ lossPct: 101, jitterMs: 0, seed: 1 })).toThrow(RangeError);
    expect(() => new MediaImpairment({ lossPct: 0, jitterMs: -1, seed: 1 })).toThrow(RangeError);
    expect(() => new MediaImpairment({ lossPct: 0, jitterMs: 0, seed: 1.5 })).toThrow(RangeError);
  });
});
