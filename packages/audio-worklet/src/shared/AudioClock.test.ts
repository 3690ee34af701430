import { describe, expect, it } from 'vitest';
import { AudioClock } from './AudioClock.js';

describe('AudioClock', () => {
  it('counts ticks across views of one shared buffer and wakes a waiter per tick', async () => {
    const audio = AudioClock.allocate(true);
    const main = new AudioClock(audio.buffer);
    const since = main.count;
    let woke = 0;
    const waiting = main.wait(since, 5_000)!.then(() => woke++);
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(0);
    audio.tick();
    await waiting;
    expect(woke).toBe(1);
    expect(main.count).toBe(since + 1);
    await expect(main.wait(since, 5_000)).resolves.toBe('not-equal');
    await expect(main.wait(main.count, 10)).resolves.toBe('timed-out');
  });

  it('without shared memory it counts but cannot be waited on', () => {
    const c = AudioClock.allocate(false);
    c.tick();
    c.tick();
    expect(c.count).toBe(2);
    expect(c.wait(c.count, 10)).toBeUndefined();
  });

  it('rejects a buffer too small for the counter', () => {
    expect(() => new AudioClock(new ArrayBuffer(2))).toThrow(RangeError);
  });
});
