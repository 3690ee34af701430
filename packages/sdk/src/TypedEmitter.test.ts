import { afterEach, describe, expect, it, vi } from 'vitest';
import { setLogHandler, setLogLevel, type LogHandler } from './logger.js';
import { TypedEmitter } from './TypedEmitter.js';

type Events = {
  change: [previous: number, next: number];
  ping: [];
};

class Emitter extends TypedEmitter<Events> {
  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    return this.safeEmit(event, ...args);
  }
}

afterEach(() => {
  setLogLevel('silent');
});

describe('TypedEmitter', () => {
  it('calls listeners with their arguments and reports whether any listened', () => {
    const e = new Emitter();
    expect(e.emit('ping')).toBe(false);
    const l = vi.fn();
    e.on('change', l);
    expect(e.emit('change', 1, 2)).toBe(true);
    expect(l).toHaveBeenCalledWith(1, 2);
  });

  it('safeEmit catches and logs a listener error; later listeners still run', () => {
    const records: Parameters<LogHandler>[] = [];
    setLogHandler((...args) => records.push(args));
    setLogLevel('error');
    const e = new Emitter();
    const after = vi.fn();
    e.on('ping', () => {
      throw new Error('listener bug');
    });
    e.on('ping', after);
    expect(() => e.emit('ping')).not.toThrow();
    expect(after).toHaveBeenCalledTimes(1);
    expect(records).toHaveLength(1);
    expect(records[0]!.slice(0, 3)).toEqual(['error', 'concord:events', 'listener threw']);
    expect(records[0]![3]).toMatchObject({ event: 'ping' });
  });

  it('once() fires a single time', () => {
    const e = new Emitter();
    const l = vi.fn();
    e.once('change', l);
    e.emit('change', 1, 2);
    e.emit('change', 2, 3);
    expect(l).toHaveBeenCalledTimes(1);
    expect(l).toHaveBeenCalledWith(1, 2);
    expect(e.listenerCount('change')).toBe(0);
  });

  it('once() removes itself even when the listener throws', () => {
    const e = new Emitter();
    const l = vi.fn(() => {
      throw new Error('boom');
    });
    e.once('ping', l);
    e.emit('ping');
    e.emit('ping');
    expect(l).toHaveBeenCalledTimes(1);
  });

  it('off() removes a listener; removing an unknown one is harmless', () => {
    const e = new Emitter();
    const l = vi.fn();
    e.on('ping', l).off('ping', l).off('change', vi.fn());
    e.emit('ping');
    expect(l).not.toHaveBeenCalled();
  });

  it('a listener removed during an emit still gets that emit; an added one does not', () => {
    const e = new Emitter();
    const second = vi.fn();
    const added = vi.fn();
    e.on('ping', () => {
      e.off('ping', second);
      e.on('ping', added);
    });
    e.on('ping', second);
    e.emit('ping');
    expect(second).toHaveBeenCalledTimes(1);
    expect(added).not.toHaveBeenCalled();
  });

  it('removeAllListeners() clears one event or every event', () => {
    const e = new Emitter();
    e.on('ping', vi.fn()).on('change', vi.fn());
    e.removeAllListeners('ping');
    expect(e.listenerCount('ping')).toBe(0);
    expect(e.listenerCount('change')).toBe(1);
    e.removeAllListeners();
    expect(e.listenerCount('change')).toBe(0);
  });
});
