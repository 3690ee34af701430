// Access tokens: JWT HS256 (RFC 7519 / RFC 7518 §3.2) signed with the gateway secret, through
// `jose`. Claims: `sub` user id, `name` display name, `rooms` allowed room patterns
// (`*` matches any run of characters), `exp` expiry (required).
import { errors, jwtVerify, SignJWT } from 'jose';
import { GatewayError } from '../errors.js';

/** What a verified token grants. */
export interface TokenGrant {
  /** User id (`sub`). */
  userId: string;
  /** Display name (`name`, defaults to the user id). */
  name: string;
  /** Room patterns the user may join. */
  rooms: string[];
  /** Expiry, in seconds since the epoch. */
  expiresAt: number;
}

/** Options of {@link mintToken}. */
export interface MintOptions {
  userId: string;
  name?: string;
  /** Allowed room patterns (default `['*']`). */
  rooms?: string[];
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number;
}

const ALGORITHM = 'HS256';
/** Shortest secret accepted: 32 bytes, the HS256 key size RFC 7518 §3.2 asks for. */
export const MIN_SECRET_BYTES = 32;

function key(secret: string): Uint8Array {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw GatewayError.config(`the token secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

/**
 * Signs a token (HS256). Used by the `concord-gateway token` CLI and by app backends.
 * @throws {RangeError} for an empty user id or a non-positive ttl.
 * @throws {GatewayError} `CONCORD_ERR_CONFIG` for a secret under 32 bytes.
 */
export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  if (!options.userId) throw new RangeError('userId must be a non-empty string');
  const ttl = options.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0)
    throw new RangeError(`ttlSeconds must be a positive integer, got ${ttl}`);
  return new SignJWT({ name: options.name ?? options.userId, rooms: options.rooms ?? ['*'] })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(key(secret));
}

/**
 * Verifies a token's signature, algorithm and expiry and returns its grant.
 * @throws {GatewayError} `CONCORD_ERR_AUTH_EXPIRED` (close 4008) when expired,
 * `CONCORD_ERR_AUTH_FAILED` (close 4004) for anything else wrong.
 */
export async function verifyToken(secret: string, token: string): Promise<TokenGrant> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ['sub', 'exp'],
    }));
  } catch (cause) {
    if (cause instanceof errors.JWTExpired) throw GatewayError.authExpired(cause);
    if (cause instanceof GatewayError) throw cause;
    throw GatewayError.authFailed(
      cause instanceof errors.JOSEError ? cause.code : 'malformed token',
      cause,
    );
  }
  const rooms = payload['rooms'];
  const name = payload['name'];
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
    throw GatewayError.authFailed('sub must be a user id of 1–128 characters');
  }
  if (!Array.isArray(rooms) || !rooms.every((r): r is string => typeof r === 'string')) {
    throw GatewayError.authFailed('rooms must be an array of strings');
  }
  return {
    userId: payload.sub,
    name: typeof name === 'string' && name.length > 0 ? name.slice(0, 64) : payload.sub,
    rooms,
    expiresAt: payload.exp!,
  };
}

/**
 * Whether `room` matches one of the grant's patterns (`*` matches any run of characters,
 * everything else literally).
 */
export function roomAllowed(grant: Pick<TokenGrant, 'rooms'>, room: string): boolean {
  return grant.rooms.some((pattern) => {
    if (!pattern.includes('*')) return pattern === room;
    const parts = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${parts.join('.*')}$`).test(room);
  });
}

/**
 * Insecure development tokens, accepted only when the gateway runs with `insecureDevAuth`:
 * `dev:<userId>[:<name>]`, allowed into every room, never expiring.
 */
export function parseDevToken(token: string): TokenGrant | undefined {
  const m = /^dev:([A-Za-z0-9_.-]{1,64})(?::(.{1,64}))?$/.exec(token);
  if (!m) return undefined;
  return { userId: m[1]!, name: m[2] ?? m[1]!, rooms: ['*'], expiresAt: Number.MAX_SAFE_INTEGER };
}
