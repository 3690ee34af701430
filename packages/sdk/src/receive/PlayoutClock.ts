import type { AudioClock } from '@concord/audio-worklet';

/**
 * What wakes the {@link VoiceReceiver} to feed playback. `start` begins calling `tick(nowMs)`
 * (monotonic ms) until `stop`. Main thread.
 */
export interface PlayoutClock {
  /** Human-readable kind for stats and logs: 'timer' or 'audio'. */
  readonly kind: 'timer' | 'audio';
  /** Starts ticking; a second start without stop restarts. */
  start(tick: (nowMs: number) => void): void;
  /** Stops ticking (idempotent). */
  stop(): void;
}

/**
 * A drift-free wall-clock timer (`next += period; setTimeout(…, max(1, next − now))`, as
 * discord.js voice's audio player): the receiver's clock when the sink cannot report its queue
 * (Node bots, tests, pages without shared memory). After a stall of more than 10 periods (a
 * throttled background tab) the schedule restarts instead of bursting.
 */
export class TimerPlayoutClock implements PlayoutClock {
  readonly kind = 'timer';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextMs = 0;

  /**
   * @param periodMs tick period, ms (default 20: one frame).
   * @param now monotonic clock, ms.
   */
  constructor(
    private readonly periodMs = 20,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(tick: (nowMs: number) => void): void {
    this.stop();
    this.nextMs = this.now() + this.periodMs;
    const run = (): void => {
      if (this.timer === undefined) return;
      const now = this.now();
      tick(now);
      if (this.timer === undefined) return; // stopped from inside tick
      this.nextMs += this.periodMs;
      if (now - this.nextMs > 10 * this.periodMs) this.nextMs = now + this.periodMs;
      this.timer = setTimeout(run, Math.max(1, this.nextMs - this.now()));
    };
    this.timer = setTimeout(run, this.periodMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Ticks on the audio clock: the playback processor advances an {@link AudioClock} every render
 * quantum and this wakes (`Atomics.waitAsync`) right after, so decoded voice is pulled as the
 * playback rings drain — no timer phase, no drift between a wall-clock pull and the sound card.
 * If the audio thread stops (suspended context) it still ticks every `idleTimeoutMs` so
 * reports and idle checks go on.
 */
export class AudioPlayoutClock implements PlayoutClock {
  readonly kind = 'audio';
  private running = 0; // generation: a restart ends the previous loop

  /**
   * @param clock the playback processor's quantum counter (shared memory).
   * @param now monotonic clock, ms.
   * @param idleTimeoutMs longest wait without a quantum, ms.
   */
  constructor(
    private readonly clock: AudioClock,
    private readonly now: () => number = () => performance.now(),
    private readonly idleTimeoutMs = 40,
  ) {}

  /** Whether this environment can wait on the clock (shared memory and `Atomics.waitAsync`). */
  static supported(clock: AudioClock): boolean {
    return clock.wait(clock.count, 0) !== undefined;
  }

  start(tick: (nowMs: number) => void): void {
    const generation = ++this.running;
    const loop = async (): Promise<void> => {
      while (this.running === generation) {
        const since = this.clock.count;
        await this.clock.wait(since, this.idleTimeoutMs);
        if (this.running !== generation) return;
        tick(this.now());
      }
    };
    void loop();
  }

  stop(): void {
    this.running++;
  }
}
