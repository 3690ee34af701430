import { EventEmitter } from 'node:events';
import {
  CloseCode,
  encodeMediaFrame,
  FrameCodec,
  FrameType,
  frameTypeOf,
  MediaFlags,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type DispatchMessage,
  type ServerMessage,
} from '@concord/protocol';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { GatewayConfig } from './config.js';
import { Connection } from './Connection.js';
import { Gateway } from './Gateway.js';
import { GatewayMetrics } from './metrics.js';

/** A `ws` stand-in: decodes control frames, keeps media frames as the very objects sent. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  /** What `ws` would report as queued but unsent; tests raise it to play a slow consumer. */
  bufferedAmount = 0;
  readonly codec = new FrameCodec();
  readonly received: ServerMessage[] = [];
  readonly media: Uint8Array[] = [];
  closeCode: number | undefined;

  send(frame: Uint8Array): void {
    if (frameTypeOf(frame) === FrameType.Media) this.media.push(frame);
    else this.received.push(...this.codec.decodeServerFrame(frame));
  }
  ping(): void {}
  close(code: number): void {
    this.end(code);
  }
  terminate(): void {
    this.end(1006);
  }
  deliver(messages: ClientMessage | ClientMessage[]): void {
    this.emit('message', Buffer.from(this.codec.encode(messages)), true);
  }
  deliverMedia(frame: Uint8Array): void {
    this.emit('message', frame, true);
  }
  dispatches(): DispatchMessage[] {
    return this.received.filter((m): m is DispatchMessage => m.op === Op.Dispatch);
  }
  private end(code: number): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.closeCode = code;
    this.emit('close', code);
  }
}

const identify = (user: string): ClientMessage => ({
  op: Op.Identify,
  d: {
    protocolVersion: PROTOCOL_VERSION,
    token: `dev:${user}`,
    capabilities: { transports: ['ws'], codecs: ['opus'], client: 'unit' },
  },
});

const ROOM = 'lobby';

