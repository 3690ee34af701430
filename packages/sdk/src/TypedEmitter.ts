import { getLogger } from './logger.js';

/** An event map: event name → tuple of listener arguments. */
export type EventMap = { [event: string]: unknown[] };

type Listener<A extends unknown[]> = (...args: A) => void;
// Listeners of every event live in one map; each is only ever called with its own event's args.
type AnyListener = (...args: unknown[]) => void;

const log = getLogger('concord:events');

/**
 * A small typed event emitter for browsers and Node. Listener errors are caught and logged
 * (`safeEmit`), so one faulty listener never breaks the emitter's own state machine.
 */
export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<AnyListener>>();

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

  /** Removes every listener (of one event, or all). */
  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event`; errors thrown by listeners are logged, not rethrown. */
  protected safeEmit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (err) {
        log.error('listener threw', { event: String(event), err });
      }
    }
    return true;
  }
}
