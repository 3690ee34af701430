/** Stable error codes raised by the DSP core. */
export type DspErrorCode =
  | 'CONCORD_ERR_DSP_WASM_LOAD'
  | 'CONCORD_ERR_DSP_DESTROYED'
  | 'CONCORD_ERR_DSP_CODEC'
  | 'CONCORD_ERR_DSP_FORMAT';

/**
 * Error raised by the DSP core (any thread). Carries a stable `code`; `cause` holds the
 * underlying error when there is one. Bad arguments raise `TypeError`/`RangeError` instead.
 */
export class DspError extends Error {
  /** Stable machine-readable code. */
  readonly code: DspErrorCode;

  constructor(code: DspErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DspError';
    this.code = code;
  }

  /** The WASM module could not be compiled or instantiated. */
  static wasmLoad(kernel: string, cause: unknown): DspError {
    return new DspError('CONCORD_ERR_DSP_WASM_LOAD', `failed to load the ${kernel} WASM kernel`, {
      cause,
    });
  }

  /** A method was called after `destroy()`. */
  static destroyed(what: string): DspError {
    return new DspError('CONCORD_ERR_DSP_DESTROYED', `${what} was destroyed`);
  }

  /** The codec library reported an error. */
  static codec(message: string, cause?: unknown): DspError {
    return new DspError('CONCORD_ERR_DSP_CODEC', message, { cause });
  }

  /** An input file or buffer is not in a supported format. */
  static format(message: string): DspError {
    return new DspError('CONCORD_ERR_DSP_FORMAT', message);
  }
}
