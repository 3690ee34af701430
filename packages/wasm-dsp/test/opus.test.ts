import { beforeAll, describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { WasmOpusDecoder } from '../src/opus/WasmOpusDecoder.js';
import { OPUS_MAX_PACKET_BYTES, WasmOpusEncoder } from '../src/opus/WasmOpusEncoder.js';
import { OpusWasm } from '../src/opus/OpusWasm.js';
import type { OpusEncoderSettings } from '../src/opus/opusTypes.js';
import { bestLag, dbfs, FS, rng, scaleTo, siSdr, speechTrack, tone } from '@concord/testing';

const FRAME = 960;
let module: WebAssembly.Module;

beforeAll(async () => {
  module = await OpusWasm.loadModule();
});

function encoder(settings: Partial<OpusEncoderSettings> = {}): WasmOpusEncoder {
  return WasmOpusEncoder.createSync(module, settings);
}

/** Encodes `x` frame by frame; returns copies of the packets. */
function encodeAll(enc: WasmOpusEncoder, x: Float32Array): Uint8Array[] {
  const n = enc.frameSamples;
  const packets: Uint8Array[] = [];
  for (let s = 0; s + n <= x.length; s += n) packets.push(enc.encode(x.subarray(s, s + n)).slice());
  return packets;
}

/** Frequency from upward zero crossings (interpolated) over `x`. */
function zeroCrossingHz(x: Float32Array): number {
  let first = -1;
  let last = -1;
  let count = 0;
  for (let i = 1; i < x.length; i++) {
    if (x[i - 1]! < 0 && x[i]! >= 0) {
      const t = i - 1 + x[i - 1]! / (x[i - 1]! - x[i]!);
      if (first < 0) first = t;
      else count++;
      last = t;
    }
  }
  return (count * FS) / (last - first);
}

describe('WasmOpusEncoder/WasmOpusDecoder round trip', () => {
  it.each([20, 10] as const)(
    'keeps a 1 kHz tone’s frequency (±0.5 Hz) and level (±1 dB) with %i ms frames',
    (frameMs) => {
      const x = tone(FS, 1_000, 0.25);
      const enc = encoder({ frameMs, bitrateBps: 32_000 });
      const dec = WasmOpusDecoder.createSync(module);
      const y = new Float32Array(x.length);
      let at = 0;
      for (const p of encodeAll(enc, x)) at += dec.decode(p, y.subarray(at, at + FRAME));
      expect(at).toBe(x.length);
      // Skip the first 100 ms (encoder start-up) and compare steady state.
      const start = FS / 10;
      expect(zeroCrossingHz(y.subarray(start))).toBeCloseTo(1_000, 0);
      expect(Math.abs(dbfs(y, start) - dbfs(x, start))).toBeLessThanOrEqual(1);
      enc.destroy();
      dec.destroy();
    },
  );

  it('calls the packet sink with the packet encode() returns', () => {
    const seen: number[] = [];
    const enc = WasmOpusEncoder.createSync(module, {}, { onPacket: (p) => seen.push(p.length) });
    const p = enc.encode(tone(FRAME, 440));
    expect(seen).toEqual([p.length]);
    enc.destroy();
  });

  it('switches between 20 ms and 10 ms frames while running', () => {
    const enc = encoder();
    const dec = WasmOpusDecoder.createSync(module);
    const out = new Float32Array(FRAME);
    const x = tone(FS, 440);
    expect(dec.decode(enc.encode(x.subarray(0, 960)), out)).toBe(960);
    enc.configure({ frameMs: 10 });
    expect(enc.frameSamples).toBe(480);
    expect(dec.decode(enc.encode(x.subarray(960, 1_440)), out)).toBe(480);
    expect(dec.lastPacketSamples).toBe(480);
    enc.destroy();
    dec.destroy();
  });
});

describe('FEC and PLC', () => {
  // 10 s of speech; every lost frame is followed by a received one so FEC can recover it.
  const N = FS * 10;
  let speech: Float32Array;
  let packets: Uint8Array[];
  let lookahead: number;
  let lost: Set<number>;

  beforeAll(() => {
    speech = scaleTo(speechTrack(N, 'en-us', 300), -20);
    const enc = encoder({ fec: true, packetLossPercent: 20, bitrateBps: 32_000 });
    packets = encodeAll(enc, speech);
    lookahead = enc.lookaheadSamples;
    enc.destroy();
    const r = rng(7);
    lost = new Set<number>();
    for (let k = 5; k < packets.length - 1; k++) {
      // ~12 % seeded loss of isolated frames that carry speech.
      if (!lost.has(k - 1) && r() < 0.12 && dbfs(speech, k * FRAME, (k + 1) * FRAME) > -50) {
        lost.add(k);
      }
    }
  });

  /** Decodes with the lost frames rebuilt by FEC (true) or concealed by PLC (false). */
  function decodeWithLoss(useFec: boolean): Float32Array {
    const dec = WasmOpusDecoder.createSync(module);
    const y = new Float32Array(packets.length * FRAME);
    for (let k = 0; k < packets.length; k++) {
      const out = y.subarray(k * FRAME, (k + 1) * FRAME);
      if (!lost.has(k)) dec.decode(packets[k]!, out);
      else if (useFec) dec.decodeFec(packets[k + 1]!, out);
      else dec.conceal(out);
    }
    dec.destroy();
    return y;
  }

  /** SI-SDR of the lost frames (concatenated) against the original shifted by the lookahead. */
  function lostFramesSiSdr(y: Float32Array): number {
    const ref = new Float32Array(lost.size * FRAME);
    const est = new Float32Array(lost.size * FRAME);
    let i = 0;
    for (const k of lost) {
      ref.set(speech.subarray(k * FRAME - lookahead, (k + 1) * FRAME - lookahead), i);
      est.set(y.subarray(k * FRAME, (k + 1) * FRAME), i);
      i += FRAME;
    }
    return siSdr(ref, est);
  }

  it('delays decoded speech by the encoder lookahead (312 samples = 6.5 ms)', () => {
    const dec = WasmOpusDecoder.createSync(module);
    const y = new Float32Array(packets.length * FRAME);
    packets.forEach((p, k) => dec.decode(p, y.subarray(k * FRAME, (k + 1) * FRAME)));
    dec.destroy();
    expect(lookahead).toBe(312);
    // SILK's resamplers shift the waveform by a few samples against CELT's exact lookahead.
    expect(Math.abs(bestLag(speech, y, 2_000) - lookahead)).toBeLessThanOrEqual(8);
  });

  it('recovers dropped speech frames better with in-band FEC than with PLC alone', () => {
    expect(lost.size).toBeGreaterThanOrEqual(30);
    const fec = lostFramesSiSdr(decodeWithLoss(true));
    const plc = lostFramesSiSdr(decodeWithLoss(false));
    // Measured over 38 lost frames (complexity 5): FEC 4.3 dB, PLC -0.8 dB, and 4.9 dB for the
    // same frames decoded without loss (Opus at 32 kbit/s is not waveform-exact).
    expect(fec).toBeGreaterThan(plc + 3);
    expect(fec).toBeGreaterThan(3);
  });

  it('produces a full frame from FEC and from PLC, and PLC needs multiples of 2.5 ms', () => {
    const dec = WasmOpusDecoder.createSync(module);
    const out = new Float32Array(FRAME);
    dec.decode(packets[10]!, out);
    expect(dec.decodeFec(packets[12]!, out)).toBe(FRAME);
    expect(dec.conceal(out)).toBe(FRAME);
    expect(dec.conceal(out.subarray(0, 480))).toBe(480);
    expect(() => dec.conceal(out.subarray(0, 500))).toThrow(RangeError);
    dec.destroy();
  });
});

describe('WasmOpusEncoder settings while running', () => {
  it('applies a bitrate change from the very next frame', () => {
    // CBR makes each packet exactly bitrate × 20 ms / 8 bytes.
    const enc = encoder({ vbr: false, bitrateBps: 64_000 });
    const x = scaleTo(speechTrack(FS, 'en-us'), -20);
    const sizes = encodeAll(enc, x.subarray(0, 10 * FRAME)).map((p) => p.length);
    expect(sizes.slice(2)).toEqual(Array(8).fill(160));
    enc.configure({ bitrateBps: 16_000 });
    expect(enc.encode(x.subarray(10 * FRAME, 11 * FRAME)).length).toBe(40);
    enc.configure({ vbr: true, bitrateBps: 96_000 });
    const vbr = encodeAll(enc, x.subarray(11 * FRAME, 31 * FRAME)).map((p) => p.length);
    const mean = vbr.reduce((a, b) => a + b, 0) / vbr.length;
    expect(mean).toBeGreaterThan(120);
    enc.destroy();
  });

  it('sends packets of at most 2 bytes on silence with DTX on, and full ones with it off', () => {
    const silence = new Float32Array(FS * 2);
    const on = encoder({ dtx: true });
    const off = encoder({ dtx: false });
    // libopus enters DTX after 200 ms of silence (NB_SPEECH_FRAMES_BEFORE_DTX) and then sends a
    // real frame only every 400 ms to refresh comfort noise.
    const dtxSizes = encodeAll(on, silence)
      .slice(15)
      .map((p) => p.length);
    const tiny = dtxSizes.filter((n) => n <= 2).length;
    expect(tiny / dtxSizes.length).toBeGreaterThanOrEqual(0.9);
    expect(on.inDtx).toBe(true);
    expect(encodeAll(off, silence).every((p) => p.length > 2)).toBe(true);
    on.configure({ dtx: false });
    expect(encodeAll(on, silence.subarray(0, 3 * FRAME)).at(-1)!.length).toBeGreaterThan(2);
    on.destroy();
    off.destroy();
  });

  it('rejects bad arguments with RangeError/TypeError and changes nothing', () => {
    const enc = encoder();
    expect(() => enc.configure({ bitrateBps: 5_000 })).toThrow(RangeError);
    expect(() => enc.configure({ bitrateBps: 600_000 })).toThrow(RangeError);
    expect(() => enc.configure({ complexity: 11 })).toThrow(RangeError);
    expect(() => enc.configure({ complexity: 2.5 })).toThrow(RangeError);
    expect(() => enc.configure({ packetLossPercent: -1 })).toThrow(RangeError);
    expect(() => enc.configure({ frameMs: 15 as 20 })).toThrow(RangeError);
    expect(() => enc.configure({ fec: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => enc.configure({ bitrateBps: 64_000, complexity: 12 })).toThrow(RangeError);
    expect(enc.settings.bitrateBps).toBe(32_000);
    expect(() => enc.encode(new Float32Array(480))).toThrow(RangeError);
    expect(() => WasmOpusEncoder.createSync(module, { bitrateBps: 1 })).toThrow(RangeError);
    const dec = WasmOpusDecoder.createSync(module);
    expect(() => dec.decode(new Uint8Array(0), new Float32Array(FRAME))).toThrow(RangeError);
    expect(() => dec.decode(new Uint8Array(5_000), new Float32Array(FRAME))).toThrow(RangeError);
    expect(() => dec.decode(enc.encode(new Float32Array(FRAME)), new Float32Array(0))).toThrow(
      RangeError,
    );
    // A 20 ms packet does not fit a 10 ms buffer: libopus's error, as DspError codec.
    const small = (): number =>
      dec.decode(enc.encode(new Float32Array(FRAME)), new Float32Array(480));
    expect(small).toThrow(DspError);
    enc.destroy();
    dec.destroy();
  });
});

describe('Opus lifecycle', () => {
  it('destroy() is idempotent and methods afterwards throw DspError destroyed', () => {
    const enc = encoder();
    const dec = WasmOpusDecoder.createSync(module);
    enc.destroy();
    enc.destroy();
    dec.destroy();
    dec.destroy();
    expect(() => enc.encode(new Float32Array(FRAME))).toThrow(/destroyed/);
    expect(() => enc.configure({ dtx: true })).toThrow(DspError);
    expect(() => dec.conceal(new Float32Array(FRAME))).toThrow(/destroyed/);
  });

  it('leaves the libopus heap flat over 1,000 encoder+decoder create/destroy cycles', async () => {
    const x = tone(FRAME, 440);
    const out = new Float32Array(FRAME);
    const packet = new Uint8Array(OPUS_MAX_PACKET_BYTES);
    const rt = OpusWasm.fromSource(module);
    const probe = (): number => {
      const p = rt.x.malloc(1_024);
      rt.x.free(p);
      return p;
    };
    const warm = await WasmOpusEncoder.create();
    const before = warm.heapBytes;
    warm.destroy();
    const probeBefore = probe();
    for (let i = 0; i < 1_000; i++) {
      const enc = encoder({ fec: true, dtx: true });
      const dec = WasmOpusDecoder.createSync(module);
      const n = enc.encodeInto(x, packet);
      dec.decode(packet.subarray(0, n), out);
      enc.destroy();
      dec.destroy();
    }
    expect(probe()).toBe(probeBefore);
    const dec = await WasmOpusDecoder.create();
    expect(dec.heapBytes).toBe(before);
    dec.destroy();
  });
});
