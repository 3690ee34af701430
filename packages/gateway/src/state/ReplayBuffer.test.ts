import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from './ReplayBuffer.js';

/** A message whose first four bytes carry its seq, padded to `bytes`. */
function msg(seq: number, bytes = 8): Uint8Array {
  const m = new Uint8Array(bytes);
  new DataView(m.buffer).setUint32(0, seq, true);
  return m;
}

const seqOf = (m: Uint8Array): number => new DataView(m.buffer, m.byteOffset).getUint32(0, true);

function filled(n: number, limits = { maxEvents: 1_000_000, maxBytes: 1 << 30 }, bytes = 8) {
  const buffer = new ReplayBuffer(limits);
  for (let seq = 1; seq <= n; seq++) buffer.append(seq, msg(seq, bytes));
  return buffer;
}

function seqsSince(buffer: ReplayBuffer, seq: number): number[] {
  const r = buffer.since(seq);
  if (!r.ok) throw new Error(`since(${seq}) failed: ${r.reason}`);
  return r.messages.map(seqOf);
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('ReplayBuffer', () => {
  it('replays exactly the dispatches after the given seq, in order', () => {
    const buffer = filled(10);
    expect(seqsSince(buffer, 0)).toEqual(range(1, 10));
    expect(seqsSince(buffer, 3)).toEqual(range(4, 10));
    expect(seqsSince(buffer, 9)).toEqual([10]);
  });

  it('returns nothing (successfully) when the client is up to date', () => {
    expect(filled(10).since(10)).toEqual({ ok: true, messages: [] });
    expect(new ReplayBuffer({ maxEvents: 10, maxBytes: 100 }).since(0)).toEqual({
      ok: true,
      messages: [],
    });
  });

  it('refuses a seq beyond what was ever sent as "ahead"', () => {
    expect(filled(10).since(11)).toEqual({ ok: false, reason: 'ahead' });
    expect(new ReplayBuffer({ maxEvents: 10, maxBytes: 100 }).since(1)).toEqual({
      ok: false,
      reason: 'ahead',
    });
  });

  it('is bounded by count and refuses seqs whose successors were evicted', () => {
    const buffer = filled(25, { maxEvents: 10, maxBytes: 1 << 20 });
    expect(buffer.size).toBe(10);
    expect(buffer.byteLength).toBe(80);
    expect(seqsSince(buffer, 15)).toEqual(range(16, 25));
    expect(buffer.since(14)).toEqual({ ok: false, reason: 'evicted' });
    expect(buffer.since(0)).toEqual({ ok: false, reason: 'evicted' });
  });

  it('is bounded by bytes', () => {
    const buffer = filled(20, { maxEvents: 1_000, maxBytes: 100 }, 10);
    expect(buffer.size).toBe(10);
    expect(buffer.byteLength).toBe(100);
    expect(seqsSince(buffer, 10)).toEqual(range(11, 20));
    expect(buffer.since(9)).toEqual({ ok: false, reason: 'evicted' });
  });

  it('keeps the newest dispatch even when it alone exceeds the byte bound', () => {
    const buffer = new ReplayBuffer({ maxEvents: 10, maxBytes: 16 });
    buffer.append(1, msg(1, 8));
    buffer.append(2, msg(2, 64));
    expect(buffer.size).toBe(1);
    expect(seqsSince(buffer, 1)).toEqual([2]);
    expect(buffer.since(0)).toEqual({ ok: false, reason: 'evicted' });
  });

  it('keeps order and exact contents across compactions of its backing array', () => {
    const buffer = filled(10_000, { maxEvents: 300, maxBytes: 1 << 20 });
    expect(buffer.size).toBe(300);
    expect(seqsSince(buffer, 9_700)).toEqual(range(9_701, 10_000));
    expect(seqsSince(buffer, 9_999)).toEqual([10_000]);
    expect(buffer.since(9_699)).toEqual({ ok: false, reason: 'evicted' });
    // Keep appending across further compactions, checking after each step.
    for (let seq = 10_001; seq <= 13_000; seq++) {
      buffer.append(seq, msg(seq));
      if (seq % 997 === 0) expect(seqsSince(buffer, seq - 300)).toEqual(range(seq - 299, seq));
    }
  });

  it('rejects a non-consecutive seq with RangeError', () => {
    const buffer = filled(3);
    expect(() => buffer.append(5, msg(5))).toThrow(RangeError);
    expect(() => buffer.append(3, msg(3))).toThrow(RangeError);
    buffer.append(4, msg(4));
    expect(seqsSince(buffer, 0)).toEqual(range(1, 4));
  });
});
