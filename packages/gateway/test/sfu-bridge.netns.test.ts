// Mixed rooms: members on the WebSocket media path (Concord media frames) and WebRTC members
// hear each other through the SFU's bridge, same Opus payloads. Loopback-only namespace
// (vitest.netns.config.ts).
import { MediaFlags, decodeMediaFrame, encodeMediaFrame, type MediaFrame } from '@concord/protocol';
import { WasmOpusDecoder, WasmOpusEncoder } from '@concord/wasm-dsp';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sfu, SfuProducerEvent } from '../src/sfu/Sfu.js';
import { SAMPLE_RATE_HZ, TestPeer, startSfu, tonePower, waitFor } from './sfuHarness.js';

const FRAME_SAMPLES = 960;

let sfu: Sfu | undefined;
const peers: TestPeer[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(() => {
  for (const t of timers.splice(0)) clearTimeout(t);
  for (const p of peers.splice(0)) p.close();
  sfu?.close();
  sfu = undefined;
});

/**
 * Sends a tone as a WebSocket member would: Opus-encoded 20 ms Concord media frames with
 * `level` (−dBov) and the speech flag, on a drift-free 20 ms clock, into `sfu.pushFrame`.
 */
async function sendFrames(
  s: Sfu,
  room: string,
  memberId: string,
  ssrc: number,
  frequencyHz: number,
  level: number,
): Promise<{ sent: () => number }> {
  const encoder = await WasmOpusEncoder.create({ bitrateBps: 32_000 });
  const pcm = new Float32Array(FRAME_SAMPLES);
  let phase = 0;
  let seq = 0;
  let timestamp = 123_456;
  let sent = 0;
  let next = performance.now();
  const tick = (): void => {
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      pcm[i] = 0.3 * Math.sin(phase);
      phase += (2 * Math.PI * frequencyHz) / SAMPLE_RATE_HZ;
    }
    const frame = encodeMediaFrame(
      { ssrc, seq, timestamp, flags: MediaFlags.Speech, level },
      encoder.encode(pcm),
    );
    if (s.pushFrame(room, memberId, frame)) sent++;
    seq = (seq + 1) & 0xffff;
    timestamp = (timestamp + FRAME_SAMPLES) >>> 0;
    next += 20;
    timers.push(setTimeout(tick, Math.max(1, next - performance.now())));
  };
  tick();
  return { sent: () => sent };
}

