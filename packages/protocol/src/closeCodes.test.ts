import { describe, expect, it } from 'vitest';
import { CloseCode, closeCodeName, reconnectPolicy } from './closeCodes.js';

describe('close codes', () => {
  it('are unique and within 4000–4999', () => {
    const codes = Object.values(CloseCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c >= 4000 && c <= 4999).toBe(true);
  });

  it.each([
    ['AUTHENTICATION_FAILED', 'must-not-reconnect'],
    ['TOKEN_EXPIRED', 'must-not-reconnect'],
    ['INVALID_PAYLOAD', 'must-not-reconnect'],
    ['ROOM_FORBIDDEN', 'must-not-reconnect'],
    ['SSRC_NOT_OWNED', 'must-not-reconnect'],
    ['RATE_LIMITED', 'may-resume'],
    ['SESSION_TIMED_OUT', 'may-resume'],
    ['SERVER_DRAINING', 'may-resume'],
    ['UNKNOWN_ERROR', 'may-resume'],
  ] as const)('%s: %s', (name, policy) => {
    expect(reconnectPolicy(CloseCode[name])).toBe(policy);
  });

  it('transport-level closes (1006) may resume; names resolve both ways', () => {
    expect(reconnectPolicy(1006)).toBe('may-resume');
    expect(closeCodeName(4007)).toBe('RATE_LIMITED');
    expect(closeCodeName(1000)).toBeUndefined();
  });
});
