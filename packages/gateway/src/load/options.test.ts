import { describe, expect, it } from 'vitest';
import {
  LoadOptionsError,
  MAX_BOTS_PER_PROCESS,
  parseAddresses,
  parseLoadOptions,
} from './options.js';

describe('concord-load options', () => {
  it('fills defaults and spreads enough processes for the bot count', () => {
    const o = parseLoadOptions({ url: 'ws://127.0.0.1:8080/gateway', bots: '40000' });
    expect(o).toMatchObject({
      bots: 40_000,
      mode: 'idle',
      durationSec: 30,
      roomSize: 10,
      processes: 3,
    });
    expect(o.processes * MAX_BOTS_PER_PROCESS).toBeGreaterThanOrEqual(o.bots);
    expect(o.addresses).toEqual(['127.0.0.1']);
    expect(o.secret).toBeUndefined();
  });

  it('takes the token secret from the environment', () => {
    const o = parseLoadOptions({ url: 'ws://h/gateway' }, { CONCORD_SECRET: 's'.repeat(32) });
    expect(o.secret).toBe('s'.repeat(32));
  });

  it('expands address ranges and lists', () => {
    expect(parseAddresses('127.0.0.2-127.0.0.4,127.0.0.9')).toEqual([
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.4',
      '127.0.0.9',
    ]);
    expect(parseAddresses('10.0.0.1-3')).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(() => parseAddresses('127.0.0.9-127.0.0.2')).toThrow(LoadOptionsError);
    expect(() => parseAddresses('localhost')).toThrow(/not an IP address/);
  });

  it('refuses what is out of bounds, naming the flag and range', () => {
    const url = 'ws://h/gateway';
    expect(() => parseLoadOptions({})).toThrow(/--url is required/);
    expect(() => parseLoadOptions({ url: 'http://h/gateway' })).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => parseLoadOptions({ url, bots: '100001' })).toThrow(
      /--bots must be an integer from 1 to 100000/,
    );
    expect(() => parseLoadOptions({ url, duration: '0' })).toThrow(/--duration/);
    expect(() => parseLoadOptions({ url, duration: '3601' })).toThrow(/--duration/);
    expect(() => parseLoadOptions({ url, mode: 'shouting' })).toThrow(/idle, talking or churning/);
    expect(() => parseLoadOptions({ url, bots: '20000', processes: '1' })).toThrow(/at least 2/);
  });
});
