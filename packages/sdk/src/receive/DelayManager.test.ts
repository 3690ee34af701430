import { describe, expect, it } from 'vitest';
import { DelayManager } from './DelayManager.js';
import { rng } from './jitterTrace.test-util.js';

/**
 * Feeds `count` packets of `samples` to `dm`, sent when complete every packet duration from
 * `startMs`, each arriving `delayMs(k)` later; returns the time after the last one.
 */
function feed(
  dm: DelayManager,
  count: number,
  samples: number,
  delayMs: (k: number) => number,
  { startMs = 0, startTs = 0, fec = false } = {},
): number {
  const packetMs = samples / 48;
  for (let k = 0; k < count; k++) {
    const ts = startTs + k * samples;
    dm.update(ts, startMs + (k + 1) * packetMs + delayMs(k), samples, fec);
  }
  return startMs + count * packetMs;
}

describe('DelayManager', () => {
  it('targets the 95 % quantile of the relative delays, at the upper edge of its 5 ms bucket', () => {
    const r = rng(1);
    const dm = new DelayManager();
    feed(dm, 1_500, 960, () => 40 + 30 * r()); // 0–30 ms of jitter
    expect(dm.spreadMs).toBe(30);
    expect(dm.targetMs).toBe(30);
    const calm = new DelayManager();
    feed(calm, 1_500, 960, () => 40 + 2 * r());
    expect(calm.spreadMs).toBe(5);
  });

  it('counts the minimum delay on buffer level, the arriving packet included', () => {
    // No jitter: the target is the minimum level less the packet's own duration, or the
    // 5 ms spread bucket when that is more.
    const level = (minDelayMs: number, samples: number, queuedMs = 0) => {
      const dm = new DelayManager({ minDelayMs });
      if (queuedMs > 0) dm.observeQueue(queuedMs);
      feed(dm, 300, samples, () => 5);
      return dm.targetMs;
    };
    expect(level(20, 480)).toBe(10); // 10 ms packets are held 10 ms
    expect(level(20, 960)).toBe(5); // 20 ms packets are a level of 20 ms by themselves
    expect(level(40, 960)).toBe(20);
    expect(level(40, 480)).toBe(30);
    // Audio queued at the sink counts toward the level too.
    expect(level(40, 480, 15)).toBe(15);
    expect(level(20, 480, 15)).toBe(5);
  });

  it('adds one packet of delay for FEC protection, of the packets’ own duration', () => {
    const r = rng(2);
    for (const samples of [480, 960]) {
      const plain = new DelayManager({ minDelayMs: 10 });
      const fec = new DelayManager({ minDelayMs: 10 });
      const seed = rng(2);
      feed(plain, 1_000, samples, () => 30 * seed());
      feed(fec, 1_000, samples, () => 30 * r(), { fec: true });
      expect(fec.targetMs - plain.targetMs).toBe(samples / 48);
      expect(fec.fecProtected).toBe(true);
    }
  });

  it('measures transit at packet ends: a switch between 10 and 20 ms packets keeps the base and the histogram', () => {
    const r = rng(3);
    const dm = new DelayManager();
    // 4 s of 10 ms packets with 0–10 ms of jitter, then 20 ms packets on the same network.
    let t = feed(dm, 400, 480, () => 5 + 10 * r());
    const before = { spread: dm.spreadMs, base: dm.baseTransitMs };
    t = feed(dm, 50, 960, () => 5 + 10 * r(), { startMs: t, startTs: 400 * 480 });
    // The network did not change: the same spread; the first sample of a 20 ms packet leaves
    // 10 ms later than that of a 10 ms packet, so the first-sample base is 10 ms higher.
    expect(dm.spreadMs).toBe(before.spread);
    expect(dm.baseTransitMs - before.base).toBeCloseTo(10, 0);
    expect(dm.packetMs).toBe(20);
    expect(t).toBeGreaterThan(4_000);
  });

  it('takes the base transit as the minimum of the last 2 s, so a lasting delay step is forgotten', () => {
    const dm = new DelayManager();
    let t = feed(dm, 150, 960, () => 20); // 3 s at 20 ms
    expect(dm.baseTransitMs).toBeCloseTo(40, 6); // + the 20 ms packet itself
    t = feed(dm, 50, 960, () => 70, { startMs: t, startTs: 150 * 960 }); // 1 s at 70 ms
    expect(dm.baseTransitMs).toBeCloseTo(40, 6); // the old minimum is still in the window
    feed(dm, 75, 960, () => 70, { startMs: t, startTs: 200 * 960 }); // 1.5 s more
    expect(dm.baseTransitMs).toBeCloseTo(90, 6);
  });

  it('forgets a jitter burst within seconds, at the same pace for 10 and 20 ms packets', () => {
    const recovery = (samples: number) => {
      const r = rng(4);
      const dm = new DelayManager();
      const packetMs = samples / 48;
      const n = (ms: number) => Math.round(ms / packetMs);
      // 10 s calm (the start-up ramp is over), 2 s of 0–60 ms jitter, then calm.
      let t = feed(dm, n(10_000), samples, () => 5 + 2 * r());
      t = feed(dm, n(2_000), samples, () => 5 + 60 * r(), {
        startMs: t,
        startTs: n(10_000) * samples,
      });
      const burst = dm.spreadMs;
      let ts = n(12_000) * samples;
      let afterMs = 0;
      while (dm.spreadMs > 10 && afterMs < 30_000) {
        t = feed(dm, n(100), samples, () => 5 + 2 * r(), { startMs: t, startTs: ts });
        ts += n(100) * samples;
        afterMs += 100;
      }
      return { burst, afterMs };
    };
    const ten = recovery(480);
    const twenty = recovery(960);
    expect(ten.burst).toBeGreaterThanOrEqual(50);
    expect(twenty.burst).toBeGreaterThanOrEqual(50);
    expect(twenty.afterMs).toBeGreaterThan(2_000); // slow decay, by design
    expect(twenty.afterMs).toBeLessThan(15_000);
    expect(Math.abs(ten.afterMs - twenty.afterMs)).toBeLessThanOrEqual(1_000);
  });

  it('clamps the target to maxDelayMs and starts at initialDelayMs', () => {
    const dm = new DelayManager({ maxDelayMs: 60, initialDelayMs: 50 });
    expect(dm.targetMs).toBe(50);
    const r = rng(5);
    feed(dm, 500, 960, () => 300 * r());
    expect(dm.targetMs).toBe(60);
  });

  it('smooths the sink queue and resets it at 0', () => {
    const dm = new DelayManager({ minDelayMs: 60 });
    feed(dm, 100, 960, () => 5);
    expect(dm.targetMs).toBe(40);
    dm.observeQueue(16);
    expect(dm.queuedMs).toBe(16); // the first value is taken as is
    dm.observeQueue(0);
    expect(dm.queuedMs).toBe(0);
    dm.observeQueue(16);
    dm.observeQueue(32);
    expect(dm.queuedMs).toBe(17); // then 1/16 of each change
    expect(dm.targetMs).toBe(40 - 17);
  });

  it('rejects options out of range, naming them', () => {
    expect(() => new DelayManager({ minDelayMs: 5 })).toThrow(/minDelayMs/);
    expect(() => new DelayManager({ maxDelayMs: 15 })).toThrow(/maxDelayMs/);
    expect(() => new DelayManager({ initialDelayMs: 300 })).toThrow(/initialDelayMs/);
    expect(() => new DelayManager({ quantile: 1 })).toThrow(/quantile/);
    expect(() => new DelayManager({ forgetFactor: 0.5 })).toThrow(/forgetFactor/);
  });
});
