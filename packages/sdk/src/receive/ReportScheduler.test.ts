import { describe, expect, it } from 'vitest';
import {
  FAST_REPORT_COOLDOWN_MS,
  FAST_REPORT_MS,
  FAST_REPORT_WINDOW_MS,
  ReportScheduler,
} from './ReportScheduler.js';

/** Ticks every 20 ms from `fromMs` to `toMs`; returns the times reports were due. */
function ticks(s: ReportScheduler, fromMs: number, toMs: number): number[] {
  const due: number[] = [];
  for (let t = fromMs; t < toMs; t += 20) if (s.due(t, 20)) due.push(t);
  return due;
}

describe('ReportScheduler', () => {
  it('reports every interval, the first one an interval after the clock starts', () => {
    const s = new ReportScheduler({ lostLately: () => false, recovered: () => false });
    expect(ticks(s, 0, 3_010)).toEqual([1_000, 2_000, 3_000]);
    s.restart();
    expect(ticks(s, 5_000, 6_010)).toEqual([6_000]);
  });

  it('reports early and fast when a stream recovers, for the fast window, then not again before the cooldown', () => {
    let recovered = false;
    const s = new ReportScheduler({ lostLately: () => false, recovered: () => recovered });
    ticks(s, 0, 1_010); // a regular report at 1,000
    recovered = true;
    const due = ticks(s, 1_020, 1_000 + FAST_REPORT_COOLDOWN_MS);
    // The first one as soon as FAST_REPORT_MS has passed, then every FAST_REPORT_MS or so…
    expect(due[0]).toBe(1_000 + Math.ceil(FAST_REPORT_MS / 20) * 20);
    expect(s.fastReporting).toBe(false); // (checked after the window)
    const fast = due.filter((t) => t < due[0]! + FAST_REPORT_WINDOW_MS);
    expect(fast.length).toBeGreaterThanOrEqual(6);
    for (let k = 1; k < fast.length; k++) {
      expect(fast[k]! - fast[k - 1]!).toBeGreaterThanOrEqual(FAST_REPORT_MS);
      expect(fast[k]! - fast[k - 1]!).toBeLessThan(FAST_REPORT_MS + 20);
    }
    // …then back to the regular interval until the cooldown ends.
    const after = due.filter((t) => t >= due[0]! + FAST_REPORT_WINDOW_MS + FAST_REPORT_MS);
    for (let k = 1; k < after.length; k++) expect(after[k]! - after[k - 1]!).toBe(1_000);
  });

  it('ends fast reporting at the next loss', () => {
    let lost = false;
    const s = new ReportScheduler({ lostLately: () => lost, recovered: () => !lost });
    const fast = ticks(s, 0, 1_300);
    expect(fast.length).toBeGreaterThanOrEqual(4);
    expect(s.fastReporting).toBe(true);
    lost = true;
    const due = ticks(s, 1_300, 2_990);
    expect(s.fastReporting).toBe(false);
    // The regular interval from the last (fast) report, nothing in between.
    expect(due).toEqual([fast.at(-1)! + 1_000]);
  });

  it('keeps to its message budget, counting what it put off', () => {
    const s = new ReportScheduler(
      { lostLately: () => false, recovered: () => false },
      { reportsPerMinute: 60 },
    );
    let sent = 0;
    for (let t = 0; t < 60_000; t += 100) if (s.takeToken(t)) sent++;
    // A burst of 10, then one per second.
    expect(sent).toBeGreaterThanOrEqual(69);
    expect(sent).toBeLessThanOrEqual(71);
    expect(s.deferred).toBe(600 - sent);
  });

  it('rejects intervals and budgets out of range', () => {
    const probe = { lostLately: () => false, recovered: () => false };
    expect(() => new ReportScheduler(probe, { intervalMs: 10 })).toThrow(/reportIntervalMs/);
    expect(() => new ReportScheduler(probe, { reportsPerMinute: 0 })).toThrow(/reportsPerMinute/);
  });
});
