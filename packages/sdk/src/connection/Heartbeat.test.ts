import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat, type HeartbeatHooks } from './Heartbeat.js';

const INTERVAL_MS = 1_000;

function hooks() {
  const sent: number[] = [];
  const h = {
    send: vi.fn((nonce: number) => sent.push(nonce)),
    zombie: vi.fn(),
    ack: vi.fn(),
  } satisfies HeartbeatHooks;
  return { h, sent };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Heartbeat', () => {
  it('beats first after floor(interval × random), then every interval', () => {
    const { h, sent } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0.3 });
    vi.advanceTimersByTime(299);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1]);
    hb.onAck(1);
    vi.advanceTimersByTime(INTERVAL_MS - 1);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1, 2]);
    hb.onAck(2);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(sent).toEqual([1, 2, 3]);
    hb.stop();
  });

  it.each([0, 0.5, 0.999_999])('the first beat is within [0, interval] (random %s)', (r) => {
    const { h, sent } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => r });
    vi.advanceTimersByTime(INTERVAL_MS * r);
    expect(sent).toEqual([1]);
    hb.stop();
  });

  it('measures the round trip with the injected clock', () => {
    const { h } = hooks();
    let now = 5_000;
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0, now: () => now });
    expect(hb.rttMs).toBeNaN();
    vi.advanceTimersByTime(0);
    now += 42;
    hb.onAck(1);
    expect(h.ack).toHaveBeenCalledWith(42);
    expect(hb.rttMs).toBe(42);
    hb.stop();
  });

  it('ignores ACKs for other nonces and duplicate ACKs', () => {
    const { h } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0 });
    vi.advanceTimersByTime(0);
    hb.onAck(7);
    expect(h.ack).not.toHaveBeenCalled();
    hb.onAck(1);
    hb.onAck(1);
    expect(h.ack).toHaveBeenCalledTimes(1);
    hb.stop();
  });

  it('declares a zombie when a beat finds its predecessor unacknowledged, then stops', () => {
    const { h, sent } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0 });
    vi.advanceTimersByTime(0);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(h.zombie).toHaveBeenCalledTimes(1);
    expect(sent).toEqual([1]); // no beat after the zombie verdict
    vi.advanceTimersByTime(10 * INTERVAL_MS);
    expect(h.zombie).toHaveBeenCalledTimes(1);
    expect(sent).toEqual([1]);
    hb.onAck(1); // too late: changes nothing
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a late ACK that arrives before the next beat keeps it alive', () => {
    const { h } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0 });
    vi.advanceTimersByTime(0);
    vi.advanceTimersByTime(INTERVAL_MS - 1);
    hb.onAck(1);
    vi.advanceTimersByTime(1);
    expect(h.zombie).not.toHaveBeenCalled();
    expect(h.send).toHaveBeenCalledTimes(2);
    hb.stop();
  });

  it('stop() is idempotent and leaves no timer', () => {
    const { h, sent } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { random: () => 0.5 });
    hb.stop();
    hb.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10 * INTERVAL_MS);
    expect(sent).toEqual([]);
  });

  it('with firstBeatMs 0 beats on the next tick, then every interval', () => {
    const { h, sent } = hooks();
    const hb = new Heartbeat(INTERVAL_MS, h, { firstBeatMs: 0, random: () => 0.9 });
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(0);
    expect(sent).toEqual([1]);
    hb.onAck(1);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(sent).toEqual([1, 2]);
    hb.stop();
  });
});
