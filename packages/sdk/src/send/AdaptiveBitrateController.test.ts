import { describe, expect, it } from 'vitest';
import { InvalidStateError } from '../errors.js';
import {
  AdaptiveBitrateController,
  BITRATE_LADDER_BPS,
  networkScore,
  type AbrDecision,
  type AdaptiveBitrateOptions,
  type NetworkSample,
} from './AdaptiveBitrateController.js';
import { rng } from '../receive/jitterTrace.test-util.js';

const CLEAN: NetworkSample = { lossPct: 0, rttMs: 20, jitterMs: 2 };
/** The e2e impairment: 5 % loss, 30 ms jitter, on a 50 ms RTT path. Score 0.225. */
const IMPAIRED: NetworkSample = { lossPct: 5, rttMs: 50, jitterMs: 30 };

/** A sample whose score is exactly `score`. */
function sampleFor(score: number): NetworkSample {
  if (score >= 0.4) {
    const x = (score - 0.4) / 0.6;
    return { lossPct: 0, rttMs: 200 * (1 - x), jitterMs: 20 * (1 - x) };
  }
  return { lossPct: 5 * (1 - score / 0.4), rttMs: 200, jitterMs: 20 };
}

interface Change {
  atMs: number;
  from: number;
  to: number;
}

/**
 * Feeds a scripted trace: `sampleAt(t)` every `periodMs` from `fromMs` up to `untilMs`
 * (explicit clock, no timers: the controller reads no time).
 */
function run(
  abr: AdaptiveBitrateController,
  sampleAt: (t: number) => NetworkSample,
  untilMs: number,
  periodMs = 250,
  fromMs = 0,
): { changes: Change[]; decisions: { atMs: number; d: AbrDecision }[] } {
  const changes: Change[] = [];
  const decisions: { atMs: number; d: AbrDecision }[] = [];
  let now = fromMs;
  const onChange = (to: number, from: number): void => {
    changes.push({ atMs: now, from, to });
  };
  abr.on('bitrateChanged', onChange);
  for (; now <= untilMs; now += periodMs)
    decisions.push({ atMs: now, d: abr.update(sampleAt(now), now) });
  abr.off('bitrateChanged', onChange);
  return { changes, decisions };
}

function controller(options: AdaptiveBitrateOptions = {}): AdaptiveBitrateController {
  return new AdaptiveBitrateController(options);
}

describe('networkScore', () => {
  it('is 0.4·loss + 0.3·rtt + 0.3·jitter with 5 %, 200 ms and 20 ms as the zero points', () => {
    expect(networkScore({ lossPct: 0, rttMs: 0, jitterMs: 0 })).toBe(1);
    expect(networkScore({ lossPct: 5, rttMs: 200, jitterMs: 20 })).toBe(0);
    expect(networkScore({ lossPct: 50, rttMs: 900, jitterMs: 90 })).toBe(0);
    expect(networkScore({ lossPct: 2.5, rttMs: 100, jitterMs: 10 })).toBeCloseTo(0.5, 12);
    expect(networkScore({ lossPct: 1, rttMs: 50, jitterMs: 5 })).toBeCloseTo(0.77, 12);
    expect(networkScore(IMPAIRED)).toBeCloseTo(0.225, 12);
    for (const s of [0.1, 0.39, 0.41, 0.79, 0.81])
      expect(networkScore(sampleFor(s))).toBeCloseTo(s, 12);
  });
});

