/** Log levels, most to least severe. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Receives every log record that passes the level. */
export type LogHandler = (
  level: LogLevel,
  name: string,
  message: string,
  context?: Record<string, unknown>,
) => void;

/** A named, leveled logger. */
export interface Logger {
  error(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
  debug(message: string, context?: Record<string, unknown>): void;
  trace(message: string, context?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel | 'silent', number> = {
  silent: -1,
  error: 0,
  warn: 1,
  info: 2,
  debug: 3,
  trace: 4,
};
let threshold: LogLevel | 'silent' = 'silent';
let handler: LogHandler = (level, name, message, context) => {
  const fn = level === 'error' ? console.error : level === 'warn' ? console.warn : console.log;
  if (context) fn(`[${name}] ${message}`, context);
  else fn(`[${name}] ${message}`);
};

/**
 * Sets the SDK-wide log level. Silent by default: an embedded SDK should not write to the
 * console unless the app asks it to.
 */
export function setLogLevel(level: LogLevel | 'silent'): void {
  threshold = level;
}

/** Routes log records to `h` instead of the console (e.g. to an app's own logger). */
export function setLogHandler(h: LogHandler): void {
  handler = h;
}

/** A logger for one subsystem, e.g. `getLogger('concord:connection')`. */
export function getLogger(name: string): Logger {
  const at =
    (level: LogLevel) =>
    (message: string, context?: Record<string, unknown>): void => {
      if (ORDER[level] <= ORDER[threshold]) handler(level, name, message, context);
    };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  };
}
