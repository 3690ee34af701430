/** Reconnect backoff settings, in ms. */
export interface BackoffOptions {
  /** First delay cap (default 500). */
  baseDelayMs?: number;
  /** Largest delay cap (default 30,000). */
  maxDelayMs?: number;
}

/**
 * Capped exponential backoff with full jitter ("Exponential Backoff and Jitter", AWS
 * Architecture Blog, 2015): a uniformly random delay in [0, min(max, base × 2^attempt)].
 * `attempt` counts from 0. `random` is injectable for tests.
 */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
