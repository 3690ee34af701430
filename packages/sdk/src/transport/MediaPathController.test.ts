import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RequestError } from '../errors.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { MediaPathController, type MediaPathPolicy } from './MediaPathController.js';
import type { WebRtcLinkState, WebRtcTransport, WebRtcTransportEvents } from './WebRtcTransport.js';

/** Plays the WebRTC transport: records opens and closes, the test drives its link events. */
class FakeWebRtc extends TypedEmitter<WebRtcTransportEvents> {
  readonly opened: string[] = [];
  readonly closed: Array<[string, boolean]> = [];
  readonly states = new Map<string, WebRtcLinkState>();
  failNext: Error | undefined;
  hasMedia = true;
  async open(room: string): Promise<void> {
    this.opened.push(room);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    this.states.set(room, 'connecting');
  }
  async closeLink(room: string, tell = true): Promise<void> {
    this.closed.push([room, tell]);
    this.states.delete(room);
  }
  expectsConnection(): boolean {
    return this.hasMedia;
  }
  get rooms(): ReadonlyMap<string, WebRtcLinkState> {
    return this.states;
  }
  /** Emits `event` as the real transport would. */
  fire<K extends keyof WebRtcTransportEvents>(event: K, ...args: WebRtcTransportEvents[K]): void {
    this.safeEmit(event, ...args);
  }
  link(room: string, state: WebRtcLinkState): void {
    this.states.set(room, state);
    this.safeEmit('linkState', room, state);
  }
}

function setup(policy: MediaPathPolicy = 'auto') {
  const webrtc = new FakeWebRtc();
  const paths = new MediaPathController(webrtc as unknown as WebRtcTransport, {
    policy,
    connectTimeoutMs: 3_000,
    retryMs: 30_000,
    interruptedGraceMs: 1_000,
  });
  const changes: string[] = [];
  paths.on('transportChanged', (room, path, reason) => changes.push(`${room}:${path}:${reason}`));
  return { webrtc, paths, changes };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('MediaPathController', () => {
  it('auto: opens WebRTC on join and moves the room there once ICE connects', async () => {
    const { webrtc, paths, changes } = setup();
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    expect(webrtc.opened).toEqual(['r']);
    // While it is being set up, the WebSocket sender leaves the room alone.
    expect(paths.offWebSocket('r')).toBe(true);
    expect(paths.isWebRtc('r')).toBe(false);
    webrtc.link('r', 'connected');
    expect(paths.isWebRtc('r')).toBe(true);
    expect(changes).toEqual(['r:webrtc:ice-connected']);
    // No deadline fires later.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(changes).toHaveLength(1);
  });

  it('auto: falls back to the WebSocket in place when ICE has not connected 3 s after it started, then retries', async () => {
    const { webrtc, paths, changes } = setup();
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(2_999);
    expect(changes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes).toEqual(['r:websocket:ice-timeout']);
    expect(webrtc.closed).toEqual([['r', true]]);
    expect(paths.offWebSocket('r')).toBe(false);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(webrtc.opened).toEqual(['r', 'r']);
  });

  it('auto: no deadline while nothing has to connect (no microphone, nobody else producing)', async () => {
    const { webrtc, paths, changes } = setup();
    webrtc.hasMedia = false;
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(changes).toEqual([]);
    // A consumer arrives: ICE starts checking, the deadline runs from there.
    webrtc.fire('iceStarted', 'r');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(changes).toEqual(['r:websocket:ice-timeout']);
  });

  it('auto: a gateway without WebRTC leaves the room on the WebSocket quietly and asks again later', async () => {
    const { webrtc, paths, changes } = setup();
    webrtc.failNext = new RequestError('WEBRTC_UNAVAILABLE', 'no sfu');
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    expect(changes).toEqual([]);
    expect(paths.offWebSocket('r')).toBe(false);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(webrtc.opened).toEqual(['r', 'r']);
  });

  it('auto: a connected link that loses connectivity for 1 s falls back; one back within 1 s stays', async () => {
    const { webrtc, paths, changes } = setup();
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    webrtc.link('r', 'connected');
    webrtc.states.set('r', 'connecting');
    webrtc.fire('linkInterrupted', 'r');
    await vi.advanceTimersByTimeAsync(500);
    webrtc.link('r', 'connected');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(paths.isWebRtc('r')).toBe(true);
    webrtc.states.set('r', 'connecting');
    webrtc.fire('linkInterrupted', 'r');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(changes).toEqual(['r:webrtc:ice-connected', 'r:websocket:ice-disconnected']);
    expect(paths.isWebRtc('r')).toBe(false);
  });

  it('a silent link (nothing from the SFU while sending) falls back at once, no grace', async () => {
    const { webrtc, paths, changes } = setup();
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    webrtc.link('r', 'connected');
    webrtc.fire('linkSilent', 'r', 2_100);
    expect(changes).toEqual(['r:webrtc:ice-connected', 'r:websocket:media-timeout']);
    expect(paths.isWebRtc('r')).toBe(false);
    expect(webrtc.closed).toEqual([['r', true]]);
  });

  it('sets WebRTC up again at once after a gateway reset (media server restart)', async () => {
    const { webrtc, paths } = setup();
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    webrtc.link('r', 'connected');
    webrtc.fire('reset', 'r');
    await vi.advanceTimersByTimeAsync(0);
    expect(webrtc.opened).toEqual(['r', 'r']);
  });

  it('webrtc: never falls back to the WebSocket; it retries WebRTC instead', async () => {
    const { webrtc, paths, changes } = setup('webrtc');
    paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(changes).toEqual([]);
    expect(webrtc.closed).toEqual([['r', true]]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(webrtc.opened).toEqual(['r', 'r']);
  });

  it('websocket: never opens WebRTC; leaving a room closes its link without telling the gateway', async () => {
    const ws = setup('websocket');
    ws.paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ws.webrtc.opened).toEqual([]);
    const auto = setup();
    auto.paths.roomJoined('r');
    await vi.advanceTimersByTimeAsync(0);
    auto.paths.roomLeft('r');
    expect(auto.webrtc.closed).toEqual([['r', false]]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(auto.webrtc.opened).toEqual(['r']);
  });
});
