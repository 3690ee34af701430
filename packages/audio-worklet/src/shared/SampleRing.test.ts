import { describe, expect, it } from 'vitest';
import { SampleRing } from './SampleRing.js';

const seq = (n: number, start = 0): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => start + i);

describe('SampleRing', () => {
  it('delivers samples in order across the wrap-around', () => {
    const ring = SampleRing.allocate(10, false);
    const out = new Float32Array(7);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 20; round++) {
      expect(ring.push(seq(7, next))).toBe(7);
      next += 7;
      expect(ring.pull(out)).toBe(7);
      for (const v of out) expect(v).toBe(expected++);
    }
  });

  it('never overwrites unread samples: push returns what fit, pull what was there', () => {
    const ring = SampleRing.allocate(8, false);
    expect(ring.push(seq(5))).toBe(5);
    expect(ring.push(seq(5, 5))).toBe(3);
    expect(ring.availableRead).toBe(8);
    expect(ring.availableWrite).toBe(0);
    const out = new Float32Array(10).fill(-1);
    expect(ring.pull(out)).toBe(8);
    expect(Array.from(out)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, -1, -1]);
    expect(ring.pull(out)).toBe(0);
  });

  it('honours offsets and lengths, and skip drops samples', () => {
    const ring = SampleRing.allocate(16, false);
    ring.push(seq(10), 2, 4); // 2,3,4,5
    expect(ring.skip(1)).toBe(1);
    const out = new Float32Array(6);
    expect(ring.pull(out, 1, 5)).toBe(3);
    expect(Array.from(out)).toEqual([0, 3, 4, 5, 0, 0]);
  });

  it('two views of one SharedArrayBuffer handle share the ring (as across threads)', () => {
    const producer = SampleRing.allocate(32, true);
    const consumer = new SampleRing(producer.handle);
    expect(producer.handle.data).toBeInstanceOf(SharedArrayBuffer);
    producer.push(seq(20));
    const out = new Float32Array(20);
    expect(consumer.pull(out)).toBe(20);
    expect(out[19]).toBe(19);
    expect(producer.availableRead).toBe(0);
  });

  it('a consumer waiting for a write wakes on notifyWrite, at once when behind, and times out', async () => {
    const producer = SampleRing.allocate(32, true);
    const consumer = new SampleRing(producer.handle);
    const mark = consumer.writeMark;
    let woke = false;
    const waiting = consumer.waitForWrite(mark, 5_000)!.then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    producer.push(seq(4));
    producer.notifyWrite();
    await waiting;
    expect(woke).toBe(true);
    // Written since the mark: resolves without a notify.
    await expect(consumer.waitForWrite(mark, 5_000)).resolves.toBe('not-equal');
    await expect(consumer.waitForWrite(consumer.writeMark, 10)).resolves.toBe('timed-out');
  });

  it('cannot be waited on without shared memory (the caller polls)', () => {
    const ring = SampleRing.allocate(32, false);
    expect(ring.shared).toBe(false);
    expect(ring.waitForWrite(ring.writeMark, 10)).toBeUndefined();
    ring.notifyWrite(); // harmless
  });

  it('rejects bad capacities', () => {
    expect(() => SampleRing.allocate(0)).toThrow(RangeError);
    expect(() => SampleRing.allocate(1.5)).toThrow(RangeError);
  });
});
