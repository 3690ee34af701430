import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ControlPacer } from './ControlPacer.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function pacer(ready = { on: true }) {
  let t = 0;
  const p = new ControlPacer(
    () => ready.on,
    4,
    () => t,
  );
  const sent: string[] = [];
  const advance = async (ms: number) => {
    t += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };
  return { p, sent, advance, send: (x: string) => () => sent.push(x) };
}

describe('ControlPacer', () => {
  it('sends at once without a limit; refuses bad limits', () => {
    const { p, sent, send } = pacer();
    for (let i = 0; i < 50; i++) p.submit(send(`m${i}`));
    expect(sent).toHaveLength(50);
    expect(() => p.configure(0, 1_000)).toThrow(RangeError);
    expect(() => p.configure(10, 0)).toThrow(RangeError);
  });

  it('keeps order: queued messages go before newer ones, prepended ones before all', async () => {
    const { p, sent, send, advance } = pacer();
    p.configure(10, 1_000); // 9 at once, then one every 111 ms
    for (let i = 0; i < 9; i++) p.submit(send(`a${i}`));
    expect(p.submit(send('b0'))).toBe(true);
    expect(p.submit(send('b1'))).toBe(true);
    p.prepend([send('again')]);
    expect(sent).toHaveLength(9);
    await advance(112);
    expect(sent.at(-1)).toBe('again');
    await advance(230);
    expect(sent.slice(9)).toEqual(['again', 'b0', 'b1']);
  });

  it('charges heartbeats (the budget can go below zero), bounds the queue, waits while not ready', async () => {
    const ready = { on: true };
    const { p, sent, send, advance } = pacer(ready);
    p.configure(10, 1_000);
    for (let i = 0; i < 9; i++) p.charge();
    p.charge(); // one over: the next message waits ~222 ms
    expect(p.submit(send('x'))).toBe(true);
    for (let i = 0; i < 3; i++) p.submit(send(`y${i}`));
    expect(p.submit(send('over'))).toBe(false); // 4 waiting already
    ready.on = false;
    await advance(1_000);
    expect(sent).toEqual([]);
    ready.on = true;
    p.drain();
    expect(sent).toEqual(['x', 'y0', 'y1', 'y2']);
    for (let i = 0; i < 9; i++) p.charge();
    p.submit(send('z')); // waits
    p.clear();
    await advance(1_000);
    expect(sent).not.toContain('z');
  });
});
