/**
 * The part of the WebSocket API Concord uses. The browser's `WebSocket` and the `ws` package's
 * `WebSocket` both satisfy it, so the same SDK code runs in browsers and Node: browsers use
 * the global, Node apps inject `ws` (never bundled into the browser build).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  /** Bytes queued but not yet sent (both implementations have it; fakes may omit it). */
  readonly bufferedAmount?: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (the global `WebSocket`, or `ws`'s default export). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (same value in every implementation). */
export const WS_OPEN = 1;

/** The global WebSocket when there is one (browsers, Node ≥ 22). */
export function defaultWebSocket(): WebSocketConstructor | undefined {
  const g = globalThis as { WebSocket?: WebSocketConstructor };
  return g.WebSocket;
}
