import { describe, expect, it } from 'vitest';
import { compareCursors, formatCursor, isNext, parseCursor, START } from './cursor.js';

describe('room cursors', () => {
  it('order by epoch first, then seq', () => {
    expect(compareCursors({ epoch: 5, seq: 9 }, { epoch: 6, seq: 1 })).toBeLessThan(0);
    expect(compareCursors({ epoch: 6, seq: 2 }, { epoch: 6, seq: 1 })).toBeGreaterThan(0);
    expect(compareCursors({ epoch: 6, seq: 2 }, { epoch: 6, seq: 2 })).toBe(0);
    expect(compareCursors(START, { epoch: 1, seq: 0 })).toBeLessThan(0);
  });

  it('know the next event: seq + 1, or the first of a later epoch', () => {
    expect(isNext({ epoch: 5, seq: 9 }, { epoch: 5, seq: 10 })).toBe(true);
    expect(isNext({ epoch: 5, seq: 9 }, { epoch: 5, seq: 11 })).toBe(false);
    expect(isNext({ epoch: 5, seq: 9 }, { epoch: 7, seq: 1 })).toBe(true);
    expect(isNext({ epoch: 5, seq: 9 }, { epoch: 7, seq: 2 })).toBe(false);
    expect(isNext({ epoch: 7, seq: 9 }, { epoch: 5, seq: 1 })).toBe(false);
    expect(isNext(START, { epoch: 1_796_602_836_409_839, seq: 1 })).toBe(true);
  });

  it('round-trip through text and refuse malformed text with RangeError', () => {
    const c = { epoch: 1_796_602_836_409_839, seq: 42 };
    expect(parseCursor(formatCursor(c))).toEqual(c);
    for (const bad of ['', '12', '1:-1', 'a:1', '1:2:3', '1.5:2'])
      expect(() => parseCursor(bad)).toThrow(RangeError);
  });
});
