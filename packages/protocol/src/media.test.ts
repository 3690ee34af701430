import { rng } from '@concord/testing'; // seeded mulberry32: the same inputs every run
import { describe, expect, it } from 'vitest';
import { CloseCode } from './closeCodes.js';
import { FrameCodec, FrameType, frameTypeOf } from './codec.js';
import {
  MAX_OPUS_PAYLOAD_BYTES,
  MEDIA_HEADER_BYTES,
  MediaFlags,
  decodeMediaFrame,
  encodeMediaFrame,
  readMediaHeader,
  type MediaFrameFields,
} from './media.js';
import { ProtocolError } from './ProtocolError.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function expectInvalidFrame(bytes: Uint8Array): ProtocolError {
  try {
    decodeMediaFrame(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).closeCode).toBe(CloseCode.INVALID_FRAME);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

const fields: MediaFrameFields = {
  ssrc: 0x1a2b3c4d,
  seq: 0x0102,
  timestamp: 0xdeadbeef,
  flags: MediaFlags.Speech | MediaFlags.Fec,
  level: 30,
};

describe('media frames', () => {
  describe('exact bytes (hex fixtures)', () => {
    it('a speech frame with FEC: 40 | ssrc | seq | timestamp | 03 | 1e | payload', () => {
      const frame = encodeMediaFrame(fields, unhex('fc ff fe'));
      expect(hex(frame)).toBe('40' + '1a2b3c4d' + '0102' + 'deadbeef' + '03' + '1e' + 'fcfffe');
      expect(frame.length).toBe(MEDIA_HEADER_BYTES + 3);
    });
    it('a DTX frame with an empty payload is the 13-byte header alone', () => {
      const frame = encodeMediaFrame(
        { ssrc: 1, seq: 0xffff, timestamp: 0, flags: MediaFlags.Dtx, level: 127 },
        new Uint8Array(0),
      );
      expect(hex(frame)).toBe('40' + '00000001' + 'ffff' + '00000000' + '04' + '7f');
    });
    it('decodes a hand-written frame, the payload a view into the input (no copy)', () => {
      const bytes = unhex('40 ffffffff 0000 000003c0 01 00 aabb');
      const frame = decodeMediaFrame(bytes);
      expect(frame).toMatchObject({
        ssrc: 0xffffffff,
        seq: 0,
        timestamp: 960,
        flags: MediaFlags.Speech,
        level: 0,
      });
      expect(hex(frame.payload)).toBe('aabb');
      expect(frame.payload.buffer).toBe(bytes.buffer);
      expect(frame.payload.byteOffset).toBe(bytes.byteOffset + MEDIA_HEADER_BYTES);
      expect(readMediaHeader(bytes)).toBe(0xffffffff);
    });
    it('media frames have frame type 1 and the control decoder refuses them', () => {
      const frame = encodeMediaFrame(fields, new Uint8Array(4));
      expect(frameTypeOf(frame)).toBe(FrameType.Media);
      expect(() => new FrameCodec().decode(frame)).toThrow(/media frame/);
    });
  });

  it('round-trips boundary values and a 1275-byte payload', () => {
    const payload = new Uint8Array(MAX_OPUS_PAYLOAD_BYTES).map((_, i) => i);
    for (const f of [
      fields,
      { ssrc: 1, seq: 0, timestamp: 0, flags: 0, level: 0 },
      { ssrc: 0xffffffff, seq: 0xffff, timestamp: 0xffffffff, flags: 7, level: 127 },
    ]) {
      const frame = decodeMediaFrame(encodeMediaFrame(f, payload));
      expect(frame).toMatchObject(f);
      expect(frame.payload).toEqual(payload);
    }
  });

  describe('rejects', () => {
    it.each([
      ['an empty frame', ''],
      ['a truncated header', '40 00000001 0000 00000000 00'],
      ['a control header', '00 00000001 0000 00000000 00 00'],
      ['reserved header bits', '41 00000001 0000 00000000 00 00'],
      ['reserved frame type 2', '80 00000001 0000 00000000 00 00'],
      ['ssrc 0', '40 00000000 0000 00000000 00 00'],
      ['reserved flag bits', '40 00000001 0000 00000000 10 00'],
      ['a level above 127', '40 00000001 0000 00000000 00 80'],
    ])('%s with INVALID_FRAME', (_name, bytes) => {
      expectInvalidFrame(unhex(bytes));
    });
    it('a payload over 1275 bytes (RFC 6716 R2) with INVALID_FRAME', () => {
      const bytes = new Uint8Array(MEDIA_HEADER_BYTES + MAX_OPUS_PAYLOAD_BYTES + 1);
      bytes.set(unhex('40 00000001'));
      expect(expectInvalidFrame(bytes).message).toMatch(/1275/);
    });
    it('out-of-range fields when encoding, with RangeError naming the field', () => {
      const p = new Uint8Array(1);
      expect(() => encodeMediaFrame({ ...fields, ssrc: 0 }, p)).toThrow(/ssrc/);
      expect(() => encodeMediaFrame({ ...fields, ssrc: 2 ** 32 }, p)).toThrow(RangeError);
      expect(() => encodeMediaFrame({ ...fields, seq: 65536 }, p)).toThrow(/seq/);
      expect(() => encodeMediaFrame({ ...fields, timestamp: -1 }, p)).toThrow(/timestamp/);
      expect(() => encodeMediaFrame({ ...fields, flags: 0x10 }, p)).toThrow(/flags/);
      expect(() => encodeMediaFrame({ ...fields, level: 128 }, p)).toThrow(/level/);
      expect(() => encodeMediaFrame({ ...fields, level: 1.5 }, p)).toThrow(/level/);
      expect(() => encodeMediaFrame(fields, new Uint8Array(1276))).toThrow(/payload/);
    });
  });
});

