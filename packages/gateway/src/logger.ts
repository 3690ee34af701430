import { pino, type Logger } from 'pino';

/**
 * The gateway's structured logger (pino, JSON lines on stdout). Token fields are redacted
 * wherever they appear, so a token is never logged.
 */
export function createLogger(level: string): Logger {
  return pino({
    name: 'concord-gateway',
    level,
    redact: {
      paths: ['token', '*.token', '*.*.token', 'secret', '*.secret'],
      censor: '[redacted]',
    },
  });
}

export type { Logger } from 'pino';
