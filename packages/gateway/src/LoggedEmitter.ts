/** An event map: event name → tuple of listener arguments. */
export type EventMap = { [event: string]: unknown[] };

type Listener<A extends unknown[]> = (...args: A) => void;
// Listeners of every event live in one map; each is only ever called with its own event's args.
type AnyListener = (...args: unknown[]) => void;

/** The logger the SFU and cluster classes take: pino's `Logger` fits (structured context first). */
export interface EmitterLogger {
  debug(context: object, message: string): void;
  info(context: object, message: string): void;
  warn(context: object, message: string): void;
  error(context: object, message: string): void;
}

/**
 * A small typed event emitter for the gateway's SFU and cluster modules. A listener that throws
 * is logged (as `<source> event listener threw`) and never breaks the emitter's own bookkeeping
 * (they emit from inside state changes and Redis reply handlers). Main thread.
 */
export class LoggedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<AnyListener>>();

  /** @param source names the module in the log line of a listener that threw. */
  constructor(
    protected readonly logger: EmitterLogger,
    private readonly source: string,
  ) {}

  /** Adds a listener. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
    return this;
  }

  /** Adds a listener removed after its first call. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper = ((...args: E[K]) => {
      this.off(event, wrapper);
      listener(...args);
    }) as Listener<E[K]>;
    return this.on(event, wrapper);
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
    return this;
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event`; a listener's exception is logged, not rethrown. */
  protected safeEmit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of set) {
      try {
        l(...args);
      } catch (err) {
        this.logger.error({ event: String(event), err }, `${this.source} event listener threw`);
      }
    }
  }
}
