import { describe, expect, it } from 'vitest';
import { MEDIA_ABUSE_FACTOR, MediaRateLimiter, type MediaAdmission } from './MediaRateLimiter.js';

function clocked(fps: number, burst: number) {
  let now = 0;
  const limiter = new MediaRateLimiter(fps, burst);
  /** Sends `count` frames evenly over `ms`; returns how many of each outcome. */
  const send = (count: number, ms: number): Record<MediaAdmission, number> => {
    const out = { forward: 0, drop: 0, abuse: 0 };
    for (let i = 0; i < count; i++) {
      out[limiter.admit(now)]++;
      now += ms / count;
    }
    return out;
  };
  return { limiter, send };
}

describe('MediaRateLimiter', () => {
  it('forwards a steady 50 frames/s (20 ms Opus) under a 60 fps limit for a minute', () => {
    const { send } = clocked(60, 20);
    expect(send(50 * 60, 60_000)).toEqual({ forward: 3000, drop: 0, abuse: 0 });
  });

  it('absorbs a burst of up to 20 frames, then drops what exceeds the rate', () => {
    const { send } = clocked(60, 20);
    expect(send(20, 0)).toEqual({ forward: 20, drop: 0, abuse: 0 });
    expect(send(5, 0)).toEqual({ forward: 0, drop: 5, abuse: 0 });
    // 2× the rate for 1 s: about 60 pass, the rest drop; no close below 3×.
    const r = send(120, 1_000);
    expect(r.abuse).toBe(0);
    expect(r.forward).toBeGreaterThanOrEqual(59);
    expect(r.forward).toBeLessThanOrEqual(61);
  });

  it(`reports abuse for a sustained flood above ${MEDIA_ABUSE_FACTOR}× the rate, but not for 2.5×`, () => {
    const ok = clocked(60, 20);
    expect(ok.send(150 * 20, 20_000).abuse).toBe(0);
    const flood = clocked(60, 20);
    const r = flood.send(1_000, 1_000); // 1000 frames/s
    expect(r.abuse).toBeGreaterThan(0);
    expect(r.forward).toBeLessThanOrEqual(20 + 60);
  });

  it('rejects a non-positive rate or burst', () => {
    expect(() => new MediaRateLimiter(0, 20)).toThrow(RangeError);
    expect(() => new MediaRateLimiter(60, 0)).toThrow(RangeError);
  });
});