describe('SFU bridge between the WebSocket media path and WebRTC', () => {
  it('a WebSocket member’s frames are heard by a WebRTC consumer, its level seen by the observer', async () => {
    ({ sfu } = await startSfu());
    const alice = await TestPeer.join(sfu, 'mix', 'alice', 4001);
    peers.push(alice);
    const opened: SfuProducerEvent[] = [];
    sfu.on('producerOpened', (e) => opened.push(e));
    const levels: number[] = [];
    sfu.on('levels', (_room, l) => {
      for (const x of l) if (x.memberId === 'ws-bob') levels.push(x.levelDbov);
    });
    await sfu.join('mix', 'ws-bob', 4002, 'websocket');
    expect(opened).toMatchObject([
      { room: 'mix', memberId: 'ws-bob', ssrc: 4002, path: 'websocket' },
    ]);

    const heard = await alice.consume(opened[0]!.producerId, [660]);
    const sender = await sendFrames(sfu, 'mix', 'ws-bob', 4002, 660, 20);
    await waitFor(() => heard.count(660) >= 50, 10_000, 'alice hearing the WebSocket member');
    await waitFor(() => levels.length >= 2, 5_000, 'level reports of the bridged producer');
    // The level byte (20 = −20 dBov) travelled as the RFC 6464 extension.
    expect(levels.at(-1)).toBe(-20);
    // 50 heard 10 ms chunks need at least 25 frames of 20 ms.
    expect(sender.sent()).toBeGreaterThanOrEqual(25);
    expect(sfu.counters.bridgeFramesIn).toBe(sender.sent());
  });

  it('a WebRTC member’s audio reaches WebSocket members as frames with its Concord ssrc', async () => {
    ({ sfu } = await startSfu());
    const alice = await TestPeer.join(sfu, 'mix', 'alice', 5001);
    peers.push(alice);
    await alice.produceTone(440, 0.3);
    const frames: MediaFrame[] = [];
    sfu.on('frame', (room, memberId, bytes) => {
      expect([room, memberId]).toEqual(['mix', 'alice']);
      frames.push(decodeMediaFrame(bytes.slice()));
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(frames).toEqual([]); // no WebSocket member yet: nothing is bridged
    await sfu.join('mix', 'ws-carol', 5002, 'websocket');
    await waitFor(() => frames.length >= 60, 10_000, 'bridged frames');

    const steady = frames.slice(10);
    for (const [i, f] of steady.entries()) {
      expect(f.ssrc).toBe(5001);
      if (i > 0) {
        expect(f.seq).toBe((steady[i - 1]!.seq + 1) & 0xffff);
        expect(f.timestamp).toBe((steady[i - 1]!.timestamp + FRAME_SAMPLES) >>> 0);
      }
    }
    // 0.3 peak sine: RMS −13.5 dBov, with the speech flag.
    expect(steady.every((f) => f.level >= 12 && f.level <= 15)).toBe(true);
    expect(steady.every((f) => (f.flags & MediaFlags.Speech) !== 0)).toBe(true);
    // Same Opus payloads: they decode to the tone.
    const decoder = await WasmOpusDecoder.create();
    const pcm = new Float32Array(FRAME_SAMPLES);
    let withTone = 0;
    for (const f of steady) {
      decoder.decode(f.payload, pcm);
      if (tonePower(pcm, 440) > 0.01) withTone++;
    }
    expect(withTone).toBeGreaterThan(steady.length - 5);
    expect(sfu.counters.bridgeFramesOut).toBeGreaterThanOrEqual(frames.length);

    await sfu.leave('mix', 'ws-carol');
    await new Promise((r) => setTimeout(r, 100));
    const count = frames.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(frames.length).toBe(count); // the last WebSocket member left: bridging stopped
  });

  it('bridges only the top N to the WebSocket path, flagging the first frame after a pause Resumed', async () => {
    ({ sfu } = await startSfu({ maxSpeakers: 1 }));
    const loud = await TestPeer.join(sfu, 'mix', 'loud', 6001);
    const quiet = await TestPeer.join(sfu, 'mix', 'quiet', 6002);
    peers.push(loud, quiet);
    await loud.produceTone(440, 0.3);
    await quiet.produceTone(880, 0.02);
    const frames: { memberId: string; frame: MediaFrame }[] = [];
    sfu.on('frame', (_room, memberId, bytes) =>
      frames.push({ memberId, frame: decodeMediaFrame(bytes.slice()) }),
    );
    await sfu.join('mix', 'ws-dave', 6003, 'websocket');
    await waitFor(() => frames.length >= 50, 10_000, 'bridged frames of the loud member');
    await new Promise((r) => setTimeout(r, 500));
    expect(frames.every((f) => f.memberId === 'loud')).toBe(true);

    await sfu.leave('mix', 'loud');
    await waitFor(
      () => frames.some((f) => f.memberId === 'quiet'),
      5_000,
      'the quiet member once the slot is free',
    );
    const fromQuiet = frames.filter((f) => f.memberId === 'quiet');
    expect(fromQuiet[0]!.frame.flags & MediaFlags.Resumed).toBe(MediaFlags.Resumed);
    expect(fromQuiet[0]!.frame.ssrc).toBe(6002);
    await waitFor(() => frames.filter((f) => f.memberId === 'quiet').length >= 5, 5_000, 'more');
    const later = frames.filter((f) => f.memberId === 'quiet').slice(1);
    expect(later.every((f) => (f.frame.flags & MediaFlags.Resumed) === 0)).toBe(true);
  });
});
