import { CloseCode } from '@concord/protocol';
import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { mintToken, parseDevToken, roomAllowed, verifyToken } from './tokens.js';

const SECRET = 'unit-secret-unit-secret-unit-secret-0123';
const OTHER_SECRET = 'another-secret-another-secret-another-99';

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

describe('tokens', () => {
  it('round-trips a minted token into its grant', async () => {
    const token = await mintToken(SECRET, {
      userId: 'alice',
      name: 'Alice',
      rooms: ['lobby', 'team-*'],
      ttlSeconds: 60,
    });
    const grant = await verifyToken(SECRET, token);
    expect(grant.userId).toBe('alice');
    expect(grant.name).toBe('Alice');
    expect(grant.rooms).toEqual(['lobby', 'team-*']);
    const now = Math.floor(Date.now() / 1000);
    expect(grant.expiresAt).toBeGreaterThanOrEqual(now + 59);
    expect(grant.expiresAt).toBeLessThanOrEqual(now + 61);
  });

  it('defaults the name to the user id and the rooms to everything', async () => {
    const grant = await verifyToken(SECRET, await mintToken(SECRET, { userId: 'bob' }));
    expect(grant).toMatchObject({ userId: 'bob', name: 'bob', rooms: ['*'] });
  });

  it('refuses an unsigned (alg: none) token with AUTH_FAILED / 4004', async () => {
    const unsigned = new UnsecuredJWT({ rooms: ['*'] })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .encode();
    const err = await rejection(verifyToken(SECRET, unsigned));
    expect(err.code).toBe('CONCORD_ERR_AUTH_FAILED');
    expect(err.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('refuses a token signed with another HMAC algorithm', async () => {
    const hs512 = await new SignJWT({ rooms: ['*'] })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET.repeat(2)));
    const err = await rejection(verifyToken(SECRET.repeat(2), hs512));
    expect(err.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('refuses a tampered payload with AUTH_FAILED / 4004', async () => {
    const token = await mintToken(SECRET, { userId: 'alice', rooms: ['lobby'] });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<
      string,
      unknown
    >;
    claims['rooms'] = ['*'];
    claims['sub'] = 'admin';
    const forged = `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
    const err = await rejection(verifyToken(SECRET, forged));
    expect(err.code).toBe('CONCORD_ERR_AUTH_FAILED');
    expect(err.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('refuses a token signed with the wrong secret with AUTH_FAILED / 4004', async () => {
    const token = await mintToken(OTHER_SECRET, { userId: 'alice' });
    const err = await rejection(verifyToken(SECRET, token));
    expect(err.code).toBe('CONCORD_ERR_AUTH_FAILED');
    expect(err.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
  });

  it('refuses an expired token with AUTH_EXPIRED / 4008', async () => {
    const expired = await new SignJWT({ rooms: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(new TextEncoder().encode(SECRET));
    const err = await rejection(verifyToken(SECRET, expired));
    expect(err.code).toBe('CONCORD_ERR_AUTH_EXPIRED');
    expect(err.closeCode).toBe(CloseCode.TOKEN_EXPIRED);
  });

  it('refuses a token without exp, without sub, or with malformed rooms', async () => {
    const key = new TextEncoder().encode(SECRET);
    const noExp = await new SignJWT({ rooms: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .sign(key);
    const noSub = await new SignJWT({ rooms: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(key);
    const badRooms = await new SignJWT({ rooms: 'lobby' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(key);
    for (const token of [noExp, noSub, badRooms, 'not-a-jwt', '', 'a.b.c']) {
      const err = await rejection(verifyToken(SECRET, token));
      expect(err.closeCode).toBe(CloseCode.AUTHENTICATION_FAILED);
    }
  });

  it('refuses secrets under 32 bytes with CONCORD_ERR_CONFIG', async () => {
    const err = await rejection(mintToken('short', { userId: 'alice' }));
    expect(err.code).toBe('CONCORD_ERR_CONFIG');
    expect((await rejection(verifyToken('short', 'x.y.z'))).code).toBe('CONCORD_ERR_CONFIG');
  });

  it('validates mint arguments with RangeError', async () => {
    await expect(mintToken(SECRET, { userId: '' })).rejects.toThrow(RangeError);
    await expect(mintToken(SECRET, { userId: 'a', ttlSeconds: 0 })).rejects.toThrow(RangeError);
    await expect(mintToken(SECRET, { userId: 'a', ttlSeconds: 1.5 })).rejects.toThrow(RangeError);
  });

  describe('room patterns', () => {
    it('matches literal rooms exactly', () => {
      expect(roomAllowed({ rooms: ['lobby'] }, 'lobby')).toBe(true);
      expect(roomAllowed({ rooms: ['lobby'] }, 'lobby2')).toBe(false);
      expect(roomAllowed({ rooms: ['lobby'] }, 'Lobby')).toBe(false);
      expect(roomAllowed({ rooms: [] }, 'lobby')).toBe(false);
    });

    it('lets `*` match any run of characters, including none', () => {
      const grant = { rooms: ['team-*', '*-public', 'a*b*c'] };
      expect(roomAllowed(grant, 'team-')).toBe(true);
      expect(roomAllowed(grant, 'team-red')).toBe(true);
      expect(roomAllowed(grant, 'x-public')).toBe(true);
      expect(roomAllowed(grant, 'abc')).toBe(true);
      expect(roomAllowed(grant, 'a-b-c')).toBe(true);
      expect(roomAllowed(grant, 'team')).toBe(false);
      expect(roomAllowed(grant, 'my-team-red')).toBe(false);
      expect(roomAllowed(grant, 'a-b-c-d')).toBe(false);
      expect(roomAllowed({ rooms: ['*'] }, 'anything at all')).toBe(true);
    });

    it('treats regular-expression characters in patterns literally', () => {
      const grant = { rooms: ['room.1', 'a+(b)*', '[x]'] };
      expect(roomAllowed(grant, 'room.1')).toBe(true);
      expect(roomAllowed(grant, 'roomX1')).toBe(false);
      expect(roomAllowed(grant, 'a+(b)-z')).toBe(true);
      expect(roomAllowed(grant, 'aab')).toBe(false);
      expect(roomAllowed(grant, '[x]')).toBe(true);
      expect(roomAllowed(grant, 'x')).toBe(false);
    });
  });

  describe('dev tokens', () => {
    it('parses dev:<user>[:<name>] into an all-rooms grant', () => {
      expect(parseDevToken('dev:alice')).toMatchObject({
        userId: 'alice',
        name: 'alice',
        rooms: ['*'],
      });
      expect(parseDevToken('dev:bob:Bob B.')).toMatchObject({ userId: 'bob', name: 'Bob B.' });
    });

    it('ignores anything else', () => {
      for (const t of ['alice', 'dev:', 'dev:bad user', `dev:${'x'.repeat(65)}`, 'xdev:alice'])
        expect(parseDevToken(t)).toBeUndefined();
    });
  });
});
