/** An event map: event name → tuple of listener arguments. */
export type ClusterEventMap = { [event: string]: unknown[] };

type Listener<A extends unknown[]> = (...args: A) => void;
// Listeners of every event live in one map; each is only ever called with its own event's args.
type AnyListener = (...args: unknown[]) => void;

/** The logger every cluster class takes: pino's `Logger` fits (structured context first). */
export interface ClusterLogger {
  debug(context: object, message: string): void;
  info(context: object, message: string): void;
  warn(context: object, message: string): void;
  error(context: object, message: string): void;
}

/** A logger that drops everything (the default when none is given). */
export const SILENT_LOGGER: ClusterLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * A small typed event emitter for the cluster classes. A listener that throws is logged and
 * never breaks the emitter's own bookkeeping (events are emitted from Redis reply handlers).
 * Main thread.
 */
export class ClusterEmitter<E extends ClusterEventMap> {
  private readonly listeners = new Map<keyof E, Set<AnyListener>>();

  constructor(protected readonly logger: ClusterLogger) {}

  /** Adds a listener. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
    return this;
  }

  /** Calls every listener of `event`; a listener's exception is logged, not rethrown. */
  protected safeEmit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of set) {
      try {
        l(...args);
      } catch (err) {
        this.logger.error({ event: String(event), err }, 'cluster event listener threw');
      }
    }
  }
}
