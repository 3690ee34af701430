import { isIP } from 'node:net';
import {
  DEFAULT_BATCH_WINDOW_MS,
  DEFAULT_CLIENT_LIMITS,
  DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  MAX_MEDIA_FRAME_BYTES,
  PRE_AUTH_MAX_FRAME_BYTES,
  resolveLimits,
  type ProtocolLimits,
} from '@concord/protocol';
import { GatewayError } from './errors.js';

/**
 * Largest encoded participant entry, in bytes: a 128-character user id and a 64-character name
 * at 3 UTF-8 bytes per UTF-16 unit, an ssrc and three booleans, with MessagePack headers.
 */
export const MAX_PARTICIPANT_BYTES = 600;
/** Encoded bytes at which the gateway's batcher flushes a frame early. */
export const OUTBOUND_BATCH_BYTES = 32 * 1024;
/** Encoded bytes of participants in one ROOM_PARTICIPANTS / ROOM_JOINED page (at most). */
export const PARTICIPANT_PAGE_BYTES = 16 * 1024;

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
  /**
   * Accept unsigned `dev:<user>` tokens and serve `/dev/token` (to loopback clients only).
   * Never in production: refused on a non-loopback `host` unless
   * {@link dangerouslyAllowDevAuthOnNetwork}.
   */
  insecureDevAuth: boolean;
  /**
   * Lets dev auth run on a non-loopback address (e.g. inside a container whose port is only
   * published to the host). Anyone who reaches the port can be anyone.
   */
  dangerouslyAllowDevAuthOnNetwork: boolean;
  /** Required `iss` claim of tokens (unset: not checked). */
  tokenIssuer: string | undefined;
  /** Required `aud` claim of tokens (unset: not checked). */
  tokenAudience: string | undefined;
  /** Clock tolerance when checking `exp`/`nbf`/`iat`, in seconds. */
  tokenClockToleranceSec: number;
  /** Longest token lifetime accepted (`exp` − `iat`, or `exp` − now without `iat`), in seconds. */
  tokenMaxLifetimeSec: number;
  /**
   * Origins allowed to open the WebSocket (exact `scheme://host[:port]`, or `*` for any).
   * The gateway's own origin is always allowed, loopback origins too in dev mode; a client
   * that sends no Origin (not a browser, e.g. a Node bot) always passes.
   */
  allowedOrigins: string[];
  /**
   * Reverse proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed for the client address
   * (per-IP limits, logs). Empty: the socket's peer address is the client.
   */
  trustedProxies: string[];
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
  /**
   * Control-frame bytes allowed per window per connection (token bucket), charged on arrival
   * before anything is decoded.
   */
  rateLimitBytes: number;
  /** Token bucket window. */
  rateLimitWindowMs: number;
  /** SPEAKING updates allowed per window (own bucket: voice activity toggles often). */
  speakingRateLimitMessages: number;
  /** RECEIVER_REPORT messages allowed per window per connection (own bucket). */
  reportRateLimitMessages: number;
  /** Media streams forwarded at once per room: the loudest (selective forwarding). */
  maxSpeakers: number;
  /**
   * WebRTC through the mediasoup SFU: `auto` (offer it once mediasoup loads; the project's
   * worker build may finish after start-up), `on` (refuse to start without it), `off`.
   */
  webrtc: 'auto' | 'on' | 'off';
  /** Address the SFU's WebRTC transports listen on. */
  webrtcListenIp: string;
  /** Address announced in ICE candidates (behind NAT: the public one); unset: the listen IP. */
  webrtcAnnouncedIp: string | undefined;
  /** Lowest UDP/TCP port of the SFU's transports. */
  webrtcPortMin: number;
  /** Highest UDP/TCP port of the SFU's transports. */
  webrtcPortMax: number;
  /** mediasoup worker processes (0: one per core). */
  webrtcWorkers: number;
  /** Offer UDP ICE candidates only (default: TCP too, UDP preferred). */
  webrtcUdpOnly: boolean;
  /** Media frames per second allowed per stream (10 ms packets are 100/s, 20 ms ones 50/s); over it they drop. */
  mediaRateLimitFps: number;
  /** Media frames a stream may send in a burst above its rate. */
  mediaBurstFrames: number;
  /** Media frames to a socket with more than this many bytes unsent are dropped (slow consumer). */
  maxBufferedMediaBytes: number;
  /**
   * Outbound bytes a socket may hold unsent (control included); past it the client is closed
   * with SLOW_CONSUMER (it may resume). Must hold the largest ROOM_JOINED burst.
   */
  maxOutboundBytes: number;
  /** Longest time bytes may wait unsent in a socket before SLOW_CONSUMER, in ms. */
  maxOutboundAgeMs: number;
  /** Concurrent connections allowed from one IP address. */
  maxConnectionsPerIp: number;
  /** New connections one IP address may open per minute (token bucket, burst = this). */
  maxConnectsPerIpPerMinute: number;
  /** Concurrent connections allowed in all (over it, upgrades get HTTP 503). */
  maxConnections: number;
  /** Sessions one user may hold at once, connected or waiting to resume. */
  maxSessionsPerUser: number;
  /** Rooms one session may be in at once. */
  maxRoomsPerSession: number;
  /** Participants one room may hold. */
  maxParticipantsPerRoom: number;
  /** Micro-batching window (0 = off). */
  batchWindowMs: number;
  /** Payloads from this many bytes are LZ4-compressed (0 = never). */
  compressionThresholdBytes: number;
  /** Limits of the frames the gateway sends (clients decode with these). */
  limits: ProtocolLimits;
  /** Limits enforced on what identified clients send (announced in HELLO). */
  clientLimits: ProtocolLimits;
  /** Largest frame accepted before a session is established (IDENTIFY / RESUME), in bytes. */
  preAuthMaxFrameBytes: number;
  /** HTTP: time to receive a request's headers, in ms (slowloris bound). */
  httpHeadersTimeoutMs: number;
  /** HTTP: time to receive a whole request, in ms. */
  httpRequestTimeoutMs: number;
  /** HTTP: idle keep-alive time between requests, in ms. */
  httpKeepAliveTimeoutMs: number;
  /** Grace period for clients to leave on SIGTERM before the rest are closed. */
  drainTimeoutMs: number;
  /** Static directories to serve. */
  staticMounts: StaticMount[];
  /**
   * Serves `PUT`/`DELETE /test/impairment` (seeded media loss and jitter) for e2e tests and
   * benchmarks. Test-only: never in production.
   */
  enableTestImpairment: boolean;
  /**
   * Bearer token `/metrics` requires (`Authorization: Bearer <token>`); unset: `/metrics` is
   * open to whoever reaches the port.
   */
  metricsToken: string | undefined;
  /**
   * Redis URL (`redis://host:port`): this node joins a cluster sharing state, room events and
   * placement through Redis. Unset: one process, in-memory state (the embedded default).
   */
  redis: string | undefined;
  /** This node's id in the cluster (default: random per process). */
  nodeId: string | undefined;
  /**
   * Host other nodes use to reach this one (media links) and that the registry publishes
   * (default: `host`, or 127.0.0.1 when listening on every interface).
   */
  advertiseHost: string | undefined;
  /** A cluster node without a heartbeat this long is dead, in ms (heartbeats every fifth). */
  clusterNodeTtlMs: number;
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
  dangerouslyAllowDevAuthOnNetwork: false,
  tokenIssuer: undefined,
  tokenAudience: undefined,
  tokenClockToleranceSec: 5,
  tokenMaxLifetimeSec: 24 * 3600,
  allowedOrigins: [],
  trustedProxies: [],
  heartbeatIntervalMs: 30_000,
  heartbeatGraceMs: 15_000,
  identifyTimeoutMs: 10_000,
  resumeWindowMs: 60_000,
  replayMaxEvents: 2_000,
  replayMaxBytes: 512 * 1024,
  rateLimitMessages: 120,
  rateLimitBytes: 256 * 1024,
  rateLimitWindowMs: 60_000,
  speakingRateLimitMessages: 600,
  reportRateLimitMessages: 120,
  maxSpeakers: 3,
  webrtc: 'auto',
  webrtcListenIp: '127.0.0.1',
  webrtcAnnouncedIp: undefined,
  webrtcPortMin: 40_000,
  webrtcPortMax: 49_999,
  webrtcWorkers: 0,
  webrtcUdpOnly: false,
  mediaRateLimitFps: 120,
  mediaBurstFrames: 40,
  maxBufferedMediaBytes: 64 * 1024,
  maxOutboundBytes: 512 * 1024,
  maxOutboundAgeMs: 10_000,
  maxConnectionsPerIp: 200,
  maxConnectsPerIpPerMinute: 300,
  maxConnections: 15_000,
  maxSessionsPerUser: 8,
  maxRoomsPerSession: 4,
  maxParticipantsPerRoom: 500,
  batchWindowMs: DEFAULT_BATCH_WINDOW_MS,
  compressionThresholdBytes: DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  limits: resolveLimits(),
  clientLimits: resolveLimits(DEFAULT_CLIENT_LIMITS),
  preAuthMaxFrameBytes: PRE_AUTH_MAX_FRAME_BYTES,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
  httpKeepAliveTimeoutMs: 5_000,
  drainTimeoutMs: 10_000,
  staticMounts: [],
  enableTestImpairment: false,
  metricsToken: undefined,
  redis: undefined,
  nodeId: undefined,
  advertiseHost: undefined,
  clusterNodeTtlMs: 5_000,
  logLevel: 'info',
});

