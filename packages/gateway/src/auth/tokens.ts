// Access tokens: JWT HS256 (RFC 7519 / RFC 7518 §3.2) signed with the gateway secret, through
// `jose`. Claims: `sub` user id, `name` display name, `rooms` allowed room patterns
// (`*` matches any run of characters), `exp` expiry (required).
import { decodeJwt, errors, jwtVerify, SignJWT } from 'jose';
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
  /** `iss` claim. */
  issuer?: string;
  /** `aud` claim. */
  audience?: string;
}

/** Checks of {@link verifyToken} beyond signature, algorithm and expiry. */
export interface VerifyOptions {
  /** Required `iss`. */
  issuer?: string | undefined;
  /** Required `aud` (one of the token's audiences). */
  audience?: string | undefined;
  /** Tolerance for `exp`/`nbf`/`iat`, in seconds (default 0). */
  clockToleranceSec?: number;
  /**
   * Longest lifetime accepted, in seconds: `exp − iat`, or `exp − now` for a token without
   * `iat`. Unset: any.
   */
  maxLifetimeSec?: number;
}

/** An HS256 key: a secret string of at least 32 bytes, or raw key bytes (dev keys). */
export type TokenKey = string | Uint8Array;

/** Claim that marks a token minted by a gateway in dev mode (`/dev/token`). */
export const DEV_TOKEN_CLAIM = 'concord_dev';

const ALGORITHM = 'HS256';
/** Shortest secret accepted: 32 bytes, the HS256 key size RFC 7518 §3.2 asks for. */
export const MIN_SECRET_BYTES = 32;

function key(secret: TokenKey): Uint8Array {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
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
export async function mintToken(
  secret: TokenKey,
  options: MintOptions,
  extraClaims: Record<string, unknown> = {},
): Promise<string> {
  if (!options.userId) throw new RangeError('userId must be a non-empty string');
  const ttl = options.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0)
    throw new RangeError(`ttlSeconds must be a positive integer, got ${ttl}`);
  const jwt = new SignJWT({
    ...extraClaims,
    name: options.name ?? options.userId,
    rooms: options.rooms ?? ['*'],
  })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(key(secret));
}

/**
 * Whether a token says it was minted by a gateway in dev mode (read without verifying: only
 * to pick the key it must verify with).
 */
export function isDevToken(token: string): boolean {
  try {
    return decodeJwt(token)[DEV_TOKEN_CLAIM] === true;
  } catch {
    return false; // not a JWT at all: verification will say why
  }
}

/**
 * Verifies a token's signature, algorithm and expiry and returns its grant.
 * @throws {GatewayError} `CONCORD_ERR_AUTH_EXPIRED` (close 4008) when expired,
 * `CONCORD_ERR_AUTH_FAILED` (close 4004) for anything else wrong.
 */
export async function verifyToken(
  secret: TokenKey,
  token: string,
  options: VerifyOptions = {},
): Promise<TokenGrant> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ['sub', 'exp'],
      clockTolerance: options.clockToleranceSec ?? 0,
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
      ...(options.audience !== undefined ? { audience: options.audience } : {}),
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
  if (rooms.length > 64 || rooms.some((r) => r.length > 128)) {
    throw GatewayError.authFailed('rooms must hold at most 64 patterns of at most 128 characters');
  }
  if (options.maxLifetimeSec !== undefined) {
    const from = payload.iat ?? Math.floor(Date.now() / 1000);
    if (payload.exp! - from > options.maxLifetimeSec)
      throw GatewayError.authFailed(
        `token lifetime ${payload.exp! - from} s exceeds the maximum of ${options.maxLifetimeSec} s`,
      );
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
  return grant.rooms.some((pattern) => globMatch(pattern, room));
}

// `*` wildcard match in O(pattern × text) time at worst (the classic two-pointer walk that
// backtracks only to the last star), unlike a regular expression built from the pattern.
function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
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
