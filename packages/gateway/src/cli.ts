#!/usr/bin/env node
// concord-gateway: runs the reference gateway, or mints development tokens.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { mintToken } from './auth/tokens.js';
import { DEFAULT_CONFIG, type GatewayConfig, type StaticMount } from './config.js';
import { GatewayError } from './errors.js';
import { Gateway } from './Gateway.js';

interface Setting {
  flag: string;
  env: string;
  key: keyof GatewayConfig;
  /** For a field of a nested object (`limits`, `clientLimits`): its name there. */
  field?: string;
  /** `list`: comma-separated strings. */
  kind: 'string' | 'number' | 'boolean' | 'list';
  help: string;
}

/** Every setting: flag, environment variable, config key. */
const SETTINGS: Setting[] = [
  {
    flag: 'host',
    env: 'CONCORD_HOST',
    key: 'host',
    kind: 'string',
    help: 'interface to listen on',
  },
  {
    flag: 'port',
    env: 'CONCORD_PORT',
    key: 'port',
    kind: 'number',
    help: 'TCP port (0 = any free port)',
  },
  { flag: 'path', env: 'CONCORD_PATH', key: 'path', kind: 'string', help: 'WebSocket path' },
  {
    flag: 'secret',
    env: 'CONCORD_SECRET',
    key: 'secret',
    kind: 'string',
    help: 'HS256 token secret, >= 32 bytes (prefer the env variable)',
  },
  {
    flag: 'insecure-dev-auth',
    env: 'CONCORD_INSECURE_DEV_AUTH',
    key: 'insecureDevAuth',
    kind: 'boolean',
    help: 'accept unsigned dev:<user> tokens and serve /dev/token to loopback clients (never in production; loopback hosts only)',
  },
  {
    flag: 'dangerously-allow-dev-auth-on-network',
    env: 'CONCORD_DANGEROUSLY_ALLOW_DEV_AUTH_ON_NETWORK',
    key: 'dangerouslyAllowDevAuthOnNetwork',
    kind: 'boolean',
    help: 'let --insecure-dev-auth run on a non-loopback host (containers whose port only the host can reach): anyone who reaches it can be anyone',
  },
  {
    flag: 'token-issuer',
    env: 'CONCORD_TOKEN_ISSUER',
    key: 'tokenIssuer',
    kind: 'string',
    help: 'required iss claim of tokens',
  },
  {
    flag: 'token-audience',
    env: 'CONCORD_TOKEN_AUDIENCE',
    key: 'tokenAudience',
    kind: 'string',
    help: 'required aud claim of tokens',
  },
  {
    flag: 'token-clock-tolerance-sec',
    env: 'CONCORD_TOKEN_CLOCK_TOLERANCE_SEC',
    key: 'tokenClockToleranceSec',
    kind: 'number',
    help: 'clock tolerance for exp/nbf/iat, seconds',
  },
  {
    flag: 'token-max-lifetime-sec',
    env: 'CONCORD_TOKEN_MAX_LIFETIME_SEC',
    key: 'tokenMaxLifetimeSec',
    kind: 'number',
    help: 'longest token lifetime accepted (exp - iat), seconds',
  },
  {
    flag: 'allowed-origins',
    env: 'CONCORD_ALLOWED_ORIGINS',
    key: 'allowedOrigins',
    kind: 'list',
    help: 'browser origins allowed to connect, comma-separated (own origin always; * = any)',
  },
  {
    flag: 'trusted-proxies',
    env: 'CONCORD_TRUSTED_PROXIES',
    key: 'trustedProxies',
    kind: 'list',
    help: 'reverse proxies (IPs/CIDRs) whose X-Forwarded-For gives the client address',
  },
  {
    flag: 'heartbeat-interval-ms',
    env: 'CONCORD_HEARTBEAT_INTERVAL_MS',
    key: 'heartbeatIntervalMs',
    kind: 'number',
    help: 'heartbeat interval announced in HELLO',
  },
  {
    flag: 'heartbeat-grace-ms',
    env: 'CONCORD_HEARTBEAT_GRACE_MS',
    key: 'heartbeatGraceMs',
    kind: 'number',
    help: 'extra time before a silent connection is a zombie',
  },
  {
    flag: 'identify-timeout-ms',
    env: 'CONCORD_IDENTIFY_TIMEOUT_MS',
    key: 'identifyTimeoutMs',
    kind: 'number',
    help: 'time allowed before IDENTIFY/RESUME',
  },
  {
    flag: 'resume-window-ms',
    env: 'CONCORD_RESUME_WINDOW_MS',
    key: 'resumeWindowMs',
    kind: 'number',
    help: 'how long a dropped session stays resumable',
  },
  {
    flag: 'replay-max-events',
    env: 'CONCORD_REPLAY_MAX_EVENTS',
    key: 'replayMaxEvents',
    kind: 'number',
    help: 'replay buffer bound, in events',
  },
  {
    flag: 'replay-max-bytes',
    env: 'CONCORD_REPLAY_MAX_BYTES',
    key: 'replayMaxBytes',
    kind: 'number',
    help: 'replay buffer bound, in bytes',
  },
  {
    flag: 'rate-limit-messages',
    env: 'CONCORD_RATE_LIMIT_MESSAGES',
    key: 'rateLimitMessages',
    kind: 'number',
    help: 'control messages per window per connection',
  },
  {
    flag: 'rate-limit-bytes',
    env: 'CONCORD_RATE_LIMIT_BYTES',
    key: 'rateLimitBytes',
    kind: 'number',
    help: 'control-frame bytes per window per connection (charged before decoding)',
  },
  {
    flag: 'rate-limit-window-ms',
    env: 'CONCORD_RATE_LIMIT_WINDOW_MS',
    key: 'rateLimitWindowMs',
    kind: 'number',
    help: 'rate-limit window',
  },
  {
    flag: 'speaking-rate-limit-messages',
    env: 'CONCORD_SPEAKING_RATE_LIMIT_MESSAGES',
    key: 'speakingRateLimitMessages',
    kind: 'number',
    help: 'SPEAKING updates per window per connection',
  },
  {
    flag: 'report-rate-limit-messages',
    env: 'CONCORD_REPORT_RATE_LIMIT_MESSAGES',
    key: 'reportRateLimitMessages',
    kind: 'number',
    help: 'RECEIVER_REPORT messages per window per connection',
  },
  {
    flag: 'max-speakers',
    env: 'CONCORD_MAX_SPEAKERS',
    key: 'maxSpeakers',
    kind: 'number',
    help: 'media streams forwarded at once per room (the loudest)',
  },
  {
    flag: 'webrtc',
    env: 'CONCORD_WEBRTC',
    key: 'webrtc',
    kind: 'string',
    help: 'WebRTC through the mediasoup SFU: auto (once mediasoup is ready), on (required), off',
  },
  {
    flag: 'webrtc-listen-ip',
    env: 'CONCORD_WEBRTC_LISTEN_IP',
    key: 'webrtcListenIp',
    kind: 'string',
    help: 'address the SFU listens on for WebRTC (UDP preferred, TCP too)',
  },
  {
    flag: 'webrtc-announced-ip',
    env: 'CONCORD_WEBRTC_ANNOUNCED_IP',
    key: 'webrtcAnnouncedIp',
    kind: 'string',
    help: 'address announced in ICE candidates (behind NAT: the public one)',
  },
  {
    flag: 'webrtc-port-min',
    env: 'CONCORD_WEBRTC_PORT_MIN',
    key: 'webrtcPortMin',
    kind: 'number',
    help: 'lowest port of the SFU transports',
  },
  {
    flag: 'webrtc-port-max',
    env: 'CONCORD_WEBRTC_PORT_MAX',
    key: 'webrtcPortMax',
    kind: 'number',
    help: 'highest port of the SFU transports',
  },
  {
    flag: 'webrtc-workers',
    env: 'CONCORD_WEBRTC_WORKERS',
    key: 'webrtcWorkers',
    kind: 'number',
    help: 'mediasoup worker processes (0 = one per core)',
  },
  {
    flag: 'webrtc-udp-only',
    env: 'CONCORD_WEBRTC_UDP_ONLY',
    key: 'webrtcUdpOnly',
    kind: 'boolean',
    help: 'offer UDP ICE candidates only (default: TCP too, UDP preferred)',
  },
  {
    flag: 'media-rate-limit-fps',
    env: 'CONCORD_MEDIA_RATE_LIMIT_FPS',
    key: 'mediaRateLimitFps',
    kind: 'number',
    help: 'media frames per second per stream; over it frames drop, over 3x the socket closes',
  },
  {
    flag: 'media-burst-frames',
    env: 'CONCORD_MEDIA_BURST_FRAMES',
    key: 'mediaBurstFrames',
    kind: 'number',
    help: 'media frames a stream may burst above its rate',
  },
  {
    flag: 'max-buffered-media-bytes',
    env: 'CONCORD_MAX_BUFFERED_MEDIA_BYTES',
    key: 'maxBufferedMediaBytes',
    kind: 'number',
    help: 'drop media to a socket with more unsent bytes than this (slow consumer)',
  },
  {
    flag: 'max-outbound-bytes',
    env: 'CONCORD_MAX_OUTBOUND_BYTES',
    key: 'maxOutboundBytes',
    kind: 'number',
    help: 'unsent bytes a socket may hold before it is closed with 4018 SLOW_CONSUMER',
  },
  {
    flag: 'max-outbound-age-ms',
    env: 'CONCORD_MAX_OUTBOUND_AGE_MS',
    key: 'maxOutboundAgeMs',
    kind: 'number',
    help: 'how long bytes may wait unsent before 4018 SLOW_CONSUMER',
  },
  {
    flag: 'max-connections-per-ip',
    env: 'CONCORD_MAX_CONNECTIONS_PER_IP',
    key: 'maxConnectionsPerIp',
    kind: 'number',
    help: 'concurrent connections from one address (over it: HTTP 429 before the handshake)',
  },
  {
    flag: 'max-connects-per-ip-per-minute',
    env: 'CONCORD_MAX_CONNECTS_PER_IP_PER_MINUTE',
    key: 'maxConnectsPerIpPerMinute',
    kind: 'number',
    help: 'new connections per minute from one address (over it: HTTP 429)',
  },
  {
    flag: 'max-connections',
    env: 'CONCORD_MAX_CONNECTIONS',
    key: 'maxConnections',
    kind: 'number',
    help: 'concurrent connections in all (over it: HTTP 503)',
  },
  {
    flag: 'max-sessions-per-user',
    env: 'CONCORD_MAX_SESSIONS_PER_USER',
    key: 'maxSessionsPerUser',
    kind: 'number',
    help: 'sessions one user may hold, connected or waiting to resume (over it: 4019)',
  },
  {
    flag: 'max-frame-bytes',
    env: 'CONCORD_MAX_FRAME_BYTES',
    key: 'limits',
    field: 'maxFrameBytes',
    kind: 'number',
    help: 'largest frame the gateway sends (>= 65536: one batch plus one participant page)',
  },
  {
    flag: 'max-decompressed-bytes',
    env: 'CONCORD_MAX_DECOMPRESSED_BYTES',
    key: 'limits',
    field: 'maxDecompressedBytes',
    kind: 'number',
    help: 'largest decompressed payload of a frame the gateway sends',
  },
  {
    flag: 'max-client-frame-bytes',
    env: 'CONCORD_MAX_CLIENT_FRAME_BYTES',
    key: 'clientLimits',
    field: 'maxFrameBytes',
    kind: 'number',
    help: 'largest frame a client may send after READY (over it: 4010; far over it: 1009)',
  },
  {
    flag: 'pre-auth-max-frame-bytes',
    env: 'CONCORD_PRE_AUTH_MAX_FRAME_BYTES',
    key: 'preAuthMaxFrameBytes',
    kind: 'number',
    help: 'largest frame (IDENTIFY/RESUME) accepted before READY',
  },
  {
    flag: 'http-headers-timeout-ms',
    env: 'CONCORD_HTTP_HEADERS_TIMEOUT_MS',
    key: 'httpHeadersTimeoutMs',
    kind: 'number',
    help: 'time to receive request headers',
  },
  {
    flag: 'http-request-timeout-ms',
    env: 'CONCORD_HTTP_REQUEST_TIMEOUT_MS',
    key: 'httpRequestTimeoutMs',
    kind: 'number',
    help: 'time to receive a whole request',
  },
  {
    flag: 'http-keep-alive-timeout-ms',
    env: 'CONCORD_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    key: 'httpKeepAliveTimeoutMs',
    kind: 'number',
    help: 'idle keep-alive time between requests',
  },
  {
    flag: 'max-rooms-per-session',
    env: 'CONCORD_MAX_ROOMS_PER_SESSION',
    key: 'maxRoomsPerSession',
    kind: 'number',
    help: 'rooms one session may be in',
  },
  {
    flag: 'max-participants-per-room',
    env: 'CONCORD_MAX_PARTICIPANTS_PER_ROOM',
    key: 'maxParticipantsPerRoom',
    kind: 'number',
    help: 'participants one room may hold',
  },
  {
    flag: 'batch-window-ms',
    env: 'CONCORD_BATCH_WINDOW_MS',
    key: 'batchWindowMs',
    kind: 'number',
    help: 'micro-batching window (0 = off)',
  },
  {
    flag: 'compression-threshold-bytes',
    env: 'CONCORD_COMPRESSION_THRESHOLD_BYTES',
    key: 'compressionThresholdBytes',
    kind: 'number',
    help: 'LZ4-compress payloads from this size (0 = never)',
  },
  {
    flag: 'drain-timeout-ms',
    env: 'CONCORD_DRAIN_TIMEOUT_MS',
    key: 'drainTimeoutMs',
    kind: 'number',
    help: 'grace period on SIGTERM (the process exits at the latest 5 s after it)',
  },
  {
    flag: 'enable-test-impairment',
    env: 'CONCORD_ENABLE_TEST_IMPAIRMENT',
    key: 'enableTestImpairment',
    kind: 'boolean',
    help: 'serve PUT/DELETE /test/impairment?lossPct=&jitterMs=&delayMs=&seed= with header x-concord-test: 1 (seeded media loss, netem-style delay ± jitter; tests only)',
  },
  {
    flag: 'metrics-token',
    env: 'CONCORD_METRICS_TOKEN',
    key: 'metricsToken',
    kind: 'string',
    help: 'bearer token /metrics requires (unset: open to whoever reaches the port)',
  },
  {
    flag: 'redis',
    env: 'CONCORD_REDIS',
    key: 'redis',
    kind: 'string',
    help: 'join a cluster through Redis (redis://host:port): shared sessions, rooms, placement; unset: one process, in-memory',
  },
  {
    flag: 'node-id',
    env: 'CONCORD_NODE_ID',
    key: 'nodeId',
    kind: 'string',
    help: "this node's id in the cluster (default: random)",
  },
  {
    flag: 'advertise-host',
    env: 'CONCORD_ADVERTISE_HOST',
    key: 'advertiseHost',
    kind: 'string',
    help: 'host other cluster nodes reach this one at (default: --host)',
  },
  {
    flag: 'cluster-node-ttl-ms',
    env: 'CONCORD_CLUSTER_NODE_TTL_MS',
    key: 'clusterNodeTtlMs',
    kind: 'number',
    help: 'a cluster node without a heartbeat this long is dead (heartbeats every fifth)',
  },
  {
    flag: 'log-level',
    env: 'CONCORD_LOG_LEVEL',
    key: 'logLevel',
    kind: 'string',
    help: 'pino level: fatal, error, warn, info, debug, trace, silent',
  },
];

