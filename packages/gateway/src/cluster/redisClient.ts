import { Redis, type RedisOptions } from 'ioredis';

/**
 * Opens an ioredis connection with the settings the cluster classes expect:
 * - commands wait in the offline queue while Redis is away (`maxRetriesPerRequest: null`)
 *   rather than failing after 20 retries, so a Redis restart loses no write of a live node;
 * - reconnection every 50 ms × attempt, at most every 1 s (a restarted Redis is found quickly);
 * - auto-pipelining: commands issued in one turn of the event loop go out in one write.
 * `name` shows in `CLIENT LIST`. Main thread.
 */
export function createRedis(url: string, name: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    ...extra,
  });
}
