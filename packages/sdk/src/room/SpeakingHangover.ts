/**
 * Default speaking hangover, ms. Speech has short pauses inside a sentence (stops, breaths):
 * Concord's VAD dropped out for 17–228 ms inside single sentences (measured for issue 14); in
 * the voice-room e2e (a 450 ms breath mid-sentence, 10 ms capture frames) 400 ms still split a
 * sentence in 1 of 3 runs, 600 ms in none of 3. 600 ms keeps a sentence one speaking period
 * while a real pause still ends it within a second. The same idea as the hangover of ITU-T
 * G.729 Annex B's VAD and WebRTC's `vad/vad_core.c`.
 */
export const DEFAULT_SPEAKING_HANGOVER_MS = 600;

/** Longest hangover accepted, ms. */
export const MAX_SPEAKING_HANGOVER_MS = 5_000;

/** Timer functions (injectable for tests). */
export interface HangoverTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: HangoverTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Turns a voice activity decision that flickers into speaking periods: speech starts a period
 * at once; silence ends it only after `hangoverMs` without speech. `onChange` runs once per
 * period start and end. Used by `VoiceClient` for the microphone's VAD; bots feed it their own
 * voice activity and call `room.setSpeaking` from `onChange`. Main thread (browser or Node).
 *
 * ```ts
 * const hangover = new SpeakingHangover((speaking) => room.setSpeaking(speaking));
 * source.on('voiceActivity', (active) => hangover.update(active));
 * ```
 */
export class SpeakingHangover {
  private _speaking = false;
  private timer: unknown;
  private pending = false;

  /**
   * @param onChange Called with `true` when a speaking period starts, `false` when it ends.
   * @param hangoverMs Silence that ends a period, ms (default 600; 0 ends it at once).
   * @throws {RangeError} for a hangover outside [0, 5000] ms.
   */
  constructor(
    private readonly onChange: (speaking: boolean) => void,
    readonly hangoverMs: number = DEFAULT_SPEAKING_HANGOVER_MS,
    private readonly timers: HangoverTimers = realTimers,
  ) {
    if (!(hangoverMs >= 0 && hangoverMs <= MAX_SPEAKING_HANGOVER_MS))
      throw new RangeError(
        `hangoverMs must be in [0, ${MAX_SPEAKING_HANGOVER_MS}] ms, got ${String(hangoverMs)}`,
      );
  }

  /** Whether a speaking period is open (speech, or silence shorter than the hangover). */
  get speaking(): boolean {
    return this._speaking;
  }

  /** Feeds the latest voice activity decision (call on every change, or every frame). */
  update(active: boolean): void {
    if (active) {
      this.cancel();
      if (!this._speaking) {
        this._speaking = true;
        this.onChange(true);
      }
      return;
    }
    if (!this._speaking || this.pending) return;
    if (this.hangoverMs === 0) {
      this.end();
      return;
    }
    this.pending = true;
    this.timer = this.timers.setTimeout(() => {
      this.pending = false;
      this.end();
    }, this.hangoverMs);
  }

  /** Ends an open period at once (e.g. on mute or when capture stops); idempotent. */
  reset(): void {
    this.cancel();
    if (this._speaking) this.end();
  }

  private end(): void {
    this._speaking = false;
    this.onChange(false);
  }

  private cancel(): void {
    if (!this.pending) return;
    this.pending = false;
    this.timers.clearTimeout(this.timer);
  }
}