function usage(): string {
  const lines = [
    'Usage:',
    '  concord-gateway [serve] [options]     run the gateway (127.0.0.1:8080, in-memory state)',
    '  concord-gateway token --user ID [--name NAME] [--rooms a,b*] [--ttl SECONDS]',
    '                                        mint a token signed with --secret / CONCORD_SECRET',
    '',
    'Options (flag | environment variable | default):',
  ];
  for (const s of SETTINGS) {
    const top = DEFAULT_CONFIG[s.key];
    const def = s.field === undefined ? top : (top as unknown as Record<string, unknown>)[s.field];
    const shown =
      def === undefined || (Array.isArray(def) && def.length === 0) ? 'none' : String(def);
    lines.push(
      `  --${s.flag}${s.kind === 'boolean' ? '' : ' <v>'}`.padEnd(40) + `${s.env}  (${shown})`,
    );
    lines.push(`      ${s.help}`);
  }
  lines.push(
    `  --static <prefix>=<dir>`.padEnd(40) + 'CONCORD_STATIC (comma-separated)',
    '      serve a directory with COOP/COEP headers; repeatable',
    '  -h, --help                            show this help',
  );
  return lines.join('\n');
}

/** `from` names where a value came from in error messages: the flag or the env variable. */
function parseValue(s: Setting, raw: string | boolean, from: string): unknown {
  if (s.kind === 'boolean') return raw === true || raw === 'true' || raw === '1';
  if (s.kind === 'list')
    return String(raw)
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  if (s.kind === 'number') {
    const n = Number(raw);
    if (raw === '' || !Number.isFinite(n))
      throw GatewayError.config(`${from} must be a number, got "${String(raw)}"`);
    if (s.key === 'port' && (!Number.isInteger(n) || n < 0 || n > 65_535))
      throw GatewayError.config(
        `${from} must be a whole number from 0 to 65535 (0 = any free port), got "${String(raw)}"`,
      );
    return n;
  }
  return String(raw);
}