const POSITIVE: ReadonlyArray<keyof GatewayConfig> = [
  'heartbeatIntervalMs',
  'identifyTimeoutMs',
  'replayMaxEvents',
  'replayMaxBytes',
  'rateLimitMessages',
  'rateLimitBytes',
  'rateLimitWindowMs',
  'speakingRateLimitMessages',
  'reportRateLimitMessages',
  'maxSpeakers',
  'mediaRateLimitFps',
  'mediaBurstFrames',
  'maxConnectionsPerIp',
  'maxConnectsPerIpPerMinute',
  'maxConnections',
  'maxSessionsPerUser',
  'maxRoomsPerSession',
  'maxParticipantsPerRoom',
  'maxOutboundBytes',
  'maxOutboundAgeMs',
  'preAuthMaxFrameBytes',
  'tokenMaxLifetimeSec',
  'httpHeadersTimeoutMs',
  'httpRequestTimeoutMs',
  'httpKeepAliveTimeoutMs',
  'clusterNodeTtlMs',
];
const NON_NEGATIVE: ReadonlyArray<keyof GatewayConfig> = [
  'port',
  'heartbeatGraceMs',
  'resumeWindowMs',
  'batchWindowMs',
  'compressionThresholdBytes',
  'drainTimeoutMs',
  'maxBufferedMediaBytes',
  'tokenClockToleranceSec',
  'webrtcWorkers',
];