const CASES = Number(process.env.CONCORD_FUZZ_CASES ?? 120_000);

describe('media frame fuzzing', () => {
  it(`throws only ProtocolError on ${CASES} random and mutated frames; what decodes re-encodes to the same bytes`, () => {
    const next = rng(0x0b05);
    const int = (n: number): number => Math.floor(next() * n);
    const seeds = [
      encodeMediaFrame(fields, new Uint8Array(80).fill(0x5a)),
      encodeMediaFrame({ ssrc: 1, seq: 0, timestamp: 0, flags: 4, level: 127 }, new Uint8Array()),
      encodeMediaFrame(
        { ssrc: 0xffffffff, seq: 65535, timestamp: 2 ** 32 - 1, flags: 1, level: 0 },
        new Uint8Array(MAX_OPUS_PAYLOAD_BYTES),
      ),
    ];
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < CASES; i++) {
      let input: Uint8Array;
      if (next() < 0.25) {
        input = new Uint8Array(int(MEDIA_HEADER_BYTES * 3));
        for (let j = 0; j < input.length; j++) input[j] = int(256);
        if (input.length > 0 && next() < 0.7) input[0] = 0x40;
      } else {
        input = seeds[int(seeds.length)]!.slice();
        for (let m = 1 + int(3); m > 0; m--) {
          const kind = int(4);
          if (kind === 0 && input.length > 0) {
            const at = int(input.length);
            input[at] = input[at]! ^ (1 << int(8));
          } else if (kind === 1 && input.length > 0) input[int(input.length)] = int(256);
          else if (kind === 2) input = input.subarray(0, int(input.length + 1));
          else if (kind === 3) {
            const grown = new Uint8Array(input.length + 1 + int(4));
            grown.set(input);
            input = grown;
          }
        }
      }
      try {
        const frame = decodeMediaFrame(input);
        accepted++;
        expect(readMediaHeader(input)).toBe(frame.ssrc);
        const again = encodeMediaFrame(frame, frame.payload);
        if (Buffer.compare(again, input) !== 0)
          throw new Error(`case ${i}: re-encoding changed the bytes`);
      } catch (e) {
        if (!(e instanceof ProtocolError)) {
          throw new Error(
            `case ${i}: non-ProtocolError ${String(e)} for ${hex(input).slice(0, 80)}`,
            { cause: e },
          );
        }
        expect(e.closeCode).toBe(CloseCode.INVALID_FRAME);
        rejected++;
      }
    }
    expect(accepted).toBeGreaterThan(CASES / 10);
    expect(rejected).toBeGreaterThan(CASES / 10);
  });
});
