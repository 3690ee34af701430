import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpeakingHangover } from './SpeakingHangover.js';

describe('SpeakingHangover', () => {
  let changes: boolean[];
  let hangover: SpeakingHangover;

  beforeEach(() => {
    vi.useFakeTimers();
    changes = [];
    hangover = new SpeakingHangover((s) => changes.push(s), 400);
  });
  afterEach(() => vi.useRealTimers());

  /** Plays a VAD trace: [active, durationMs] pairs, one update per 20 ms frame. */
  function play(trace: [boolean, number][]): void {
    for (const [active, ms] of trace) {
      for (let t = 0; t < ms; t += 20) {
        hangover.update(active);
        vi.advanceTimersByTime(20);
      }
    }
  }

  it('one sentence with 17–228 ms dropouts is one speaking period', () => {
    play([
      [true, 600],
      [false, 40],
      [true, 300],
      [false, 220],
      [true, 500],
      [false, 120],
      [true, 400],
    ]);
    expect(changes).toEqual([true]);
    expect(hangover.speaking).toBe(true);
  });

  it('the period ends exactly one hangover after the last speech frame', () => {
    play([[true, 200]]);
    hangover.update(false);
    vi.advanceTimersByTime(399);
    expect(changes).toEqual([true]);
    vi.advanceTimersByTime(1);
    expect(changes).toEqual([true, false]);
    expect(hangover.speaking).toBe(false);
  });

  it('two sentences a second apart are two periods', () => {
    play([
      [true, 800],
      [false, 1000],
      [true, 600],
      [false, 600],
    ]);
    expect(changes).toEqual([true, false, true, false]);
  });

  it('silence alone never emits, and repeated silence does not restart the hangover', () => {
    play([[false, 1000]]);
    expect(changes).toEqual([]);
    play([[true, 20]]);
    // 30 silent updates over 600 ms: the hangover counts from the first, not the last.
    play([[false, 400]]);
    expect(changes).toEqual([true, false]);
  });

  it('reset ends an open period at once and cancels the pending end', () => {
    play([[true, 100]]);
    hangover.update(false);
    hangover.reset();
    expect(changes).toEqual([true, false]);
    vi.advanceTimersByTime(1000);
    expect(changes).toEqual([true, false]);
    hangover.reset();
    expect(changes).toEqual([true, false]);
  });

  it('a zero hangover follows the VAD exactly', () => {
    const raw: boolean[] = [];
    const h = new SpeakingHangover((s) => raw.push(s), 0);
    for (const a of [true, false, true, true, false]) h.update(a);
    expect(raw).toEqual([true, false, true, false]);
  });

  it('rejects a hangover outside [0, 5000] ms with a RangeError naming it', () => {
    expect(() => new SpeakingHangover(() => undefined, -1)).toThrow(/hangoverMs/);
    expect(() => new SpeakingHangover(() => undefined, 5001)).toThrow(RangeError);
    expect(() => new SpeakingHangover(() => undefined, Number.NaN)).toThrow(RangeError);
  });
});