/** Flags of the `token` command only. */
const TOKEN_FLAGS = ['user', 'name', 'rooms', 'ttl'];

/** Every flag the CLI knows, without dashes. */
const KNOWN_FLAGS = ['help', 'static', ...TOKEN_FLAGS, ...SETTINGS.map((s) => s.flag)];

const COMMANDS = ['serve', 'token'];

const HELP_HINT = 'Run "concord-gateway --help" to see every option.';

/** Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/**
 * The known name nearest to `typed`, if it is near enough to be a typo (at most a third of
 * its letters wrong, at least 2 allowed) or the typed text is the start of exactly one name.
 */
function nearest(typed: string, known: readonly string[]): string | undefined {
  const t = typed.toLowerCase().replace(/_/g, '-');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const distance = editDistance(t, k);
    if (distance < bestDistance) [best, bestDistance] = [k, distance];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(t.length / 3))) return best;
  const prefixed = known.filter((k) => k.startsWith(t));
  return t.length >= 3 && prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Turns node:util parseArgs errors into messages that name the fix. */
function argumentError(err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-{1,2}[^' =]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
    const guess = nearest(option.replace(/^-+/, ''), KNOWN_FLAGS);
    return GatewayError.config(
      `unknown option ${option}.${guess === undefined ? '' : ` Did you mean --${guess}?`} ${HELP_HINT}`,
    );
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
    if (/argument missing/.test(message))
      return GatewayError.config(`${option} needs a value: ${option} <value>. ${HELP_HINT}`);
    if (/does not take an argument/.test(message))
      return GatewayError.config(
        `${option} is a switch and takes no value: write ${option} alone to turn it on. ${HELP_HINT}`,
      );
  }
  return GatewayError.config(`${message} ${HELP_HINT}`);
}

