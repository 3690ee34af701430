import { LoggedEmitter, type EmitterLogger, type EventMap } from '../LoggedEmitter.js';

export type { EventMap } from '../LoggedEmitter.js';

/** The logger every SFU class takes: pino's `Logger` fits (structured context first). */
export type SfuLogger = EmitterLogger;

/** The SFU module's typed event emitter ({@link LoggedEmitter}). Main thread. */
export class SfuEmitter<E extends EventMap> extends LoggedEmitter<E> {
  constructor(logger: SfuLogger) {
    super(logger, 'SFU');
  }
}
