import { LoggedEmitter, type EmitterLogger, type EventMap } from '../LoggedEmitter.js';

/** An event map: event name → tuple of listener arguments. */
export type ClusterEventMap = EventMap;

/** The logger every cluster class takes: pino's `Logger` fits (structured context first). */
export type ClusterLogger = EmitterLogger;

/** A logger that drops everything (the default when none is given). */
export const SILENT_LOGGER: ClusterLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * The cluster classes' typed event emitter ({@link LoggedEmitter}; events are emitted from
 * Redis reply handlers). Main thread.
 */
export class ClusterEmitter<E extends ClusterEventMap> extends LoggedEmitter<E> {
  constructor(logger: ClusterLogger) {
    super(logger, 'cluster');
  }
}
