/**
 * Base of every error Concord raises on purpose. `code` is stable and machine-readable
 * (`CONCORD_ERR_*`); `name` is the subclass name; `cause` carries the underlying error.
 */
export class ConcordError extends Error {
  /** Stable machine-readable code, e.g. `CONCORD_ERR_GATEWAY_TIMEOUT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
