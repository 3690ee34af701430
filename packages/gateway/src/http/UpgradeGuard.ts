import type { GatewayConfig } from '../config.js';
import type { GatewayMetrics } from '../metrics.js';
import { TokenBucket } from '../TokenBucket.js';

/** Why an upgrade was refused (`ok`: admitted). */
export type UpgradeVerdict = 'ok' | 'global' | 'per-ip' | 'connect-rate';

const MINUTE_MS = 60_000;

/**
 * Admission of new WebSocket connections, decided before the handshake: a global cap, a cap
 * per client address and a connect rate per address (token bucket). Idle rate buckets are
 * dropped by {@link sweep}, so the map holds only addresses that connected within a minute or
 * hold connections. Main thread.
 */
export class UpgradeGuard {
  private readonly perIp = new Map<string, number>();
  private readonly rates = new Map<string, TokenBucket>();

  constructor(
    private readonly config: Pick<
      GatewayConfig,
      'maxConnections' | 'maxConnectionsPerIp' | 'maxConnectsPerIpPerMinute'
    >,
    private readonly metrics: GatewayMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admits (and counts) a connection from `ip` when `open` connections are open, or refuses it. */
  admit(ip: string, open: number): UpgradeVerdict {
    const verdict = this.check(ip, open);
    if (verdict === 'ok') this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    else this.metrics.upgradesRefused.inc({ reason: verdict });
    return verdict;
  }

  /** A connection from `ip` has closed. */
  release(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  /** Connections counted for `ip`. */
  countOf(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  /** Forgets rate buckets that have refilled (called about once a second). */
  sweep(): void {
    for (const [ip, bucket] of this.rates) if (bucket.full()) this.rates.delete(ip);
  }

  private check(ip: string, open: number): UpgradeVerdict {
    if (open >= this.config.maxConnections) return 'global';
    if ((this.perIp.get(ip) ?? 0) >= this.config.maxConnectionsPerIp) return 'per-ip';
    let bucket = this.rates.get(ip);
    if (!bucket) {
      bucket = new TokenBucket(this.config.maxConnectsPerIpPerMinute, MINUTE_MS, this.now);
      this.rates.set(ip, bucket);
    }
    return bucket.take() ? 'ok' : 'connect-rate';
  }
}
