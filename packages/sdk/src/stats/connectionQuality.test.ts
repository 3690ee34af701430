import { describe, expect, it } from 'vitest';
import { InvalidStateError } from '../errors.js';
import {
  connectionQuality,
  ConnectionQualityTracker,
  type ConnectionQuality,
} from './connectionQuality.js';

describe('connectionQuality', () => {
  it('maps the score: excellent ≥ 0.8 > good ≥ 0.4 > poor, and lost overrides', () => {
    expect(connectionQuality(1, false)).toBe('excellent');
    expect(connectionQuality(0.8, false)).toBe('excellent');
    expect(connectionQuality(0.79, false)).toBe('good');
    expect(connectionQuality(0.4, false)).toBe('good');
    expect(connectionQuality(0.39, false)).toBe('poor');
    expect(connectionQuality(0, false)).toBe('poor');
    expect(connectionQuality(1, true)).toBe('lost');
  });
});

describe('ConnectionQualityTracker', () => {
  function tracked(): {
    t: ConnectionQualityTracker;
    events: [ConnectionQuality, ConnectionQuality][];
  } {
    const t = new ConnectionQualityTracker();
    const events: [ConnectionQuality, ConnectionQuality][] = [];
    t.on('connectionQualityChanged', (q, prev) => events.push([q, prev]));
    return { t, events };
  }

  it('needs the score 0.05 past a threshold to change level, so it does not flap', () => {
    const { t, events } = tracked();
    expect(t.quality).toBe('good');
    for (const s of [0.79, 0.81, 0.79, 0.84, 0.8]) t.update(s, false);
    expect(events).toEqual([]);
    t.update(0.85, false);
    for (const s of [0.79, 0.81, 0.76, 0.8, 0.75]) t.update(s, false);
    expect(events).toEqual([['excellent', 'good']]);
    t.update(0.74, false);
    for (const s of [0.39, 0.41, 0.36, 0.42]) t.update(s, false);
    t.update(0.34, false);
    expect(events).toEqual([
      ['excellent', 'good'],
      ['good', 'excellent'],
      ['poor', 'good'],
    ]);
  });

  it('jumps several levels at once when the score does', () => {
    const { t, events } = tracked();
    t.update(0.95, false);
    t.update(0.1, false);
    expect(events).toEqual([
      ['excellent', 'good'],
      ['poor', 'excellent'],
    ]);
  });

  it('goes to lost and back at once, emitting each change once', () => {
    const { t, events } = tracked();
    t.update(0.9, true);
    t.update(0.9, true);
    t.update(0.9, false);
    expect(events).toEqual([
      ['lost', 'good'],
      ['excellent', 'lost'],
    ]);
  });

  it('rejects a score outside [0, 1] and throws InvalidStateError after close()', () => {
    const { t } = tracked();
    expect(() => t.update(1.5, false)).toThrow(RangeError);
    expect(() => new ConnectionQualityTracker({ margin: 0.5 })).toThrow(RangeError);
    t.close();
    t.close();
    expect(() => t.update(0.5, false)).toThrow(InvalidStateError);
  });
});
