import { Redis, type RedisOptions } from 'ioredis';
import { SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';

/**
 * Opens an ioredis connection with the settings the cluster classes expect:
 * - commands wait in the offline queue while Redis is away (`maxRetriesPerRequest: null`)
 *   rather than failing after 20 retries, so a Redis restart loses no write of a live node;
 * - reconnection every 50 ms × attempt, at most every 1 s (a restarted Redis is found quickly);
 * - auto-pipelining: commands issued in one turn of the event loop go out in one write;
 * - connection errors are logged once per outage (not once per reconnection attempt), and
 *   the reconnection with the number of failed attempts.
 * `name` shows in `CLIENT LIST`. Main thread.
 */
export function createRedis(
  url: string,
  name: string,
  extra: RedisOptions & { logger?: ClusterLogger } = {},
): Redis {
  const { logger = SILENT_LOGGER, ...options } = extra;
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    ...options,
  });
  logConnection(redis, name, logger);
  return redis;
}

/**
 * Logs a connection's errors once per outage and its return (an `error` listener also keeps
 * ioredis from printing every failed reconnection attempt). Main thread.
 */
export function logConnection(redis: Redis, name: string, logger: ClusterLogger): void {
  let failures = 0;
  redis.on('error', (err: Error) => {
    if (failures++ === 0) logger.warn({ err, connection: name }, 'Redis connection lost');
  });
  redis.on('ready', () => {
    if (failures > 0) logger.info({ connection: name, failures }, 'Redis connection back');
    failures = 0;
  });
}
