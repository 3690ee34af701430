/** Settings of the test-only network impairment on the media relay. */
export interface ImpairmentSettings {
  /** Share of forwarded frames dropped, in % (0–100). */
  lossPct: number;
  /**
   * Delay variation, ms, as netem's `delay <delayMs> <jitterMs>`: each forwarded frame is
   * delayed by `delayMs` ± a uniform random `jitterMs` (frames may reorder). With the default
   * `delayMs` (= `jitterMs`) delays spread uniformly over 0–2·`jitterMs`.
   */
  jitterMs: number;
  /** Mean added delay, ms (netem's `delay`); default `jitterMs`. Delays never go below 0. */
  delayMs?: number;
  /** PRNG seed: the same seed drops and delays the same frames. */
  seed: number;
}

/**
 * A seeded, test-only impairment of forwarded media: random loss and jitter, so e2e tests and
 * benchmarks can show concealment, FEC and the bitrate controller at work on loopback. Enabled
 * only by `--enable-test-impairment`; never part of a production path. Main thread.
 */
export class MediaImpairment {
  private state: number;

  /** @throws {RangeError} for settings out of range. */
  constructor(readonly settings: ImpairmentSettings) {
    if (!(settings.lossPct >= 0 && settings.lossPct <= 100)) {
      throw new RangeError(`lossPct must be in [0, 100], got ${settings.lossPct}`);
    }
    if (!(settings.jitterMs >= 0 && settings.jitterMs <= 2_000)) {
      throw new RangeError(`jitterMs must be in [0, 2000], got ${settings.jitterMs}`);
    }
    if (settings.delayMs !== undefined && !(settings.delayMs >= 0 && settings.delayMs <= 2_000)) {
      throw new RangeError(`delayMs must be in [0, 2000], got ${settings.delayMs}`);
    }
    if (!Number.isInteger(settings.seed))
      throw new RangeError(`seed must be an integer, got ${settings.seed}`);
    this.state = settings.seed >>> 0;
  }

  /** Calls `send` now, later (jitter), or never (loss). Returns false when the frame was dropped. */
  forward(send: () => void): boolean {
    if (this.next() * 100 < this.settings.lossPct) return false;
    const { jitterMs, delayMs = jitterMs } = this.settings;
    const delay = Math.max(0, delayMs + (jitterMs > 0 ? (2 * this.next() - 1) * jitterMs : 0));
    if (delay < 1) send();
    else setTimeout(send, delay);
    return true;
  }

  // mulberry32: small, fast, and the same sequence on every machine.
  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
