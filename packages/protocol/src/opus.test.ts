import { describe, expect, it } from 'vitest';
import { encodeMediaFrame } from './media.js';
import { mediaFrameSamples, opusPacketHasLbrr, opusPacketSamples } from './opus.js';

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// TOC byte = config << 3 | stereo << 2 | code (RFC 6716 §3.1).
const toc = (config: number, code: number): number => (config << 3) | code;

describe('opusPacketSamples', () => {
  it('reads the frame size from the config and the frame count from the code', () => {
    expect(opusPacketSamples(Uint8Array.of(toc(9, 0), 0))).toBe(960); // SILK WB 20 ms
    expect(opusPacketSamples(Uint8Array.of(toc(8, 0), 0))).toBe(480); // SILK WB 10 ms
    expect(opusPacketSamples(Uint8Array.of(toc(11, 0), 0))).toBe(2880); // SILK WB 60 ms
    expect(opusPacketSamples(Uint8Array.of(toc(13, 0), 0))).toBe(960); // hybrid FB 20 ms
    expect(opusPacketSamples(Uint8Array.of(toc(14, 0), 0))).toBe(480); // hybrid FB 10 ms
    expect(opusPacketSamples(Uint8Array.of(toc(31, 0), 0))).toBe(960); // CELT FB 20 ms
    expect(opusPacketSamples(Uint8Array.of(toc(30, 0), 0))).toBe(480); // CELT FB 10 ms
    expect(opusPacketSamples(Uint8Array.of(toc(28, 0), 0))).toBe(120); // CELT FB 2.5 ms
    expect(opusPacketSamples(Uint8Array.of(toc(30, 1), 0, 0))).toBe(960); // two 10 ms frames
    expect(opusPacketSamples(Uint8Array.of(toc(30, 2), 1, 0, 0))).toBe(960);
    expect(opusPacketSamples(Uint8Array.of(toc(30, 3), 3, 0))).toBe(1440); // code 3, 3 frames
  });

  it('is 0 for an empty packet, a code 3 packet without its count, or over 120 ms', () => {
    expect(opusPacketSamples(new Uint8Array(0))).toBe(0);
    expect(opusPacketSamples(Uint8Array.of(toc(30, 3)))).toBe(0);
    expect(opusPacketSamples(Uint8Array.of(toc(11, 3), 3))).toBe(0); // 3 × 60 ms
  });

  it('mediaFrameSamples reads the payload of a media frame in place', () => {
    const fields = { ssrc: 1, seq: 0, timestamp: 0, flags: 0, level: 0 };
    expect(mediaFrameSamples(encodeMediaFrame(fields, Uint8Array.of(toc(30, 0), 0)))).toBe(480);
    expect(mediaFrameSamples(encodeMediaFrame(fields, Uint8Array.of(toc(9, 0), 0)))).toBe(960);
    expect(mediaFrameSamples(encodeMediaFrame(fields, new Uint8Array(0)))).toBe(0);
  });
});

describe('opusPacketHasLbrr', () => {
  it('reads the LBRR bit of SILK and hybrid packets, never of CELT-only ones', () => {
    expect(opusPacketHasLbrr(unhex('08 c0'))).toBe(true); // SILK NB 20 ms: VAD bit 7, LBRR bit 6
    expect(opusPacketHasLbrr(unhex('08 80'))).toBe(false);
    expect(opusPacketHasLbrr(unhex('18 10'))).toBe(true); // SILK NB 60 ms: 3 VAD bits, LBRR bit 4
    expect(opusPacketHasLbrr(unhex('18 08'))).toBe(false);
    expect(opusPacketHasLbrr(unhex('08'))).toBe(false);
    expect(opusPacketHasLbrr(unhex('78 40'))).toBe(true); // hybrid 20 ms: bit 6
    expect(opusPacketHasLbrr(unhex('78 80'))).toBe(false);
    expect(opusPacketHasLbrr(unhex('f8 ff'))).toBe(false); // CELT-only
    expect(opusPacketHasLbrr(unhex('7a 02 0000 40'))).toBe(false); // code 2: first frame 2 bytes
    expect(opusPacketHasLbrr(unhex('7a 01 40 00'))).toBe(true);
  });
});
