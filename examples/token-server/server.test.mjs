// The token server example: tokens it mints verify with the gateway's own verifyToken and grant
// what was asked; bad requests are refused with a reason; CORS only for allowed origins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '@concord/gateway';
import { createTokenServer } from './server.mjs';

const SECRET = 's'.repeat(40);
let server;
let base;

beforeAll(async () => {
  server = createTokenServer({ secret: SECRET, allowedOrigins: ['http://127.0.0.1:8080'] });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe('token server example', () => {
  it('mints a token the gateway accepts, for that user, name and room only', async () => {
    const res = await fetch(`${base}/token?user=u-1234&name=Sam&room=lobby`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    const grant = await verifyToken(SECRET, body.token);
    expect(grant).toMatchObject({ userId: 'u-1234', name: 'Sam', rooms: ['lobby'] });
    const lifetime = grant.expiresAt - Math.floor(Date.now() / 1000);
    expect(lifetime).toBeGreaterThan(590);
    expect(lifetime).toBeLessThanOrEqual(600);
    await expect(verifyToken('x'.repeat(40), body.token)).rejects.toThrow();
  });

  it('grants every room when none is named, and defaults the name to the user id', async () => {
    const body = await (await fetch(`${base}/token?user=bot-1`)).json();
    expect(await verifyToken(SECRET, body.token)).toMatchObject({
      userId: 'bot-1',
      name: 'bot-1',
      rooms: ['*'],
    });
  });

  it('refuses bad users, rooms, methods and paths with a reason', async () => {
    const cases = [
      [`${base}/token`, 400, /user must be/],
      [`${base}/token?user=a%20b`, 400, /user must be/],
      [`${base}/token?user=a&room=team-*`, 400, /room must be/],
      [`${base}/nope`, 404, /GET \/token/],
    ];
    for (const [url, status, message] of cases) {
      const res = await fetch(url);
      expect(res.status, url).toBe(status);
      expect((await res.json()).error).toMatch(message);
    }
    const post = await fetch(`${base}/token?user=a`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('answers CORS for the allowed origin only', async () => {
    const ok = await fetch(`${base}/token?user=a`, {
      headers: { Origin: 'http://127.0.0.1:8080' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8080');
    const other = await fetch(`${base}/token?user=a`, { headers: { Origin: 'https://evil.test' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses to start without the gateway secret', () => {
    expect(() => createTokenServer({ secret: 'short' })).toThrow(/at least 32 bytes/);
    expect(() => createTokenServer({})).toThrow(/CONCORD_SECRET/);
  });
});
