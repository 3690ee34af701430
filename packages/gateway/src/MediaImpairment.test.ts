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

  it('delays each frame by delayMs ± jitterMs (netem), by default 0–2·jitterMs, reordering frames', async () => {
    const imp = new MediaImpairment({ lossPct: 0, jitterMs: 30, seed: 1 });
    const arrived: number[] = [];
    for (let i = 0; i < 200; i++) imp.forward(() => arrived.push(i));
    await vi.advanceTimersByTimeAsync(30);
    // About half arrive in the first 30 ms (uniform 0–60 ms).
    expect(arrived.length).toBeGreaterThan(70);
    expect(arrived.length).toBeLessThan(130);
    await vi.advanceTimersByTimeAsync(31);
    expect(arrived).toHaveLength(200);
    expect(arrived).not.toEqual([...arrived].sort((x, y) => x - y));
    // An explicit mean delay shifts the window: 100 ± 10 ms.
    const shifted = new MediaImpairment({ lossPct: 0, jitterMs: 10, delayMs: 100, seed: 2 });
    let n = 0;
    for (let i = 0; i < 50; i++) shifted.forward(() => n++);
    await vi.advanceTimersByTimeAsync(89);
    expect(n).toBe(0);
    await vi.advanceTimersByTimeAsync(22);
    expect(n).toBe(50);
  });

  it('rejects settings out of range', () => {
    expect(() => new MediaImpairment({ lossPct: 101, jitterMs: 0, seed: 1 })).toThrow(RangeError);
    expect(() => new MediaImpairment({ lossPct: 0, jitterMs: -1, seed: 1 })).toThrow(RangeError);
    expect(() => new MediaImpairment({ lossPct: 0, jitterMs: 0, delayMs: -5, seed: 1 })).toThrow(
      RangeError,
    );
    expect(() => new MediaImpairment({ lossPct: 0, jitterMs: 0, seed: 1.5 })).toThrow(RangeError);
  });
});
