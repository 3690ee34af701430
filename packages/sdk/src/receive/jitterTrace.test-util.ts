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
    /** Duration in samples (480 or 960); when given, the packet says so (`durationSamples`). */
    samples?: number;
  } = {},
): JitterPacket {
  const seq = ((opts.seq0 ?? 1000) + k) & 0xffff;
  const samples = opts.samples ?? FRAME;
  const timestamp = ((opts.ts0 ?? 123_456) + (k + (opts.tsOffset ?? 0)) * samples) % 2 ** 32;
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
  if (opts.samples !== undefined) p.durationSamples = opts.samples;
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
    return out.length;
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
 * A sender of `frames` frames of `frameMs` (default 20) starting at `startMs`; `clockScale` > 1
 * is a slow sender clock (frames sent every frameMs·clockScale ms), and `delayMs(k)` the one-way
 * delay of frame k (or NaN to lose it).
 */
export function trace(
  frames: number,
  delayMs: (k: number) => number,
  opts: {
    startMs?: number;
    clockScale?: number;
    frameMs?: number;
    packet?: (k: number) => JitterPacket;
  } = {},
): TraceArrival[] {
  const out: TraceArrival[] = [];
  const make = opts.packet ?? ((k: number) => fakePacket(k));
  const periodMs = (opts.frameMs ?? 20) * (opts.clockScale ?? 1);
  for (let k = 0; k < frames; k++) {
    const d = delayMs(k);
    if (Number.isNaN(d)) continue;
    out.push({ packet: make(k), atMs: (opts.startMs ?? 0) + k * periodMs + d });
  }
  return out;
}

/** What a {@link SignalDecoder} packet decodes to. */
export type SignalKind = 'voiced' | 'unvoiced' | 'quiet';

const SIGNAL_KINDS: readonly SignalKind[] = ['voiced', 'unvoiced', 'quiet'];
/** Fundamental of the voiced signal, Hz: a period of 342.9 samples (7.1 ms). */
export const VOICED_F0_HZ = 140;

/**
 * Sample `n` (48 kHz) of a signal that is the same wherever it is cut: `voiced` is ten
 * harmonics of 140 Hz (about -21 dBFS), `unvoiced` a loud hash noise (about -23 dBFS, never
 * periodic), `quiet` that noise 40 dB down.
 */
export function signalAt(kind: SignalKind, n: number): number {
  if (kind === 'voiced') {
    let x = 0;
    const w = (2 * Math.PI * VOICED_F0_HZ * n) / 48_000;
    for (let h = 1; h <= 10; h++) x += Math.sin(h * w + h * h) / h;
    return 0.05 * x;
  }
  const hash = Math.sin(n * 12.9898 + 78.233) * 43_758.5453;
  const noise = 2 * (hash - Math.floor(hash)) - 1;
  return (kind === 'unvoiced' ? 0.12 : 0.0012) * noise;
}

/**
 * A packet whose audio is {@link signalAt} from sample `start` on (the payload carries `start`
 * and the kind), `samples` long, with sequence number `seq`. TOC byte 0x08; no FEC.
 */
export function signalPacket(
  seq: number,
  start: number,
  samples: number,
  kind: SignalKind = 'voiced',
): JitterPacket {
  const payload = new Uint8Array([
    0x08,
    start & 0xff,
    (start >>> 8) & 0xff,
    (start >>> 16) & 0xff,
    (start >>> 24) & 0xff,
    SIGNAL_KINDS.indexOf(kind),
  ]);
  return {
    seq: seq & 0xffff,
    timestamp: start,
    durationSamples: samples,
    payload,
    fec: false,
    speech: kind !== 'quiet',
  };
}

/**
 * A decoder of {@link signalPacket}s: `decode` writes the packet's stretch of the signal;
 * `conceal` continues the last signal at half level (PLC-like); `decodeFec` writes the frame
 * before the packet exactly. Counts what it did.
 */
export class SignalDecoder implements OpusDecoderApi {
  decoded = 0;
  concealed = 0;
  destroyed = false;
  private next = 0;
  private kind: SignalKind = 'quiet';

  decode(packet: Uint8Array, out: Float32Array): number {
    const start = packet[1]! | (packet[2]! << 8) | (packet[3]! << 16) | (packet[4]! << 24);
    this.kind = SIGNAL_KINDS[packet[5]!]!;
    for (let i = 0; i < out.length; i++) out[i] = signalAt(this.kind, start + i);
    this.next = start + out.length;
    this.decoded++;
    return out.length;
  }

  decodeFec(nextPacket: Uint8Array, out: Float32Array): number {
    const start = nextPacket[1]! | (nextPacket[2]! << 8) | (nextPacket[3]! << 16);
    const kind = SIGNAL_KINDS[nextPacket[5]!]!;
    for (let i = 0; i < out.length; i++) out[i] = signalAt(kind, start - out.length + i);
    return out.length;
  }

  conceal(out: Float32Array): number {
    for (let i = 0; i < out.length; i++) out[i] = 0.5 * signalAt(this.kind, this.next + i);
    this.next += out.length;
    this.concealed++;
    return out.length;
  }

  destroy(): void {
    this.destroyed = true;
  }
}
