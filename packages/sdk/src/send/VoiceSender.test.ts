import { MediaFlags } from '@concord/protocol';
import { WasmOpusEncoder } from '@concord/wasm-dsp';
import { describe, expect, it } from 'vitest';
import { InvalidStateError } from '../errors.js';
import { FakeEncoder, FakeFrameSource, FakeTransport } from '../transport/fakes.test-util.js';
import { inlineEncoder } from './inlineEncoder.js';
import { audioLevel, VoiceSender, type SendTarget } from './VoiceSender.js';

function setup(targets: SendTarget[] = [{ room: 'r', ssrc: 0x1234_5678, muted: false }]) {
  const source = new FakeFrameSource();
  const transport = new FakeTransport();
  const encoder = new FakeEncoder();
  let nowMs = 0;
  const sender = new VoiceSender({
    source,
    transport,
    encoder,
    targets: () => targets,
    now: () => nowMs,
    random: () => 0.5, // seq 0x8000, timestamp 0x80000000
  });
  const advance = (ms: number): void => {
    nowMs += ms;
  };
  return { source, transport, encoder, sender, targets, advance };
}

describe('VoiceSender', () => {
  it('configures the encoder for 10 ms, DTX and the ABR start (48 kbit/s, no FEC)', () => {
    const { encoder } = setup();
    expect(encoder.configured[0]).toEqual({
      frameMs: 10,
      bitrateBps: 48_000,
      fec: false,
      packetLossPercent: 0,
      dtx: true,
    });
  });

  it('turns 10 ms frames into media frames with ssrc, seq +1, timestamp +480, speech flag and level', () => {
    const { source, transport } = setup();
    source.emit(-20.4, 1);
    source.emit(-35.6, 0);
    source.emit(Number.NEGATIVE_INFINITY, 0);
    const frames = transport.sent.map((s) => s.frame);
    expect(frames.map((f) => f.ssrc)).toEqual([0x1234_5678, 0x1234_5678, 0x1234_5678]);
    expect(frames.map((f) => f.seq)).toEqual([0x8000, 0x8001, 0x8002]);
    expect(frames.map((f) => f.timestamp)).toEqual([0x8000_0000, 0x8000_01e0, 0x8000_03c0]);
    expect(frames.map((f) => f.flags & MediaFlags.Speech)).toEqual([MediaFlags.Speech, 0, 0]);
    expect(frames.map((f) => f.level)).toEqual([20, 36, 127]);
    expect(frames[0]!.payload).toEqual(new Uint8Array(10).fill(0xfc));
    expect(transport.sent.every((s) => s.room === 'r')).toBe(true);
  });

  it('audioLevel clamps −dBov to 0–127', () => {
    expect(audioLevel(3)).toBe(0);
    expect(audioLevel(-0.4)).toBe(0);
    expect(audioLevel(-127.2)).toBe(127);
    expect(audioLevel(-200)).toBe(127);
    expect(audioLevel(Number.NaN)).toBe(127);
  });

  it('sends nothing while muted (room or capture) but keeps the timestamp advancing', () => {
    const { source, transport, targets, encoder } = setup();
    source.emit();
    targets[0]!.muted = true;
    source.emit();
    source.emit();
    targets[0]!.muted = false;
    source.emit(-20, 2 /* capture muted */);
    source.emit();
    const frames = transport.sent.map((s) => s.frame);
    expect(frames.map((f) => f.seq)).toEqual([0x8000, 0x8001]);
    expect(frames[1]!.timestamp - frames[0]!.timestamp).toBe(4 * 480);
    expect(encoder.encoded).toBe(2); // nothing is encoded when nothing would be sent
  });

  it('frames the transport refuses (reconnecting) take no seq: receivers see a pause, not loss', () => {
    const { source, transport, sender } = setup();
    source.emit();
    transport.ready = false;
    source.emit();
    source.emit();
    source.emit();
    transport.ready = true;
    source.emit();
    const accepted = [transport.sent[0]!, transport.sent[4]!].map((s) => s.frame);
    expect(accepted.map((f) => f.seq)).toEqual([0x8000, 0x8001]);
    expect(accepted[1]!.timestamp - accepted[0]!.timestamp).toBe(4 * 480);
    expect(sender.getStats()).toMatchObject({ framesSent: 2, framesDropped: 3 });
  });

  it('sends the first DTX packet of a pause flagged DTX and skips the rest (seq unbroken)', () => {
    const { source, transport, encoder, sender } = setup();
    encoder.next.push(new Uint8Array(10), Uint8Array.of(0xf8), Uint8Array.of(0xf8));
    encoder.next.push(Uint8Array.of(0xf8), new Uint8Array(10));
    for (let i = 0; i < 5; i++) source.emit(-60, 0);
    const frames = transport.sent.map((s) => s.frame);
    expect(frames.map((f) => f.seq)).toEqual([0x8000, 0x8001, 0x8002]);
    expect(frames.map((f) => (f.flags & MediaFlags.Dtx) !== 0)).toEqual([false, true, false]);
    expect(frames[2]!.timestamp - frames[1]!.timestamp).toBe(3 * 480);
    expect(sender.getStats().dtxSkipped).toBe(2);
  });

  it('enables the encoder DTX only while the VAD hears no speech', () => {
    const { source, encoder } = setup();
    source.emit(-20, 1);
    expect(encoder.settings.dtx).toBe(false);
    source.emit(-60, 0);
    expect(encoder.settings.dtx).toBe(true);
  });

  it('feeds each room its own ssrc, seq and timestamp', () => {
    const { source, transport } = setup([
      { room: 'a', ssrc: 11, muted: false },
      { room: 'b', ssrc: 22, muted: false },
    ]);
    source.emit();
    source.emit();
    expect(transport.sent.map((s) => `${s.room}:${s.frame.ssrc}:${s.frame.seq}`)).toEqual([
      'a:11:32768',
      'b:22:32768',
      'a:11:32769',
      'b:22:32769',
    ]);
  });

  it('sets the FEC flag when the Opus packet carries LBRR (real encoder, 20 % expected loss)', async () => {
    const source = new FakeFrameSource();
    const transport = new FakeTransport();
    const encoder = await WasmOpusEncoder.create();
    const sender = new VoiceSender({
      source,
      transport,
      encoder: inlineEncoder(encoder),
      targets: () => [{ room: 'r', ssrc: 1, muted: false }],
    });
    encoder.configure({ fec: true, packetLossPercent: 20, bitrateBps: 24_000 });
    const emitTone = (k: number): void => {
      const samples = new Float32Array(960);
      for (let i = 0; i < 960; i++)
        samples[i] = 0.3 * Math.sin((2 * Math.PI * 300 * (k * 960 + i)) / 48_000);
      source.emitFrame({
        samples,
        meta: { seq: k, levelDbfs: -13, speechProbability: 1, flags: 1 },
      });
    };
    for (let k = 0; k < 10; k++) emitTone(k);
    const fec = transport.sent.map((s) => (s.frame.flags & MediaFlags.Fec) !== 0);
    expect(fec.slice(2).every(Boolean)).toBe(true);
    sender.close();
  });

  it('ignores receiver reports of a stream it has not sent on yet', () => {
    const { sender, encoder } = setup();
    sender.handleReceiverReport({
      fromUserId: 'bob',
      ssrc: 0x1234_5678,
      fractionLost: 255,
      jitterMs: 1,
    });
    expect(encoder.configured).toHaveLength(1);
  });

  it('climbs on clean reports, turns FEC on under loss and steps down, for the worst receiver', () => {
    const { source, sender, encoder, advance } = setup();
    source.emit();
    sender.handleRtt(20);
    const bitrates: number[] = [];
    sender.on('bitrateChanged', (bps) => bitrates.push(bps));
    const report = (from: string, fractionLost: number, jitterMs = 1): void =>
      sender.handleReceiverReport({ fromUserId: from, ssrc: 0x1234_5678, fractionLost, jitterMs });
    for (let t = 0; t < 4; t++) {
      report('bob', 0);
      report('carol', 0);
      advance(500);
    }
    expect(encoder.settings.bitrateBps).toBe(128_000);
    expect(encoder.settings.fec).toBe(false);
    // Carol sees 10 % loss and 25 ms jitter (score 0.3·0.9 = 0.27): FEC on at once, steps down.
    for (let t = 0; t < 6; t++) {
      report('bob', 0);
      report('carol', 26, 25);
      advance(500);
    }
    expect(encoder.settings.fec).toBe(true);
    expect(encoder.settings.packetLossPercent).toBe(11);
    expect(encoder.settings.bitrateBps).toBeLessThan(128_000);
    expect(bitrates[0]).toBeGreaterThan(48_000);
    expect(bitrates.at(-1)).toBe(encoder.settings.bitrateBps);
    expect(sender.getStats()).toMatchObject({ fec: true, expectedLossPct: 11 });
    // Reports of a stream this sender does not feed are ignored.
    const before = encoder.configured.length;
    sender.handleReceiverReport({ fromUserId: 'x', ssrc: 999, fractionLost: 255, jitterMs: 99 });
    expect(encoder.configured).toHaveLength(before);
  });

  it('an asynchronous encoder yields the same seq/timestamps; frames of a left room are dropped', () => {
    const { source, transport, encoder, targets } = setup([
      { room: 'a', ssrc: 11, muted: false },
      { room: 'b', ssrc: 22, muted: false },
    ]);
    encoder.async = true;
    source.emit();
    source.emit();
    targets.pop(); // room b left while both frames are in the encoder
    source.emit();
    expect(transport.sent).toHaveLength(0);
    encoder.flush();
    expect(transport.sent.map((s) => `${s.room}:${s.frame.seq}:${s.frame.timestamp}`)).toEqual([
      'a:32768:2147483648',
      'a:32769:2147484128',
      'a:32770:2147484608',
    ]);
  });

  it('a 20 ms frame (a Node source) makes two 10 ms packets; other lengths are refused', () => {
    const { source, transport, encoder, sender } = setup();
    source.emit(-20, 1, 960);
    const frames = transport.sent.map((s) => s.frame);
    expect(frames.map((f) => f.seq)).toEqual([0x8000, 0x8001]);
    expect(frames.map((f) => f.timestamp - 0x8000_0000)).toEqual([0, 480]);
    expect(encoder.encodedLengths).toEqual([480, 480]);
    source.emit(-20, 1, 500);
    expect(transport.sent).toHaveLength(2);
    expect(sender.getStats()).toMatchObject({ framesRefused: 1, packetMs: 10 });
  });

  it('frameMs 20: two 10 ms frames per packet, speech if either is, level of the louder, muted only if both are', () => {
    const source = new FakeFrameSource();
    const transport = new FakeTransport();
    const encoder = new FakeEncoder();
    new VoiceSender({
      source,
      transport,
      encoder,
      targets: () => [{ room: 'r', ssrc: 7, muted: false }],
      abr: { frameMs: 20 },
      random: () => 0,
    });
    expect(encoder.configured[0]).toMatchObject({ frameMs: 20 });
    source.emit(-40, 0);
    expect(transport.sent).toHaveLength(0);
    source.emit(-20, 1);
    source.emit(-30, 2 /* muted */);
    source.emit(-50, 0);
    source.emit(-30, 2);
    source.emit(-30, 2);
    const frames = transport.sent.map((s) => s.frame);
    expect(frames.map((f) => f.timestamp)).toEqual([0, 960]);
    expect(frames.map((f) => f.flags & MediaFlags.Speech)).toEqual([MediaFlags.Speech, 0]);
    expect(frames.map((f) => f.level)).toEqual([20, 30]);
    expect(encoder.encodedLengths).toEqual([960, 960]); // the third packet was muted: not encoded
  });

  it('switches to 20 ms packets at the lowest rungs, at a packet boundary, and back to 10 ms', () => {
    const { source, transport, encoder, sender, advance } = setup();
    source.emit();
    sender.handleRtt(20);
    const report = (fractionLost: number, jitterMs: number): void =>
      sender.handleReceiverReport({ fromUserId: 'b', ssrc: 0x1234_5678, fractionLost, jitterMs });
    for (let t = 0; t < 20 && sender.decision.bitrateBps > 24_000; t++) {
      report(40, 30);
      advance(1_100);
    }
    expect(sender.decision).toMatchObject({ bitrateBps: 24_000, frameMs: 20 });
    expect(encoder.settings.frameMs).toBe(10); // applied with the next packet
    source.emit();
    expect(encoder.settings.frameMs).toBe(20);
    const before = transport.sent.length;
    source.emit();
    expect(transport.sent).toHaveLength(before); // half a packet
    source.emit();
    expect(transport.sent).toHaveLength(before + 1);
    const [a, b] = transport.sent.slice(before - 1).map((s) => s.frame);
    expect(b!.timestamp - a!.timestamp).toBe(480); // the last 10 ms packet, then a 20 ms one
    expect(sender.getStats().packetMs).toBe(20);
    for (let t = 0; t < 20 && sender.decision.bitrateBps <= 24_000; t++) {
      report(0, 1);
      advance(1_100);
    }
    source.emit();
    source.emit();
    expect(encoder.settings.frameMs).toBe(10);
  });

  it('close() destroys the encoder, stops sending, and later calls throw InvalidStateError', () => {
    const { source, transport, encoder, sender } = setup();
    sender.close();
    sender.close();
    source.emit();
    expect(transport.sent).toHaveLength(0);
    expect(encoder.destroyed).toBe(true);
    expect(() => sender.handleRtt(10)).toThrow(InvalidStateError);
  });
});
