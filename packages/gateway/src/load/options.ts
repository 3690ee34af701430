import { isIP } from 'node:net';

/** What the bots of `concord-load` do. */
export type BotMode = 'idle' | 'talking' | 'churning';

/** Settings of a `concord-load` run (validated by {@link parseLoadOptions}). */
export interface LoadOptions {
  /** Gateway WebSocket URLs; bots spread over them round-robin. */
  urls: string[];
  /** Bots in all. */
  bots: number;
  mode: BotMode;
  /** How long the run lasts once every bot started, s. */
  durationSec: number;
  /** Members per room (talking, churning). */
  roomSize: number;
  /** Worker processes the bots spread over (each holds at most {@link MAX_BOTS_PER_PROCESS}). */
  processes: number;
  /** Source addresses the sockets spread over (e.g. 127.0.0.2–127.0.0.9 on loopback). */
  addresses: string[];
  /** New connections per second, all processes together. */
  rampPerSec: number;
  /** HS256 token secret: signed tokens; unset: `dev:<user>` tokens (gateway in dev mode). */
  secret: string | undefined;
  /** User ids are `<prefix>-<n>`. */
  userPrefix: string;
}

/** Most bots one run may start (a bound, not a target: this machine holds ~100k sockets). */
export const MAX_BOTS = 100_000;
/** Most sockets one worker process holds (20,000 open files per process on the dev machines). */
export const MAX_BOTS_PER_PROCESS = 15_000;
/** Longest run, s. */
export const MAX_DURATION_SEC = 3_600;

/** `concord-load --help`. */
export const LOAD_USAGE = `Usage: concord-load --url ws://127.0.0.1:8080/gateway [options]

Starts Node bots that speak the Concord protocol to one or more gateways: identify, heartbeat
(round trips measured), join rooms, send 20 ms media frames, leave and come back. Bounded in
count (<= ${MAX_BOTS}) and time (<= ${MAX_DURATION_SEC} s); spreads over worker processes and
source addresses. Prints a progress line every 5 s and one JSON summary at the end.

Options:
  --url URL[,URL...]     gateway WebSocket URL(s); bots go round-robin over them (required)
  --bots N               bots in all (default 10, at most ${MAX_BOTS})
  --mode MODE            idle (identify + heartbeats), talking (+ a room and 50 frames/s),
                         churning (join, stay 2–10 s, leave, reconnect as a new session)
                         (default idle)
  --duration SECONDS     run time after the ramp (default 30, at most ${MAX_DURATION_SEC})
  --room-size N          members per room for talking/churning (default 10)
  --processes N          worker processes (default: enough for ${MAX_BOTS_PER_PROCESS} bots each)
  --addresses LIST       source addresses, comma-separated or a range 127.0.0.2-127.0.0.9
                         (default 127.0.0.1)
  --ramp N               new connections per second, all processes (default 500)
  --user-prefix P        user ids are P-<n> (default bot)
  -h, --help             this text

Tokens: with CONCORD_SECRET (or --secret) set, bots present HS256 tokens signed with it;
otherwise dev tokens (dev:<user>), which only a gateway run with --insecure-dev-auth accepts.`;

/** An invalid command line; the message says what to change. */
export class LoadOptionsError extends Error {
  override name = 'LoadOptionsError';
}

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number) {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new LoadOptionsError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return v;
}

/** Expands `a,b,c` or `127.0.0.2-127.0.0.9` (last octet range) into addresses. */
export function parseAddresses(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',').filter(Boolean)) {
    const range = /^(\d+\.\d+\.\d+\.)(\d+)-(?:\d+\.\d+\.\d+\.)?(\d+)$/.exec(part);
    if (range) {
      const [, prefix, from, to] = range as unknown as [string, string, string, string];
      const a = Number(from);
      const b = Number(to);
      if (a > b || b > 255) throw new LoadOptionsError(`--addresses range "${part}" is invalid`);
      for (let i = a; i <= b; i++) out.push(`${prefix}${i}`);
    } else if (isIP(part) !== 0) out.push(part);
    else throw new LoadOptionsError(`--addresses: "${part}" is not an IP address or range`);
  }
  if (out.length === 0) throw new LoadOptionsError('--addresses is empty');
  return out;
}

/**
 * Validates `concord-load` options (flag name → raw value).
 * @throws {LoadOptionsError} naming the flag and its allowed range.
 */
export function parseLoadOptions(
  values: Record<string, string | undefined>,
  env: Record<string, string | undefined> = {},
): LoadOptions {
  const rawUrls = values['url'];
  if (rawUrls === undefined) throw new LoadOptionsError('--url is required (see --help)');
  const urls = rawUrls.split(',').filter(Boolean);
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new LoadOptionsError(`--url "${u}" is not a URL`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
      throw new LoadOptionsError(`--url must be ws:// or wss://, got "${u}"`);
  }
  const mode = (values['mode'] ?? 'idle') as BotMode;
  if (!['idle', 'talking', 'churning'].includes(mode))
    throw new LoadOptionsError(`--mode must be idle, talking or churning, got "${mode}"`);
  const bots = int('bots', values['bots'], 10, 1, MAX_BOTS);
  const minProcesses = Math.ceil(bots / MAX_BOTS_PER_PROCESS);
  const processes = int('processes', values['processes'], minProcesses, 1, 64);
  if (processes < minProcesses)
    throw new LoadOptionsError(
      `--processes ${processes} is too few for ${bots} bots: at most ${MAX_BOTS_PER_PROCESS} per process, so at least ${minProcesses}`,
    );
  return {
    urls,
    bots,
    mode,
    durationSec: int('duration', values['duration'], 30, 1, MAX_DURATION_SEC),
    roomSize: int('room-size', values['room-size'], 10, 1, 500),
    processes: Math.min(processes, bots),
    addresses: parseAddresses(values['addresses'] ?? '127.0.0.1'),
    rampPerSec: int('ramp', values['ramp'], 500, 1, 100_000),
    secret: values['secret'] ?? env['CONCORD_SECRET'],
    userPrefix: values['user-prefix'] ?? 'bot',
  };
}
