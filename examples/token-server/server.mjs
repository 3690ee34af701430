#!/usr/bin/env node
// Concord token server example: the HTTP route an app backend adds so its users get room tokens.
// It mints short-lived HS256 tokens with the gateway's secret through the gateway package's
// token API (`mintToken`, jose underneath). The browser never sees the secret.
//
//   CONCORD_SECRET=<32+ bytes> node examples/token-server/server.mjs
//   → GET http://127.0.0.1:8090/token?user=<id>&name=<display name>&room=<room>
//
// A real backend decides who the user is from its own login (session cookie, OAuth…) and which
// rooms they may enter; this example trusts the query so it can run without one. Keep the
// route behind your authentication.
import { createServer } from 'node:http';
import { MIN_SECRET_BYTES, mintToken } from '@concord/gateway';

/** Default lifetime of a token, s: short, because the SDK asks again before it expires. */
export const DEFAULT_TTL_SECONDS = 600;
const USER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Creates the token server (not listening yet).
 * @param {{ secret: string, ttlSeconds?: number, allowedOrigins?: string[] }} options
 *   `allowedOrigins`: pages allowed to call the route from a browser (CORS), e.g. the voice
 *   room's `http://127.0.0.1:8080`; `['*']` allows any.
 * @returns {import('node:http').Server}
 * @throws {RangeError} for a missing or short secret.
 */
export function createTokenServer({ secret, ttlSeconds = DEFAULT_TTL_SECONDS, allowedOrigins }) {
  if (typeof secret !== 'string' || new TextEncoder().encode(secret).length < MIN_SECRET_BYTES)
    throw new RangeError(
      `the secret must be the gateway's secret, at least ${MIN_SECRET_BYTES} bytes (set CONCORD_SECRET)`,
    );
  const origins = new Set(allowedOrigins ?? ['http://127.0.0.1:8080', 'http://localhost:8080']);
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://token-server');
    const origin = req.headers.origin;
    const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
    if (origin && (origins.has('*') || origins.has(origin))) {
      headers['Access-Control-Allow-Origin'] = origin;
      headers['Vary'] = 'Origin';
    }
    const reply = (status, body) => {
      res.writeHead(status, headers);
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return reply(404, { error: 'not found: use GET /token' });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...headers, 'Access-Control-Allow-Methods': 'GET' });
      return res.end();
    }
    if (req.method !== 'GET') return reply(405, { error: 'use GET /token?user=&name=&room=' });
    if (origin && !headers['Access-Control-Allow-Origin'])
      return reply(403, { error: `origin ${origin} is not allowed to ask for tokens` });
    const userId = url.searchParams.get('user') ?? '';
    if (!USER_ID.test(userId))
      return reply(400, { error: 'user must be 1–64 characters of A–Z, a–z, 0–9, _ . -' });
    const name = (url.searchParams.get('name') ?? '').trim().slice(0, 64) || userId;
    const room = url.searchParams.get('room');
    if (room !== null && (room.length === 0 || room.length > 128 || room.includes('*')))
      return reply(400, { error: 'room must be 1–128 characters without *' });
    // One room when the page says which; every room otherwise (decide this from your own data).
    const rooms = room === null ? ['*'] : [room];
    const token = await mintToken(secret, { userId, name, rooms, ttlSeconds });
    reply(200, { token, userId, rooms, expiresInSec: ttlSeconds });
  });
}

async function main() {
  const port = Number(process.env.PORT ?? 8090);
  const host = process.env.HOST ?? '127.0.0.1';
  let server;
  try {
    server = createTokenServer({
      secret: process.env.CONCORD_SECRET ?? '',
      allowedOrigins: process.env.ALLOWED_ORIGINS?.split(',').map((o) => o.trim()),
    });
  } catch (err) {
    console.error(`token server: ${err.message}`);
    process.exit(2);
  }
  server.on('error', (err) => {
    console.error(
      err.code === 'EADDRINUSE'
        ? `token server: port ${port} is in use (PORT=<other> node examples/token-server/server.mjs)`
        : `token server: ${err.message}`,
    );
    process.exit(1);
  });
  server.listen(port, host, () => {
    const { port: bound } = server.address();
    console.log(`token server: http://${host}:${bound}/token?user=<id>&name=<name>&room=<room>`);
    console.log(
      `voice room with these tokens: http://127.0.0.1:8080/?tokenServer=http://${host}:${bound}`,
    );
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