describe('AdaptiveBitrateController', () => {
  it('starts at 48 kbit/s with FEC off', () => {
    const abr = controller();
    expect(abr.decision).toMatchObject({ bitrateBps: 48_000, fec: false, expectedLossPct: 0 });
    expect(BITRATE_LADDER_BPS).toEqual([16_000, 24_000, 32_000, 48_000, 64_000, 96_000, 128_000]);
  });

  it('steps down one rung per second under 5 % loss with 30 ms jitter, to the 16 kbit/s floor', () => {
    const abr = controller();
    run(abr, () => CLEAN, 4_750);
    expect(abr.decision.bitrateBps).toBe(128_000);
    const { changes, decisions } = run(abr, () => IMPAIRED, 15_000, 250, 5_000);
    expect(changes.map((c) => c.to)).toEqual([96_000, 64_000, 48_000, 32_000, 24_000, 16_000]);
    // First step after the 250 ms confirmation, then one per 1 s dwell.
    expect(changes.map((c) => c.atMs)).toEqual([5_250, 6_250, 7_250, 8_250, 9_250, 10_250]);
    expect(decisions.at(-1)!.d).toMatchObject({
      bitrateBps: 16_000,
      fec: true,
      expectedLossPct: 5,
    });
    // 10 ms packets above 24 kbit/s, 20 ms at and below it (the packet overhead outweighs 10 ms).
    const frameMsAt = new Map(decisions.map(({ d }) => [d.bitrateBps, d.frameMs]));
    expect([...frameMsAt].sort((a, b) => a[0] - b[0])).toEqual([
      [16_000, 20],
      [24_000, 20],
      [32_000, 10],
      [48_000, 10],
      [64_000, 10],
      [96_000, 10],
      [128_000, 10],
    ]);
    expect(controller({ frameMs: 20 }).decision.frameMs).toBe(20);
  });

  it('steps down on random 5 % loss as one-second reports see it (0–10 %), with 17 ms jitter', () => {
    // Each report counts the losses among 50 packets: binomial, so some reports see none. The
    // down decision must not be reset by one lucky report: every seed steps down within 10 s.
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const abr = controller({ startBitrateBps: 128_000 });
      const report = (): NetworkSample => {
        let lost = 0;
        for (let k = 0; k < 50; k++) if (r() < 0.05) lost++;
        return { lossPct: (100 * lost) / 50, rttMs: 2, jitterMs: 17 };
      };
      const { changes } = run(abr, report, 10_000, 1_000);
      expect(changes.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('holds on 5 % loss alone when RTT and jitter are good (the score is 0.495, in the hold band)', () => {
    const abr = controller();
    const { changes } = run(abr, () => ({ lossPct: 5, rttMs: 20, jitterMs: 5 }), 10_000);
    expect(changes).toEqual([]);
    expect(abr.decision).toMatchObject({ bitrateBps: 48_000, fec: true, action: 'hold' });
  });

  it.each([250, 500, 1_000])(
    'is back at 128 kbit/s within 2 s of the network clearing (reports every %i ms)',
    (periodMs) => {
      const abr = controller();
      run(abr, () => IMPAIRED, 10_000 - periodMs, periodMs);
      expect(abr.decision.bitrateBps).toBe(16_000);
      const { changes } = run(abr, () => CLEAN, 20_000, periodMs, 10_000);
      const top = changes.find((c) => c.to === 128_000)!;
      expect(top.atMs - 10_000).toBeLessThanOrEqual(2_000);
      expect(changes.every((c) => c.to > c.from)).toBe(true);
    },
  );

  it('does not move on a score alternating across the 0.4 or the 0.8 threshold', () => {
    for (const [lo, hi] of [
      [0.38, 0.42],
      [0.78, 0.82],
    ] as const) {
      const abr = controller();
      const { changes } = run(abr, (t) => sampleFor((t / 250) % 2 === 0 ? lo : hi), 30_000);
      expect(changes).toEqual([]);
    }
  });

  it('never reverses direction on a noisy score hovering near a threshold', () => {
    for (const centre of [0.4, 0.8]) {
      const r = rng(centre * 10);
      const abr = controller();
      const { decisions } = run(abr, () => sampleFor(centre + 0.1 * (r() - 0.5)), 60_000);
      const actions = new Set(decisions.map((x) => x.d.action).filter((a) => a !== 'hold'));
      expect(actions.size).toBeLessThanOrEqual(1); // only down near 0.4, only up near 0.8
      expect(actions.has(centre === 0.4 ? 'up' : 'down')).toBe(false);
    }
  });

  it('respects the dwell times: 250 ms before a step up, 1 s before a step down', () => {
    const abr = controller();
    // 2 s clean, 2 s impaired, repeated, with reports every 50 ms.
    const { changes } = run(
      abr,
      (t) => (Math.floor(t / 2_000) % 2 === 0 ? CLEAN : IMPAIRED),
      40_000,
      50,
    );
    expect(changes.length).toBeGreaterThan(10);
    for (let i = 1; i < changes.length; i++) {
      const gap = changes[i]!.atMs - changes[i - 1]!.atMs;
      expect(gap).toBeGreaterThanOrEqual(changes[i]!.to > changes[i]!.from ? 250 : 1_000);
    }
  });

  it('turns FEC on at 1 % loss and off below 0.5 %, with expected loss = ⌈loss⌉ capped at 30 %', () => {
    const abr = controller({ lossHoldMs: 0 }); // each report alone
    const step = (lossPct: number, t: number): AbrDecision =>
      abr.update({ lossPct, rttMs: 20, jitterMs: 2 }, t);
    expect(step(0, 0)).toMatchObject({ fec: false, expectedLossPct: 0 });
    expect(step(0.7, 250)).toMatchObject({ fec: false, expectedLossPct: 1 });
    expect(step(1.2, 500)).toMatchObject({ fec: true, expectedLossPct: 2 });
    expect(step(0.7, 750)).toMatchObject({ fec: true, expectedLossPct: 1 }); // hysteresis
    expect(step(0.3, 1_000)).toMatchObject({ fec: false, expectedLossPct: 1 });
    expect(step(12.1, 1_250)).toMatchObject({ fec: true, expectedLossPct: 13 });
    expect(step(45, 1_500)).toMatchObject({ fec: true, expectedLossPct: 30 });
    expect(step(0, 1_750)).toMatchObject({ fec: false, expectedLossPct: 0 });
  });

  it('keeps FEC and the expected loss at the highest loss of the last 5 s', () => {
    const abr = controller();
    const step = (lossPct: number, t: number): AbrDecision =>
      abr.update({ lossPct, rttMs: 20, jitterMs: 2 }, t);
    // One-second reports of random 5 % loss: some windows see none.
    expect(step(6, 0)).toMatchObject({ fec: true, expectedLossPct: 6 });
    expect(step(0, 1_000)).toMatchObject({ fec: true, expectedLossPct: 6 });
    expect(step(4, 2_000)).toMatchObject({ fec: true, expectedLossPct: 6 });
    expect(step(0, 5_000)).toMatchObject({ fec: true, expectedLossPct: 6 }); // 6 % is 5 s old
    expect(step(0, 5_500)).toMatchObject({ fec: true, expectedLossPct: 4 });
    expect(step(0, 7_500)).toMatchObject({ fec: false, expectedLossPct: 0 }); // clean for 5 s
    expect(() => controller({ lossHoldMs: -1 })).toThrow(RangeError);
  });

  it('emits decision on every update and bitrateChanged only when the bitrate moves', () => {
    const abr = controller();
    const decisions: AbrDecision[] = [];
    const changes: [number, number][] = [];
    abr.on('decision', (d) => decisions.push(d));
    abr.on('bitrateChanged', (to, from) => changes.push([to, from]));
    for (let t = 0; t <= 1_000; t += 250) abr.update(CLEAN, t);
    expect(decisions).toHaveLength(5);
    // One rung per 250 ms once confirmed, then nothing left to climb.
    expect(changes).toEqual([
      [64_000, 48_000],
      [96_000, 64_000],
      [128_000, 96_000],
    ]);
    expect(decisions.map((d) => d.action)).toEqual(['hold', 'up', 'up', 'up', 'hold']);
  });

  it('climbs one rung per 250 ms of good score whatever the report cadence (≤ 3 per report)', () => {
    const frequent = controller();
    const a = run(frequent, () => sampleFor(0.85), 2_000, 50);
    expect(a.changes.map((c) => [c.atMs, c.to])).toEqual([
      [250, 64_000],
      [500, 96_000],
      [750, 128_000],
    ]);
    const sparse = controller({ startBitrateBps: 16_000 });
    const b = run(sparse, () => sampleFor(0.85), 3_000, 1_000);
    expect(b.changes.map((c) => [c.atMs, c.to])).toEqual([
      [1_000, 48_000],
      [2_000, 128_000],
    ]);
  });

  it('restores the rung a recent descent started from at 3 rungs per report, then climbs as usual', () => {
    // From the top, 10 s of impairment take it down to the floor; then a clean network.
    const abr = controller({ startBitrateBps: 128_000 });
    run(abr, () => IMPAIRED, 10_000, 250);
    expect(abr.decision.bitrateBps).toBe(16_000);
    const back = run(abr, () => CLEAN, 12_000, 250, 10_250);
    // Confirmed at the 2nd clean report (250 ms), then 3 + 3 rungs: 16 → 48 → 128 kbit/s.
    expect(back.changes.map((c) => [c.atMs - 10_000, c.to])).toEqual([
      [500, 48_000],
      [750, 128_000],
    ]);
    // Without it, one rung per 250 ms from the confirmation: the 6th at 1.5 s.
    const slow = controller({ startBitrateBps: 128_000, restoreWindowMs: 0 });
    run(slow, () => IMPAIRED, 10_000, 250);
    const slowBack = run(slow, () => CLEAN, 12_000, 250, 10_250);
    expect(slowBack.changes.at(-1)).toMatchObject({ atMs: 11_750, to: 128_000 });
    // Past the window (30 s after the last step down) the climb is the normal one again.
    const late = controller({ startBitrateBps: 128_000 });
    run(late, () => IMPAIRED, 10_000, 250);
    run(late, () => sampleFor(0.6), 45_000, 1_000, 11_000); // hold band: no change
    const lateBack = run(late, () => CLEAN, 48_000, 250, 45_250);
    expect(lateBack.changes[0]).toMatchObject({ atMs: 45_500, to: 24_000 });
  });

  it('rejects bad input and throws InvalidStateError after close()', () => {
    expect(() => controller({ startBitrateBps: 50_000 })).toThrow(RangeError);
    expect(() => controller({ ladderBps: [32_000, 16_000] })).toThrow(RangeError);
    expect(() => controller({ upThreshold: 0.3 })).toThrow(RangeError);
    expect(() => controller({ frameMs: 40 as 20 })).toThrow(/frameMs/);
    const abr = controller();
    expect(() => abr.update({ ...CLEAN, lossPct: -1 }, 0)).toThrow(/lossPct/);
    expect(() => abr.update({ ...CLEAN, rttMs: Number.NaN }, 0)).toThrow(/rttMs/);
    abr.update(CLEAN, 100);
    expect(() => abr.update(CLEAN, 50)).toThrow(/nowMs/);
    abr.close();
    abr.close();
    expect(() => abr.update(CLEAN, 200)).toThrow(InvalidStateError);
  });
});
