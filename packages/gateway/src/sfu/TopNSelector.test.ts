import { describe, expect, it } from 'vitest';
import { SPEAKER_HYSTERESIS_DB, SPEAKER_MIN_HOLD_MS } from '../SpeakerSelector.js';
import { TopNSelector } from './TopNSelector.js';

const REPORT_MS = 250;

/** A selector of `n` slots and a clock; `report` feeds one level report (dBov per stream). */
function setup(n = 3) {
  const sel = new TopNSelector<string>({ maxSpeakers: n });
  let now = 10_000;
  const report = (levels: Record<string, number>) => {
    now += REPORT_MS;
    return sel.update(new Map(Object.entries(levels)), now);
  };
  const add = (key: string) => sel.add(key, now);
  return { sel, report, add, at: () => now, advance: (ms: number) => (now += ms) };
}

describe('TopNSelector', () => {
  it('forwards every stream while there are at most N', () => {
    const { sel, add, report } = setup(3);
    expect(add('a').selected).toEqual(['a']);
    add('b');
    add('c');
    report({});
    expect(sel.selected).toEqual(['a', 'b', 'c']);
  });

  it('keeps the 4th stream waiting when it is not louder by the hysteresis', () => {
    const { sel, add, report } = setup(3);
    for (const k of ['a', 'b', 'c', 'd']) add(k);
    expect(sel.isSelected('d')).toBe(false);
    // d is louder than the quietest selected stream, but by less than the hysteresis.
    for (let i = 0; i < 8; i++) {
      const change = report({ a: -20, b: -22, c: -30, d: -30 + SPEAKER_HYSTERESIS_DB });
      expect(change.selected).toEqual([]);
    }
    expect(sel.selected).toEqual(['a', 'b', 'c']);
  });

  it('gives the slot of the quietest stream to a clearly louder one, and says so', () => {
    const { sel, add, report } = setup(3);
    for (const k of ['a', 'b', 'c', 'd']) add(k);
    report({ a: -20, b: -22, c: -60 }); // c quiet: 67 dB, d silent
    const change = report({ a: -20, b: -22, c: -60, d: -25 });
    expect(change).toEqual({ selected: ['d'], deselected: ['c'] });
    expect(sel.selected.sort()).toEqual(['a', 'b', 'd']);
  });

  it('protects a slot taken less than the minimum hold ago by a stream that is speaking', () => {
    const { sel, add, report, advance } = setup(1);
    add('a');
    add('b');
    // a just (re)took the slot when b arrived loud: a spoke in this report → protected.
    const first = report({ a: -40, b: -10 });
    expect(first.selected).toEqual([]);
    expect(sel.isSelected('a')).toBe(true);
    advance(SPEAKER_MIN_HOLD_MS);
    const later = report({ a: -40, b: -10 });
    expect(later).toEqual({ selected: ['b'], deselected: ['a'] });
  });

  it('replaces a selected stream that fell silent (missing from reports)', () => {
    const { add, report, advance } = setup(2);
    for (const k of ['a', 'b', 'c']) add(k);
    report({ a: -20, b: -20, c: -20 });
    advance(SPEAKER_MIN_HOLD_MS); // past the hold: only the level protects a slot now
    let change = report({ a: -20, c: -20 }); // b is silent once: its loudness halves
    expect(change.deselected).toEqual(['b']);
    expect(change.selected).toEqual(['c']);
    change = report({ a: -20, b: -20, c: -20 });
    expect(change.selected).toEqual([]); // b is back but not louder by the hysteresis
  });

  it('refills a freed slot with the loudest waiting stream', () => {
    const { sel, add, report, at } = setup(2);
    for (const k of ['a', 'b', 'c', 'd']) add(k);
    report({ a: -20, b: -20, c: -50, d: -30 });
    const change = sel.remove('a', at());
    expect(change.selected).toEqual(['d']);
    expect(sel.selected).toEqual(['b', 'd']);
    expect(sel.remove('a', at()).selected).toEqual([]); // idempotent
    expect(sel.has('a')).toBe(false);
  });

  it('ties go to the stream that came first', () => {
    const { sel, add, report, at } = setup(1);
    for (const k of ['a', 'b', 'c']) add(k);
    report({ b: -30, c: -30 });
    sel.remove('a', at());
    expect(sel.selected).toEqual(['b']);
  });

  it('reports speaking with the hangover, from the threshold', () => {
    const { sel, add, report, advance, at } = setup(3);
    add('a');
    report({ a: -49 });
    expect(sel.isSpeaking('a', at())).toBe(true);
    advance(300);
    expect(sel.isSpeaking('a', at())).toBe(true);
    advance(1);
    expect(sel.isSpeaking('a', at())).toBe(false);
    report({ a: -51 });
    expect(sel.isSpeaking('a', at())).toBe(false);
    expect(sel.isSpeaking('nobody', at())).toBe(false);
  });

  it('smooths: instant attack, halving release', () => {
    const { sel, add, report } = setup(3);
    add('a');
    report({ a: -27 });
    expect(sel.loudnessDb('a')).toBe(100);
    report({});
    expect(sel.loudnessDb('a')).toBe(50);
    report({ a: -127 });
    expect(sel.loudnessDb('a')).toBe(25);
  });

  it('validates its options', () => {
    expect(() => new TopNSelector({ maxSpeakers: 0 })).toThrow(/maxSpeakers/);
    expect(() => new TopNSelector({ maxSpeakers: 1.5 })).toThrow(RangeError);
    expect(() => new TopNSelector({ hysteresisDb: -1 })).toThrow(/hysteresisDb/);
    expect(() => new TopNSelector({ speakingThresholdDbov: 3 })).toThrow(/speakingThresholdDbov/);
  });
});