/** Whether `host` (a listen address or host name) only reaches this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

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
  if (
    config.insecureDevAuth &&
    !config.dangerouslyAllowDevAuthOnNetwork &&
    !isLoopbackHost(config.host)
  ) {
    throw GatewayError.config(
      `--insecure-dev-auth lets anyone be anyone, so it only runs on a loopback address (got host ${config.host}); ` +
        'inside a container whose port is published to the host only, add --dangerously-allow-dev-auth-on-network',
    );
  }
  if (!config.insecureDevAuth && (config.secret === undefined || config.secret.length === 0)) {
    throw GatewayError.config(
      'a token secret is required (--secret / CONCORD_SECRET) unless --insecure-dev-auth is set',
    );
  }
  if (config.secret !== undefined && new TextEncoder().encode(config.secret).length < 32) {
    throw GatewayError.config('the token secret must be at least 32 bytes');
  }
  if (config.redis !== undefined) {
    if (!/^rediss?:\/\//.test(config.redis))
      throw GatewayError.config(`redis must be a redis:// or rediss:// URL, got "${config.redis}"`);
    if (config.secret === undefined)
      throw GatewayError.config(
        '--redis needs the token secret (--secret / CONCORD_SECRET): every node of a cluster shares it',
      );
    if (config.clusterNodeTtlMs < 100)
      throw GatewayError.config(`clusterNodeTtlMs must be >= 100, got ${config.clusterNodeTtlMs}`);
    if (config.nodeId !== undefined && (config.nodeId === '' || /[\s{}:]/.test(config.nodeId)))
      throw GatewayError.config(
        `nodeId must be non-empty without spaces, braces or colons, got "${config.nodeId}"`,
      );
    if (config.webrtc === 'on')
      throw GatewayError.config(
        '--webrtc on is not available with --redis yet: cluster rooms use the WebSocket media path',
      );
  }
  if (!['auto', 'on', 'off'].includes(config.webrtc))
    throw GatewayError.config(`webrtc must be auto, on or off, got ${String(config.webrtc)}`);
  if (
    !Number.isInteger(config.webrtcPortMin) ||
    !Number.isInteger(config.webrtcPortMax) ||
    config.webrtcPortMin < 1024 ||
    config.webrtcPortMax > 65535 ||
    config.webrtcPortMin > config.webrtcPortMax
  )
    throw GatewayError.config(
      `webrtc ports must satisfy 1024 <= min <= max <= 65535, got ${config.webrtcPortMin}–${config.webrtcPortMax}`,
    );
  if (isIP(config.webrtcListenIp) === 0)
    throw GatewayError.config(`webrtcListenIp must be an IP address, got ${config.webrtcListenIp}`);
  if (!config.path.startsWith('/'))
    throw GatewayError.config(`path must start with "/", got ${config.path}`);
  try {
    config.limits = resolveLimits(config.limits);
    config.clientLimits = resolveLimits({ ...DEFAULT_CLIENT_LIMITS, ...config.clientLimits });
  } catch (e) {
    throw GatewayError.config((e as Error).message);
  }
  checkSizes(config);
  return config;
}

// The size settings depend on each other: check them together so a bad combination fails at
// start-up instead of as an oversized frame on a busy day.
function checkSizes(c: GatewayConfig): void {
  const need = (ok: boolean, message: string): void => {
    if (!ok) throw GatewayError.config(message);
  };
  const minServerFrame = 2 * OUTBOUND_BATCH_BYTES;
  need(
    c.limits.maxFrameBytes >= minServerFrame && c.limits.maxDecompressedBytes >= minServerFrame,
    `limits.maxFrameBytes and limits.maxDecompressedBytes must be >= ${minServerFrame} (one batch of ${OUTBOUND_BATCH_BYTES} bytes plus one participant page)`,
  );
  need(
    c.limits.maxArrayLength >= 16,
    `limits.maxArrayLength must be >= 16, got ${c.limits.maxArrayLength}`,
  );
  need(
    c.clientLimits.maxFrameBytes >= c.preAuthMaxFrameBytes,
    `clientLimits.maxFrameBytes (${c.clientLimits.maxFrameBytes}) must be >= preAuthMaxFrameBytes (${c.preAuthMaxFrameBytes})`,
  );
  need(
    c.clientLimits.maxFrameBytes <= c.limits.maxFrameBytes,
    `clientLimits.maxFrameBytes must be <= limits.maxFrameBytes`,
  );
  need(
    c.preAuthMaxFrameBytes >= 1024,
    `preAuthMaxFrameBytes must be >= 1024 (an IDENTIFY with a token), got ${c.preAuthMaxFrameBytes}`,
  );
  // A join into a full room sends every member at once: the socket and the replay buffer must
  // hold that burst, or a joiner on a slow link is cut and cannot resume.
  const joinBurst = c.maxParticipantsPerRoom * MAX_PARTICIPANT_BYTES;
  need(
    c.maxOutboundBytes >= joinBurst + minServerFrame,
    `maxOutboundBytes (${c.maxOutboundBytes}) must be >= ${joinBurst + minServerFrame}: ` +
      `${c.maxParticipantsPerRoom} participants × ${MAX_PARTICIPANT_BYTES} bytes (a full ROOM_JOINED) + ${minServerFrame}; ` +
      'raise it or lower maxParticipantsPerRoom',
  );
  need(
    c.replayMaxBytes >= joinBurst,
    `replayMaxBytes (${c.replayMaxBytes}) must be >= ${joinBurst} (a full ROOM_JOINED of ` +
      `${c.maxParticipantsPerRoom} participants); raise it or lower maxParticipantsPerRoom`,
  );
  need(
    c.maxBufferedMediaBytes < c.maxOutboundBytes,
    'maxBufferedMediaBytes must be < maxOutboundBytes (media gives way before control)',
  );
  need(
    c.rateLimitBytes >= c.clientLimits.maxFrameBytes,
    `rateLimitBytes must be >= clientLimits.maxFrameBytes (${c.clientLimits.maxFrameBytes})`,
  );
  need(c.maxConnectsPerIpPerMinute >= 1, 'maxConnectsPerIpPerMinute must be >= 1');
}

/** WebSocket payload cap handed to `ws` (it closes with 1009 above it): twice the largest frame a client may send. */
export function wsMaxPayload(c: GatewayConfig): number {
  return 2 * Math.max(c.clientLimits.maxFrameBytes, MAX_MEDIA_FRAME_BYTES);
}
