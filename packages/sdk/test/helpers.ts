// Helpers for SDK integration tests against a real gateway process (see
// packages/gateway/test/harness.ts): a `ws` WebSocket that records its instances so a test can
// cut one, and condition waits instead of fixed sleeps. Node only.
import WebSocket from 'ws';
import type { WebSocketConstructor } from '../src/index.js';

/** A `ws` WebSocket class that records every instance the SDK opens. */
export function recordingWebSocket(): {
  WebSocket: WebSocketConstructor;
  sockets: WebSocket[];
} {
  const sockets: WebSocket[] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket: RecordingWebSocket as unknown as WebSocketConstructor, sockets };
}

/** `ws` as the SDK's WebSocket implementation. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/**
 * Resolves once `cond()` holds, polling every few ms.
 * @throws {Error} naming `what` after `timeoutMs`.
 */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves after `ms` (only for proving that something does *not* happen). */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