/** Checks that every static mount's folder exists, before anything listens. */
function checkMounts(mounts: readonly StaticMount[], specs: readonly string[]): void {
  mounts.forEach((mount, i) => {
    const where = resolve(mount.dir);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(where).isDirectory();
    } catch {
      throw GatewayError.config(
        `--static ${specs[i] ?? mount.dir}: the folder "${mount.dir}" does not exist (looked for ${where})`,
      );
    }
    if (!isDirectory)
      throw GatewayError.config(
        `--static ${specs[i] ?? mount.dir}: "${mount.dir}" is a file, not a folder (${where})`,
      );
  });
}

/** Says what to do when the socket cannot be bound (port taken, privileged, foreign address). */
function listenError(err: unknown, config: Partial<GatewayConfig>): unknown {
  const code = (err as { code?: unknown }).code;
  const host = config.host ?? DEFAULT_CONFIG.host;
  const port = config.port ?? DEFAULT_CONFIG.port;
  if (code === 'EADDRINUSE')
    return GatewayError.config(
      `port ${port} on ${host} is already in use (another gateway, or \`npm start\`, may be running). ` +
        `Stop that process or pick another port: --port ${port + 1} (or CONCORD_PORT=${port + 1}); --port 0 picks any free port.`,
    );
  if (code === 'EACCES')
    return GatewayError.config(
      `not allowed to listen on port ${port} (ports below 1024 need privileges): pick a port from 1024 up with --port, or 0 for any free port.`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return GatewayError.config(
      `cannot listen on --host ${host}: it is not an address of this machine (try 127.0.0.1, or 0.0.0.0 for every interface).`,
    );
  return err;
}

function parseMount(spec: string): StaticMount {
  const eq = spec.indexOf('=');
  if (eq < 0) return { prefix: '/', dir: spec };
  let prefix = spec.slice(0, eq);
  if (!prefix.startsWith('/')) prefix = `/${prefix}`;
  if (!prefix.endsWith('/')) prefix = `${prefix}/`;
  return { prefix, dir: spec.slice(eq + 1) };
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
  > = {
    help: { type: 'boolean', short: 'h' },
    static: { type: 'string', multiple: true },
    user: { type: 'string' },
    name: { type: 'string' },
    rooms: { type: 'string' },
    ttl: { type: 'string' },
  };
  for (const s of SETTINGS) options[s.flag] = { type: s.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw argumentError(err);
  }
  const { values, positionals } = parsed;
  if (values['help']) {
    console.log(usage());
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (!COMMANDS.includes(command)) {
    const guess = nearest(command, COMMANDS);
    throw GatewayError.config(
      `unknown command "${command}".${guess === undefined ? '' : ` Did you mean "${guess}"?`} ` +
        `Commands: serve (the default), token. ${HELP_HINT}`,
    );
  }
  if (positionals.length > 1)
    throw GatewayError.config(
      `unexpected argument "${positionals[1]}": options start with -- (for example --port 9000). ${HELP_HINT}`,
    );
  if (command === 'serve')
    for (const flag of TOKEN_FLAGS)
      if (values[flag] !== undefined)
        throw GatewayError.config(
          `--${flag} belongs to the token command: concord-gateway token --user ID [--name NAME] [--rooms a,b*] [--ttl SECONDS]`,
        );
  const config: Partial<GatewayConfig> = {};
  const target = config as Record<string, unknown>;
  for (const s of SETTINGS) {
    const fromFlag = values[s.flag] !== undefined;
    const raw = values[s.flag] ?? env[s.env];
    if (raw === undefined) continue;
    const value = parseValue(s, raw as string | boolean, fromFlag ? `--${s.flag}` : s.env);
    if (s.field === undefined) target[s.key] = value;
    else target[s.key] = { ...(target[s.key] as object | undefined), [s.field]: value };
  }
  const statics = [
    ...((values['static'] as string[] | undefined) ?? []),
    ...(env['CONCORD_STATIC']?.split(',').filter(Boolean) ?? []),
  ];
  config.staticMounts = statics.map(parseMount);

  if (command === 'token') {
    const secret = config.secret;
    if (!secret) throw GatewayError.config('token needs --secret or CONCORD_SECRET');
    const user = values['user'];
    if (typeof user !== 'string') throw GatewayError.config('token needs --user');
    const rooms = typeof values['rooms'] === 'string' ? values['rooms'].split(',') : ['*'];
    const rawTtl = values['ttl'];
    const ttl = typeof rawTtl === 'string' ? Number(rawTtl) : 3600;
    if (!Number.isInteger(ttl) || ttl <= 0)
      throw GatewayError.config(
        `--ttl is the token's lifetime in whole seconds (for example --ttl 3600), got "${String(rawTtl)}"`,
      );
    const name = values['name'];
    console.log(
      await mintToken(secret, {
        userId: user,
        rooms,
        ttlSeconds: ttl,
        ...(typeof name === 'string' ? { name } : {}),
      }),
    );
    return 0;
  }
  checkMounts(config.staticMounts, statics);

  const gateway = new Gateway(config);
  // Nothing may end the process silently: a stray rejection is logged, the gateway keeps serving.
  process.on('unhandledRejection', (err) => gateway.logger.error({ err }, 'unhandled rejection'));
  let address: Awaited<ReturnType<Gateway['listen']>>;
  try {
    address = await gateway.listen();
  } catch (err) {
    throw listenError(err, config);
  }
  // One machine-readable line for scripts and test harnesses (port 0 picks a free port).
  console.log(JSON.stringify({ event: 'listening', host: address.address, port: address.port }));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'shutting down');
    // A drain that hangs (a store that never answers) must not keep the process alive.
    setTimeout(() => {
      gateway.logger.error('drain did not finish in time: exiting');
      process.exit(1);
    }, gateway.config.drainTimeoutMs + 5_000).unref();
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(err instanceof Error ? `concord-gateway: ${err.message}` : err);
    process.exit(2);
  },
);