describe('MediaRelay (through Connection)', () => {
  let gateway: Gateway;
  let metrics: GatewayMetrics;

  function makeGateway(overrides: Partial<GatewayConfig> = {}): Gateway {
    metrics = new GatewayMetrics({ processMetrics: false });
    return new Gateway(
      { port: 0, insecureDevAuth: true, batchWindowMs: 0, ...overrides },
      { logger: pino({ level: 'silent' }), metrics },
    );
  }

  /** An identified member of ROOM; returns its socket and its ssrc from ROOM_JOINED. */
  async function member(user: string): Promise<{ ws: FakeSocket; ssrc: number }> {
    const ws = new FakeSocket();
    new Connection(ws as unknown as WebSocket, '10.0.0.1', gateway);
    ws.deliver(identify(user));
    await vi.advanceTimersByTimeAsync(0);
    ws.deliver({ op: Op.JoinRoom, d: { req: 1, room: ROOM } });
    await vi.advanceTimersByTimeAsync(0);
    const joined = ws.dispatches().find((m) => m.t === 'ROOM_JOINED');
    if (joined?.t !== 'ROOM_JOINED') throw new Error('not joined');
    const self = joined.d.participants.find((p) => p.userId === user)!;
    return { ws, ssrc: self.ssrc };
  }

  let seq = 0;
  const frame = (ssrc: number, level = 30, flags: number = MediaFlags.Speech): Uint8Array =>
    Buffer.from(
      encodeMediaFrame(
        { ssrc, seq: seq++ & 0xffff, timestamp: (seq * 960) >>> 0, flags, level },
        new Uint8Array([0xfc, seq & 0xff, 0x01]),
      ),
    );

  async function dropped(reason: string): Promise<number> {
    const m = await metrics.mediaFramesDropped.get();
    return m.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
  }

  beforeEach(() => {
    vi.useFakeTimers();
    gateway = makeGateway();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('assigns every membership a distinct non-zero ssrc, visible to all in the participant list', async () => {
    const a = await member('a');
    const b = await member('b');
    expect(a.ssrc).toBeGreaterThan(0);
    expect(b.ssrc).toBeGreaterThan(0);
    expect(a.ssrc).not.toBe(b.ssrc);
    const joinedB = a.ws.dispatches().find((m) => m.t === 'PARTICIPANT_JOINED');
    expect(joinedB?.d).toMatchObject({ participant: { userId: 'b', ssrc: b.ssrc } });
  });

  it('forwards the very bytes received to every other member, and not back to the sender', async () => {
    const a = await member('a');
    const b = await member('b');
    const c = await member('c');
    const f = frame(a.ssrc);
    a.ws.deliverMedia(f);
    expect(b.ws.media).toHaveLength(1);
    expect(b.ws.media[0]).toBe(f); // same object: no copy, no re-encode
    expect(c.ws.media[0]).toBe(f);
    expect(a.ws.media).toHaveLength(0);
    expect((await metrics.mediaFramesForwarded.get()).values[0]?.value).toBe(2);
  });

  it('closes with SSRC_NOT_OWNED for another member’s ssrc and for one never assigned', async () => {
    const a = await member('a');
    const b = await member('b');
    b.ws.deliverMedia(frame(a.ssrc));
    expect(b.ws.closeCode).toBe(CloseCode.SSRC_NOT_OWNED);
    expect(a.ws.media).toHaveLength(0);
    const c = await member('c');
    c.ws.deliverMedia(frame((c.ssrc ^ 0x5555) >>> 0));
    expect(c.ws.closeCode).toBe(CloseCode.SSRC_NOT_OWNED);
  });

  it('drops frames still in flight after leaving, instead of closing', async () => {
    const a = await member('a');
    const b = await member('b');
    a.ws.deliver({ op: Op.LeaveRoom, d: { req: 2, room: ROOM } });
    await vi.advanceTimersByTimeAsync(0);
    a.ws.deliverMedia(frame(a.ssrc));
    expect(a.ws.closeCode).toBeUndefined();
    expect(b.ws.media).toHaveLength(0);
    expect(await dropped('stale_ssrc')).toBe(1);
  });

  it('closes with INVALID_FRAME for a malformed media frame, and 4003 before IDENTIFY', async () => {
    const a = await member('a');
    const bad = frame(a.ssrc);
    bad[11] = 0x80; // reserved flag bit
    a.ws.deliverMedia(bad);
    expect(a.ws.closeCode).toBe(CloseCode.INVALID_FRAME);
    const early = new FakeSocket();
    new Connection(early as unknown as WebSocket, '10.0.0.2', gateway);
    early.deliverMedia(frame(1));
    expect(early.closeCode).toBe(CloseCode.NOT_AUTHENTICATED);
  });

  it('drops media to a slow consumer while its socket buffer is over the limit, never control', async () => {
    const a = await member('a');
    const slow = await member('slow');
    const fast = await member('fast');
    slow.ws.bufferedAmount = 64 * 1024 + 1;
    for (let i = 0; i < 5; i++) {
      a.ws.deliverMedia(frame(a.ssrc));
      vi.advanceTimersByTime(20);
    }
    // Control still reaches the slow consumer.
    a.ws.deliver({
      op: Op.UpdateVoiceState,
      d: { req: 3, room: ROOM, muted: false, deafened: false },
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(slow.ws.media).toHaveLength(0);
    expect(fast.ws.media).toHaveLength(5);
    expect(slow.ws.dispatches().some((m) => m.t === 'VOICE_STATE_UPDATE')).toBe(true);
    expect(await dropped('slow_consumer')).toBe(5);
    // Once it drains, media flows again.
    slow.ws.bufferedAmount = 0;
    a.ws.deliverMedia(frame(a.ssrc));
    expect(slow.ws.media).toHaveLength(1);
  });

  it('drops frames over the stream’s rate and closes a sustained flood with RATE_LIMITED', async () => {
    const a = await member('a');
    const b = await member('b');
    // A burst of 40 (the default: 400 ms of 10 ms packets) passes at once; the next frames in
    // the same instant are dropped.
    for (let i = 0; i < 50; i++) a.ws.deliverMedia(frame(a.ssrc));
    expect(b.ws.media).toHaveLength(40);
    expect(await dropped('rate_limited')).toBe(10);
    expect(a.ws.closeCode).toBeUndefined();
    // Then a flood: 1000 frames/s, over 3 × 120/s: closed within a few seconds, having
    // forwarded no more than the rate allows.
    let ms = 0;
    for (; ms < 5_000 && a.ws.closeCode === undefined; ms++) {
      a.ws.deliverMedia(frame(a.ssrc));
      vi.advanceTimersByTime(1);
    }
    expect(a.ws.closeCode).toBe(CloseCode.RATE_LIMITED);
    expect(b.ws.media.length).toBeLessThanOrEqual(40 + 40 + (120 * ms) / 1000 + 1);
  });

  it('does not count media against the control rate limit', async () => {
    gateway = makeGateway({ rateLimitMessages: 5 });
    const a = await member('a');
    const b = await member('b');
    for (let i = 0; i < 200; i++) {
      a.ws.deliverMedia(frame(a.ssrc));
      vi.advanceTimersByTime(20);
    }
    expect(a.ws.closeCode).toBeUndefined();
    expect(b.ws.media).toHaveLength(200);
  });

  it('forwards only the loudest max-speakers streams', async () => {
    gateway = makeGateway({ maxSpeakers: 2 });
    const members = [
      await member('m0'),
      await member('m1'),
      await member('m2'),
      await member('m3'),
    ];
    const levels = [60, 10, 20, 30]; // m0 quietest
    for (let t = 0; t < 100; t++) {
      members.forEach((m, i) => m.ws.deliverMedia(frame(m.ssrc, levels[i])));
      vi.advanceTimersByTime(20);
    }
    const listener = members[0]!.ws;
    const tail = listener.media.slice(-40).map((f) => Buffer.from(f).readUInt32BE(1));
    expect(new Set(tail)).toEqual(new Set([members[1]!.ssrc, members[2]!.ssrc]));
    expect(await dropped('not_selected')).toBeGreaterThan(0);
  });

  it('marks the first frame forwarded after a pause Resumed, and clears a sender-set Resumed', async () => {
    gateway = makeGateway({ maxSpeakers: 1 });
    const a = await member('a');
    const b = await member('b');
    const c = await member('c');
    const flagsOf = (f: Uint8Array): number => f[11]!;
    const ssrcOf = (f: Uint8Array): number => Buffer.from(f).readUInt32BE(1);
    // a holds the only slot; b's frames are not forwarded. a even claims Resumed itself.
    for (let t = 0; t < 20; t++) {
      a.ws.deliverMedia(frame(a.ssrc, 10, MediaFlags.Speech | MediaFlags.Resumed));
      b.ws.deliverMedia(frame(b.ssrc, 40));
      vi.advanceTimersByTime(20);
    }
    const fromA = c.ws.media.filter((f) => ssrcOf(f) === a.ssrc);
    expect(fromA.length).toBeGreaterThan(0);
    expect(fromA.every((f) => (flagsOf(f) & MediaFlags.Resumed) === 0)).toBe(true);
    expect(c.ws.media.some((f) => ssrcOf(f) === b.ssrc)).toBe(false);
    // a falls silent for more than a second: b takes the slot, its first frame says Resumed.
    vi.advanceTimersByTime(1_200);
    for (let t = 0; t < 5; t++) {
      b.ws.deliverMedia(frame(b.ssrc, 40));
      vi.advanceTimersByTime(20);
    }
    const fromB = c.ws.media.filter((f) => ssrcOf(f) === b.ssrc);
    expect(fromB.length).toBeGreaterThan(1);
    expect(flagsOf(fromB[0]!) & MediaFlags.Resumed).toBe(MediaFlags.Resumed);
    expect(fromB.slice(1).every((f) => (flagsOf(f) & MediaFlags.Resumed) === 0)).toBe(true);
  });

  it('skips deafened listeners and muted senders', async () => {
    const a = await member('a');
    const b = await member('b');
    b.ws.deliver({
      op: Op.UpdateVoiceState,
      d: { req: 2, room: ROOM, muted: false, deafened: true },
    });
    await vi.advanceTimersByTimeAsync(0);
    a.ws.deliverMedia(frame(a.ssrc));
    expect(b.ws.media).toHaveLength(0);
    a.ws.deliver({
      op: Op.UpdateVoiceState,
      d: { req: 3, room: ROOM, muted: true, deafened: false },
    });
    b.ws.deliver({
      op: Op.UpdateVoiceState,
      d: { req: 4, room: ROOM, muted: false, deafened: false },
    });
    await vi.advanceTimersByTimeAsync(0);
    a.ws.deliverMedia(frame(a.ssrc));
    expect(b.ws.media).toHaveLength(0);
    expect(await dropped('sender_muted')).toBe(1);
  });

  it('relays a receiver report only to the sender of the reported stream', async () => {
    const a = await member('a');
    const b = await member('b');
    const c = await member('c');
    c.ws.deliver({
      op: Op.ReceiverReport,
      d: {
        room: ROOM,
        reports: [
          { ssrc: a.ssrc, fractionLost: 12, jitterMs: 7, lostTotal: 40 },
          { ssrc: 12345, fractionLost: 0, jitterMs: 0, lostTotal: 0 }, // unknown: ignored
          { ssrc: c.ssrc, fractionLost: 0, jitterMs: 0, lostTotal: 0 }, // own: ignored
        ],
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    const reports = (ws: FakeSocket) => ws.dispatches().filter((m) => m.t === 'RECEIVER_REPORT');
    expect(reports(a.ws).map((m) => m.d)).toEqual([
      { room: ROOM, fromUserId: 'c', ssrc: a.ssrc, fractionLost: 12, jitterMs: 7, lostTotal: 40 },
    ]);
    expect(reports(b.ws)).toHaveLength(0);
    expect(reports(c.ws)).toHaveLength(0);
  });

  it('limits receiver reports with their own bucket, not the control one', async () => {
    gateway = makeGateway({ reportRateLimitMessages: 3, rateLimitMessages: 100 });
    const a = await member('a');
    const report: ClientMessage = { op: Op.ReceiverReport, d: { room: ROOM, reports: [] } };
    for (let i = 0; i < 3; i++) a.ws.deliver(report);
    await vi.advanceTimersByTimeAsync(0);
    expect(a.ws.closeCode).toBeUndefined();
    a.ws.deliver(report);
    expect(a.ws.closeCode).toBe(CloseCode.RATE_LIMITED);
  });

  it('releases a stream when its member leaves, the room when the last one does', async () => {
    const a = await member('a');
    await member('b');
    expect(gateway.relay.streamCount).toBe(2);
    a.ws.close(1000);
    await vi.advanceTimersByTimeAsync(0);
    expect(gateway.relay.streamCount).toBe(1);
    expect(gateway.relay.ownerOf(a.ssrc)).toBeUndefined();
  });
});
