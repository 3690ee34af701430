import {
  DEFAULT_BATCH_WINDOW_MS,
  DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  resolveLimits,
  type ProtocolLimits,
} from '@concord/protocol';
import { GatewayError } from './errors.js';

/** A static directory served over HTTP under a URL prefix (with COOP/COEP headers). */
export interface StaticMount {
  /** URL prefix, starting and ending with `/`. */
  prefix: string;
  /** Directory on disk. */
  dir: string;
}

/** Every gateway setting. Times in ms. */
export interface GatewayConfig {
  /** Interface to listen on. */
  host: string;
  /** TCP port (0 = any free port). */
  port: number;
  /** WebSocket path. */
  path: string;
  /** HS256 secret for tokens (≥ 32 bytes). Required unless `insecureDevAuth`. */
  secret: string | undefined;
  /** Accept unsigned `dev:<user>` tokens and serve `/dev/token`. Never in production. */
  insecureDevAuth: boolean;
  /** Heartbeat interval announced in HELLO. */
  heartbeatIntervalMs: number;
  /** A session whose last heartbeat is older than interval + this is a zombie. */
  heartbeatGraceMs: number;
  /** Time allowed between connecting and IDENTIFY/RESUME. */
  identifyTimeoutMs: number;
  /** How long a disconnected session stays resumable. */
  resumeWindowMs: number;
  /** Replay buffer bound in dispatches. */
  replayMaxEvents: number;
  /** Replay buffer bound in encoded bytes. */
  replayMaxBytes: number;
  /** Control messages allowed per window per connection (token bucket). */
  rateLimitMessages: number;
  /** Token bucket window. */
  rateLimitWindowMs: number;
  /** SPEAKING updates allowed per window (own bucket: voice activity toggles often). */
  speakingRateLimitMessages: number;
  /** RECEIVER_REPORT messages allowed per window per connection (own bucket). */
  reportRateLimitMessages: number;
  /** Media streams forwarded at once per room: the loudest (selective forwarding). */
  maxSpeakers: number;
  /** Media frames per second allowed per stream (20 ms frames are 50/s); over it they drop. */
  mediaRateLimitFps: number;
  /** Media frames a stream may send in a burst above its rate. */
  mediaBurstFrames: number;
  /** Media frames to a socket with more than this many bytes unsent are dropped (slow consumer). */
  maxBufferedMediaBytes: number;
  /** Concurrent connections allowed from one IP address. */
  maxConnectionsPerIp: number;
  /** Rooms one session may be in at once. */
  maxRoomsPerSession: number;
  /** Participants one room may hold. */
  maxParticipantsPerRoom: number;
  /** Micro-batching window (0 = off). */
  batchWindowMs: number;
  /** Payloads from this many bytes are LZ4-compressed (0 = never). */
  compressionThresholdBytes: number;
  /** Wire limits. */
  limits: ProtocolLimits;
  /** Grace period for clients to leave on SIGTERM before the rest are closed. */
  drainTimeoutMs: number;
  /** Static directories to serve. */
  staticMounts: StaticMount[];
  /**
   * Serves `PUT`/`DELETE /test/impairment` (seeded media loss and jitter) for e2e tests and
   * benchmarks. Test-only: never in production.
   */
  enableTestImpairment: boolean;
  /** pino log level. */
  logLevel: string;
}

/** Defaults: what `concord-gateway` runs with when given nothing. */
export const DEFAULT_CONFIG: Readonly<GatewayConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  path: '/gateway',
  secret: undefined,
  insecureDevAuth: false,
  heartbeatIntervalMs: 30_000,
  heartbeatGraceMs: 15_000,
  identifyTimeoutMs: 10_000,
  resumeWindowMs: 60_000,
  replayMaxEvents: 2_000,
  replayMaxBytes: 512 * 1024,
  rateLimitMessages: 120,
  rateLimitWindowMs: 60_000,
  speakingRateLimitMessages: 600,
  reportRateLimitMessages: 120,
  maxSpeakers: 3,
  mediaRateLimitFps: 60,
  mediaBurstFrames: 20,
  maxBufferedMediaBytes: 64 * 1024,
  maxConnectionsPerIp: 200,
  maxRoomsPerSession: 4,
  maxParticipantsPerRoom: 500,
  batchWindowMs: DEFAULT_BATCH_WINDOW_MS,
  compressionThresholdBytes: DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  limits: resolveLimits(),
  drainTimeoutMs: 10_000,
  staticMounts: [],
  enableTestImpairment: false,
  logLevel: 'info',
});

const POSITIVE: ReadonlyArray<keyof GatewayConfig> = [
  'heartbeatIntervalMs',
  'identifyTimeoutMs',
  'replayMaxEvents',
  'replayMaxBytes',
  'rateLimitMessages',
  'rateLimitWindowMs',
  'speakingRateLimitMessages',
  'reportRateLimitMessages',
  'maxSpeakers',
  'mediaRateLimitFps',
  'mediaBurstFrames',
  'maxConnectionsPerIp',
  'maxRoomsPerSession',
  'maxParticipantsPerRoom',
];
const NON_NEGATIVE: ReadonlyArray<keyof GatewayConfig> = [
  'port',
  'heartbeatGraceMs',
  'resumeWindowMs',
  'batchWindowMs',
  'compressionThresholdBytes',
  'drainTimeoutMs',
  'maxBufferedMediaBytes',
];

/**
 * Merges `overrides` over the defaults and validates the result.
 * @throws {GatewayError} `CONCORD_ERR_CONFIG` naming the first invalid setting.
 */
export function resolveConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const config: GatewayConfig = { ...DEFAULT_CONFIG, ...overrides };
  for (const key of POSITIVE) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw GatewayError.config(`${key} must be > 0, got ${String(v)}`);
  }
  for (const key of NON_NEGATIVE) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw GatewayError.config(`${key} must be >= 0, got ${String(v)}`);
  }
  if (!Number.isInteger(config.maxSpeakers))
    throw GatewayError.config(`maxSpeakers must be an integer, got ${config.maxSpeakers}`);
  if (config.mediaBurstFrames < 1)
    throw GatewayError.config(`mediaBurstFrames must be >= 1, got ${config.mediaBurstFrames}`);
  if (config.port > 65535) throw GatewayError.config(`port must be <= 65535, got ${config.port}`);
  if (!config.insecureDevAuth && (config.secret === undefined || config.secret.length === 0)) {
    throw GatewayError.config(
      'a token secret is required (--secret / CONCORD_SECRET) unless --insecure-dev-auth is set',
    );
  }
  if (config.secret !== undefined && new TextEncoder().encode(config.secret).length < 32) {
    throw GatewayError.config('the token secret must be at least 32 bytes');
  }
  if (!config.path.startsWith('/'))
    throw GatewayError.config(`path must start with "/", got ${config.path}`);
  try {
    config.limits = resolveLimits(config.limits);
  } catch (e) {
    throw GatewayError.config((e as Error).message);
  }
  return config;
}
