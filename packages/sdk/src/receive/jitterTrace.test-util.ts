// Helpers for JitterBuffer tests: a fake Opus decoder that records which path made each frame,
// seeded randomness, and packet traces (send times, network delays). Imports nothing from the
// test runner.
import type { OpusDecoderApi } from '@concord/wasm-dsp';
import type { JitterPacket } from './JitterBuffer.js';

export const FRAME = 960;

/** Seeded PRNG in [0, 1) (mulberry32, from the QA kit). */
export { rng } from '@concord/testing';

/**
 * A fake packet for frame `k`: the payload carries k (so the fake decoder can tell which frame
 * it decodes) and a level byte (0 = quiet frame, otherwise loud).
 */
export function fakePacket(
  k: number,
  opts: {
    seq0?: number;
    ts0?: number;
    tsOffset?: number;
    fec?: boolean;
    loud?: boolean;
    speech?: boolean;
  } = {},
): JitterPacket {
  const seq = ((opts.seq0 ?? 1000) + k) & 0xffff;
  const timestamp = ((opts.ts0 ?? 123_456) + (k + (opts.tsOffset ?? 0)) * FRAME) % 2 ** 32;
  const payload = new Uint8Array([
    0x08,
    k & 0xff,
    (k >> 8) & 0xff,
    (k >> 16) & 0xff,
    opts.loud === false ? 0 : 1,
  ]);
  const p: { -readonly [K in keyof JitterPacket]: JitterPacket[K] } = { seq, timestamp, payload };
  p.fec = opts.fec ?? true;
  if (opts.speech !== undefined) p.speech = opts.speech;
  return p;
}

/** Decoder frame id from a fake payload. */
function idOf(packet: Uint8Array): number {
  return packet[1]! | (packet[2]! << 8) | (packet[3]! << 16);
}

/**
 * Records each call: `decode` of frame k, `fec` rebuilding frame k − 1 from frame k's packet,
 * `plc`. Decoded frames are filled with 0.1 (−20 dBFS) or 0 when the packet is quiet; PLC and
 * FEC output decays like libopus's.
 */
export class FakeDecoder implements OpusDecoderApi {
  readonly log: { path: 'decode' | 'fec' | 'plc'; frame: number }[] = [];
  destroyed = false;
  private lastLevel = 0;

  decode(packet: Uint8Array, out: Float32Array): number {
    const id = idOf(packet);
    this.lastLevel = packet[4] === 0 ? 0 : 0.1;
    out.fill(this.lastLevel);
    this.log.push({ path: 'decode', frame: id });
    return FRAME;
  }

  decodeFec(nextPacket: Uint8Array, out: Float32Array): number {
    out.fill(this.lastLevel * 0.9);
    this.log.push({ path: 'fec', frame: idOf(nextPacket) - 1 });
    return out.length;
  }

  conceal(out: Float32Array): number {
    this.lastLevel *= 0.5;
    out.fill(this.lastLevel);
    this.log.push({ path: 'plc', frame: -1 });
    return out.length;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** Frame ids decoded normally, in order. */
  get decodedFrames(): number[] {
    return this.log.filter((e) => e.path === 'decode').map((e) => e.frame);
  }
}

/** One packet of a trace: what arrives when. */
export interface TraceArrival {
  packet: JitterPacket;
  atMs: number;
}

/**
 * A sender of `frames` 20 ms frames starting at `startMs`; `clockScale` > 1 is a slow sender
 * clock (frames sent every 20·clockScale ms), and `delayMs(k)` the one-way delay of frame k (or
 * NaN to lose it).
 */
export function trace(
  frames: number,
  delayMs: (k: number) => number,
  opts: { startMs?: number; clockScale?: number; packet?: (k: number) => JitterPacket } = {},
): TraceArrival[] {
  const out: TraceArrival[] = [];
  const make = opts.packet ?? ((k: number) => fakePacket(k));
  for (let k = 0; k < frames; k++) {
    const d = delayMs(k);
    if (Number.isNaN(d)) continue;
    out.push({ packet: make(k), atMs: (opts.startMs ?? 0) + k * 20 * (opts.clockScale ?? 1) + d });
  }
  return out;
}
