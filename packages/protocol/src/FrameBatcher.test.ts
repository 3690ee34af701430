import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FrameCodec } from './codec.js';
import { FrameBatcher } from './FrameBatcher.js';
import { Op } from './messages.js';

const codec = new FrameCodec();
const beat = (nonce: number): Uint8Array =>
  codec.encodeMessage({ op: Op.Heartbeat, d: { nonce, seq: 0 } });

describe('FrameBatcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('coalesces messages queued within the window into one frame, in order', () => {
    const frames: Uint8Array[] = [];
    const batcher = new FrameBatcher(codec, (f) => frames.push(f), { windowMs: 5 });
    batcher.push(beat(1));
    vi.advanceTimersByTime(3);
    batcher.push(beat(2));
    batcher.push(beat(3));
    expect(frames).toHaveLength(0);
    vi.advanceTimersByTime(2);
    expect(frames).toHaveLength(1);
    expect(codec.decode(frames[0]!).map((m) => (m.op === Op.Heartbeat ? m.d.nonce : -1))).toEqual([
      1, 2, 3,
    ]);
    vi.advanceTimersByTime(100);
    expect(frames).toHaveLength(1);
  });

  it('window 0 sends every message at once in its own frame', () => {
    const frames: Uint8Array[] = [];
    const batcher = new FrameBatcher(codec, (f) => frames.push(f), { windowMs: 0 });
    batcher.push(beat(1));
    batcher.push(beat(2));
    expect(frames).toHaveLength(2);
  });

  it('flushes early at the batch message limit', () => {
    const small = new FrameCodec({ limits: { maxMessagesPerBatch: 4 } });
    const frames: Uint8Array[] = [];
    const batcher = new FrameBatcher(small, (f) => frames.push(f), { windowMs: 50 });
    for (let i = 0; i < 9; i++) batcher.push(beat(i));
    expect(frames.map((f) => small.decode(f).length)).toEqual([4, 4]);
    vi.advanceTimersByTime(50);
    expect(frames.map((f) => small.decode(f).length)).toEqual([4, 4, 1]);
  });

  it('flushes early before the pending bytes pass maxPendingBytes', () => {
    const frames: Uint8Array[] = [];
    const batcher = new FrameBatcher(codec, (f) => frames.push(f), {
      windowMs: 50,
      maxPendingBytes: 10,
    });
    batcher.push(beat(1)); // 4 bytes
    batcher.push(beat(2)); // 8
    batcher.push(beat(3)); // would be 12: flush first
    expect(frames).toHaveLength(1);
    expect(batcher.pendingCount).toBe(1);
  });

  it('clear() drops pending messages and cancels the timer', () => {
    const send = vi.fn();
    const batcher = new FrameBatcher(codec, send, { windowMs: 5 });
    batcher.push(beat(1));
    batcher.clear();
    vi.advanceTimersByTime(10);
    expect(send).not.toHaveBeenCalled();
  });

  it('drops a message that cannot be framed to onError from the timer, and sends the rest in order', () => {
    const tight = new FrameCodec({ limits: { maxFrameBytes: 64 }, compressionThresholdBytes: 0 });
    const frames: Uint8Array[] = [];
    const dropped: Uint8Array[] = [];
    const batcher = new FrameBatcher(tight, (f) => frames.push(f), {
      windowMs: 5,
      maxPendingBytes: 1024,
      onError: (_err, m) => dropped.push(m),
    });
    const huge = tight.encodeMessage({ op: Op.Reconnect, d: { reason: 'x'.repeat(100) } });
    batcher.push(beat(1));
    batcher.push(huge);
    batcher.push(beat(2));
    // The timer fires: without onError this would throw out of a timer and end the process.
    expect(() => vi.advanceTimersByTime(5)).not.toThrow();
    expect(dropped).toEqual([huge]);
    const nonces = frames
      .flatMap((f) => tight.decode(f))
      .map((m) => (m.op === Op.Heartbeat ? m.d.nonce : -1));
    expect(nonces).toEqual([1, 2]);
  });

  it('without onError a message that cannot be framed throws from flush()', () => {
    const tight = new FrameCodec({ limits: { maxFrameBytes: 64 }, compressionThresholdBytes: 0 });
    const batcher = new FrameBatcher(tight, () => undefined, {
      windowMs: 5,
      maxPendingBytes: 1024,
    });
    batcher.push(tight.encodeMessage({ op: Op.Reconnect, d: { reason: 'x'.repeat(100) } }));
    expect(() => batcher.flush()).toThrow(/exceeds the limit/);
  });

  it('rejects a negative window', () => {
    expect(() => new FrameBatcher(codec, () => undefined, { windowMs: -1 })).toThrow(RangeError);
  });
});
