import type { FrameCodec } from './codec.js';
import { ProtocolError } from './ProtocolError.js';

/** Options of a {@link FrameBatcher}. */
export interface FrameBatcherOptions {
  /** Coalescing window in ms (default 5; 0 = every message is sent at once in its own frame). */
  windowMs?: number;
  /** Flush early once this many uncompressed payload bytes are pending (default: 1/2 of the frame limit). */
  maxPendingBytes?: number;
  /**
   * Receives a message that cannot be framed even alone (it breaks the codec's limits): it is
   * dropped and the rest is sent. Without it such an error is thrown from `push()`/`flush()`;
   * from the batch timer it would end the process, so long-lived senders should set this.
   */
  onError?: (error: ProtocolError, message: Uint8Array) => void;
}

/** Default micro-batching window in ms. */
export const DEFAULT_BATCH_WINDOW_MS = 5;

/**
 * Micro-batching sender: coalesces the messages queued within `windowMs` into one frame
 * (one WebSocket send), flushing early when the batch reaches the codec's message or byte
 * limit. Runs on the thread that owns the socket; timers only, no I/O of its own.
 */
export class FrameBatcher {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly windowMs: number;
  private readonly maxPendingBytes: number;
  private readonly onError: ((error: ProtocolError, message: Uint8Array) => void) | undefined;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
  };

  /**
   * @param send receives each finished frame.
   * @throws {RangeError} when `windowMs` is negative or not finite.
   */
  constructor(
    private readonly codec: FrameCodec,
    private readonly send: (frame: Uint8Array) => void,
    options: FrameBatcherOptions = {},
  ) {
    const windowMs = options.windowMs ?? DEFAULT_BATCH_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs < 0) {
      throw new RangeError(`windowMs must be a finite number >= 0, got ${windowMs}`);
    }
    this.windowMs = windowMs;
    this.onError = options.onError;
    this.maxPendingBytes =
      options.maxPendingBytes ??
      Math.floor(Math.min(codec.limits.maxFrameBytes, codec.limits.maxDecompressedBytes) / 2);
  }

  /** Number of messages waiting for the next flush. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Queues one encoded message (see `FrameCodec.encodeMessage`). */
  push(message: Uint8Array): void {
    if (this.windowMs === 0) {
      this.sendBatch([message]);
      return;
    }
    if (this.pendingBytes + message.length > this.maxPendingBytes) this.flush();
    this.pending.push(message);
    this.pendingBytes += message.length;
    if (this.pending.length >= this.codec.limits.maxMessagesPerBatch) this.flush();
    else this.timer ??= setTimeout(this.onTimer, this.windowMs);
  }

  /** Sends everything pending now as one frame. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.sendBatch(batch);
  }

  // A batch the codec refuses is split until the offending message stands alone; that one goes
  // to `onError` and the others are sent in order.
  private sendBatch(batch: Uint8Array[]): void {
    let frame: Uint8Array;
    try {
      frame = this.codec.frame(batch);
    } catch (err) {
      if (!(err instanceof ProtocolError) || this.onError === undefined) throw err;
      if (batch.length === 1) {
        this.onError(err, batch[0]!);
        return;
      }
      const half = batch.length >> 1;
      this.sendBatch(batch.slice(0, half));
      this.sendBatch(batch.slice(half));
      return;
    }
    this.send(frame);
  }

  /** Drops anything pending and stops the timer (idempotent). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
