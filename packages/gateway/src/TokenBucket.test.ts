import { describe, expect, it } from 'vitest';
import { TokenBucket } from './TokenBucket.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('TokenBucket', () => {
  it('allows exactly `capacity` takes in a burst, then refuses', () => {
    const c = clock();
    const bucket = new TokenBucket(120, 60_000, c.now);
    for (let i = 0; i < 120; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    expect(bucket.take()).toBe(false);
  });

  it('refills continuously at capacity / window', () => {
    const c = clock();
    const bucket = new TokenBucket(120, 60_000, c.now); // one token per 500 ms
    for (let i = 0; i < 120; i++) bucket.take();
    c.advance(499);
    expect(bucket.take()).toBe(false);
    c.advance(1);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    c.advance(5_000);
    for (let i = 0; i < 10; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('never holds more than its capacity after a long idle period', () => {
    const c = clock();
    const bucket = new TokenBucket(5, 1_000, c.now);
    c.advance(3_600_000);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('sustains exactly the configured rate over many windows', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 1_000, c.now);
    let taken = 0;
    // 10 s of attempts every 10 ms: the 10-token burst plus 10 tokens per second.
    for (let ms = 0; ms < 10_000; ms += 10) {
      if (bucket.take()) taken++;
      c.advance(10);
    }
    expect(taken).toBe(10 + 100 - 1);
  });

  it('rejects a non-positive capacity or window with RangeError', () => {
    expect(() => new TokenBucket(0, 1_000)).toThrow(RangeError);
    expect(() => new TokenBucket(-1, 1_000)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN, 1_000)).toThrow(RangeError);
    expect(() => new TokenBucket(10, 0)).toThrow(RangeError);
  });
});
