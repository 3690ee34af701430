import { describe, expect, it } from 'vitest';
import { FLAG_BATCH, FLAG_LZ4, FrameCodec, FrameType, frameTypeOf } from './codec.js';
import { CloseCode } from './closeCodes.js';
import { SAMPLE_MESSAGES, alice } from './fixtures.test-util.js';
import { Op, type Message } from './messages.js';
import { ProtocolError } from './ProtocolError.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function expectProtocolError(fn: () => unknown, closeCode: number): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).closeCode).toBe(closeCode);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('FrameCodec', () => {
  const codec = new FrameCodec();

  it.each(
    SAMPLE_MESSAGES.map(
      (m) => [m.op === Op.Dispatch ? `dispatch ${m.t}` : `op ${m.op}`, m] as const,
    ),
  )('round-trips %s unchanged', (_name, message) => {
    expect(codec.decode(codec.encode(message))).toEqual([message]);
  });

  it('round-trips a batch of every message type in order', () => {
    const frame = codec.encode(SAMPLE_MESSAGES);
    expect(frame[0]! & FLAG_BATCH).toBe(FLAG_BATCH);
    expect(codec.decode(frame)).toEqual(SAMPLE_MESSAGES);
  });

  describe('exact bytes (hex fixtures)', () => {
    it('HEARTBEAT {nonce 1, seq 5} is 00 93 03 01 05', () => {
      expect(hex(codec.encode({ op: Op.Heartbeat, d: { nonce: 1, seq: 5 } }))).toBe('0093030105');
    });
    it('HEARTBEAT_ACK {nonce 300} uses a uint16: 00 92 04 cd 01 2c', () => {
      expect(hex(codec.encode({ op: Op.HeartbeatAck, d: { nonce: 300 } }))).toBe('009204cd012c');
    });
    it('JOIN_ROOM {req 1, room "lobby"} is 00 93 0a 01 a5 6c6f626279', () => {
      expect(hex(codec.encode({ op: Op.JoinRoom, d: { req: 1, room: 'lobby' } }))).toBe(
        '00930a01a56c6f626279',
      );
    });
    it('DISPATCH seq 256 SPEAKING {ssrc 0x1a2b3c4d, true}', () => {
      const frame = codec.encode({
        op: Op.Dispatch,
        seq: 256,
        t: 'SPEAKING',
        d: { ssrc: 0x1a2b3c4d, speaking: true },
      });
      // fixarray(5) op=9 seq=uint16 0x0100 code=5 ssrc=uint32 true
      expect(hex(frame)).toBe('00' + '95' + '09' + 'cd0100' + '05' + 'ce1a2b3c4d' + 'c3');
    });
    it('DISPATCH seq 3 VOICE_STATE_UPDATE {ssrc 7, muted, not deafened}', () => {
      const frame = codec.encode({
        op: Op.Dispatch,
        seq: 3,
        t: 'VOICE_STATE_UPDATE',
        d: { ssrc: 7, muted: true, deafened: false },
      });
      // fixarray(6) op=9 seq=3 code=4 ssrc=fixint 7 true false
      expect(hex(frame)).toBe('00' + '96' + '09' + '03' + '04' + '07' + 'c3' + 'c2');
    });
    it('decodes a hand-written SPEAKING with an ssrc of 0xffffffff', () => {
      expect(codec.decode(unhex('00 95 09 01 05 ce ffffffff c2'))).toEqual([
        { op: Op.Dispatch, seq: 1, t: 'SPEAKING', d: { ssrc: 0xffffffff, speaking: false } },
      ]);
    });
    it('a batch of two heartbeats sets the batch flag and a fixarray(2)', () => {
      const frame = codec.encode([
        { op: Op.Heartbeat, d: { nonce: 1, seq: 0 } },
        { op: Op.Heartbeat, d: { nonce: 2, seq: 0 } },
      ]);
      expect(hex(frame)).toBe('02' + '92' + '93030100' + '93030200');
    });
    it('RECEIVER_REPORT {room "r", [{ssrc 7, lost 13/256, jitter 4 ms, total 21}]} is op 14', () => {
      const frame = codec.encode({
        op: Op.ReceiverReport,
        d: { room: 'r', reports: [{ ssrc: 7, fractionLost: 13, jitterMs: 4, lostTotal: 21 }] },
      });
      // fixarray(3) op=14 "r" fixarray(1) [fixarray(4) 7 13 4 21]
      expect(hex(frame)).toBe('00' + '93' + '0e' + 'a172' + '91' + '94070d0415');
    });
    it('a participant carries its ssrc (u32 as 0xce), then its media path flag', () => {
      const frame = codec.encode({
        op: Op.Dispatch,
        seq: 1,
        t: 'PARTICIPANT_JOINED',
        d: {
          room: 'r',
          participant: {
            userId: 'u',
            name: 'U',
            muted: false,
            deafened: false,
            speaking: true,
            ssrc: 0x1a2b3c4d,
            webrtc: true,
          },
        },
      });
      // fixarray(5) op=9 seq=1 code=2 "r" [fixarray(7) "u" "U" false false true u32 true]
      expect(hex(frame)).toBe(
        '00' + '95' + '09' + '01' + '02' + 'a172' + '97' + 'a175a155c2c2c3' + 'ce1a2b3c4d' + 'c3',
      );
    });
    it('DISPATCH RECEIVER_REPORT is event code 8', () => {
      const frame = codec.encode({
        op: Op.Dispatch,
        seq: 2,
        t: 'RECEIVER_REPORT',
        d: { room: 'r', fromUserId: 'b', ssrc: 9, fractionLost: 0, jitterMs: 20, lostTotal: 1 },
      });
      expect(hex(frame)).toBe('00' + '99' + '09' + '02' + '08' + 'a172' + 'a162' + '09001401');
    });
    it('decodes a hand-written INVALID_SESSION {resumable: true}', () => {
      expect(codec.decode(unhex('00 92 08 c3'))).toEqual([
        { op: Op.InvalidSession, d: { resumable: true } },
      ]);
    });
  });

  describe('compression', () => {
    const big: Message = {
      op: Op.Dispatch,
      seq: 1,
      t: 'ROOM_JOINED',
      d: {
        req: 1,
        room: 'lobby',
        participants: Array.from({ length: 100 }, (_, i) => ({
          ...alice,
          userId: `user-${i}`,
          name: `Player ${i}`,
        })),
      },
    };

    it('LZ4-compresses payloads above the threshold and carries the decompressed length', () => {
      const frame = codec.encode(big);
      expect(frame[0]! & FLAG_LZ4).toBe(FLAG_LZ4);
      const declared = new DataView(frame.buffer, frame.byteOffset + 1, 4).getUint32(0, true);
      expect(declared).toBe(
        new FrameCodec({ compressionThresholdBytes: 0 }).encodeMessage(big).length,
      );
      expect(frame.length).toBeLessThan(declared / 2);
      expect(codec.decode(frame)).toEqual([big]);
    });

    it('leaves small payloads and threshold 0 uncompressed', () => {
      expect(codec.encode(SAMPLE_MESSAGES[3]!)[0]! & FLAG_LZ4).toBe(0);
      expect(new FrameCodec({ compressionThresholdBytes: 0 }).encode(big)[0]! & FLAG_LZ4).toBe(0);
    });

    it('rejects a compression bomb by its declared size before allocating', () => {
      const bomb = unhex('01 ffffff7f 1f00');
      const err = expectProtocolError(() => codec.decode(bomb), CloseCode.DECOMPRESSED_TOO_LARGE);
      expect(err.message).toContain('2147483647');
    });

    it('rejects an LZ4 block whose output differs from the declared size', () => {
      const frame = codec.encode(big).slice();
      new DataView(frame.buffer, 1, 4).setUint32(0, 10, true);
      expectProtocolError(() => codec.decode(frame), CloseCode.INVALID_FRAME);
    });

    it('rejects a match offset pointing before the output', () => {
      // token: 0 literals, match; offset 5 with empty output
      expectProtocolError(
        () => codec.decode(unhex('01 0a000000 00 0500 00')),
        CloseCode.INVALID_FRAME,
      );
    });
  });

  describe('limits', () => {
    const small = new FrameCodec({
      limits: {
        maxFrameBytes: 64,
        maxStringBytes: 16,
        maxArrayLength: 4,
        maxDepth: 3,
        maxMessagesPerBatch: 2,
      },
    });

    it('rejects an empty frame', () =>
      expectProtocolError(() => codec.decode(new Uint8Array()), CloseCode.INVALID_FRAME));
    it('rejects frames above maxFrameBytes', () =>
      expectProtocolError(() => small.decode(new Uint8Array(65)), CloseCode.FRAME_TOO_LARGE));
    it('rejects strings above maxStringBytes', () =>
      expectProtocolError(
        () => small.decode(codec.encode({ op: Op.JoinRoom, d: { req: 1, room: 'x'.repeat(17) } })),
        CloseCode.LIMIT_EXCEEDED,
      ));
    it('rejects arrays above maxArrayLength', () =>
      expectProtocolError(
        () => small.decode(unhex('00 95 01 02 03 04 05')),
        CloseCode.LIMIT_EXCEEDED,
      ));
    it('rejects nesting deeper than maxDepth', () =>
      expectProtocolError(
        () => small.decode(unhex('00 91 91 91 91 01')),
        CloseCode.LIMIT_EXCEEDED,
      ));
    it('rejects batches above maxMessagesPerBatch', () => {
      const three = codec.encode([SAMPLE_MESSAGES[3]!, SAMPLE_MESSAGES[3]!, SAMPLE_MESSAGES[3]!]);
      expectProtocolError(() => small.decode(three), CloseCode.LIMIT_EXCEEDED);
    });
    it('rejects an array32 claiming 4 billion elements without allocating', () =>
      expectProtocolError(
        () => codec.decode(unhex('00 dd ffffffff 01')),
        CloseCode.LIMIT_EXCEEDED,
      ));
    it('rejects a container claiming more elements than bytes remain', () =>
      expectProtocolError(() => codec.decode(unhex('00 dc 0100 01')), CloseCode.INVALID_PAYLOAD));
    it('room names are bounded by the schema (128 chars)', () =>
      expectProtocolError(
        () => codec.decode(codec.encode({ op: Op.JoinRoom, d: { req: 1, room: 'r'.repeat(129) } })),
        CloseCode.LIMIT_EXCEEDED,
      ));
    it('refuses to encode a frame above maxFrameBytes', () => {
      const tight = new FrameCodec({ limits: { maxFrameBytes: 32 }, compressionThresholdBytes: 0 });
      expect(() => tight.encode({ op: Op.Reconnect, d: { reason: 'x'.repeat(40) } })).toThrow(
        ProtocolError,
      );
    });
  });

  describe('invalid frames and payloads', () => {
    it.each([
      ['reserved header bits', '04 93030105', CloseCode.INVALID_FRAME],
      ['media frame type', '40 00', CloseCode.INVALID_FRAME],
      ['reserved frame type', 'c0 00', CloseCode.INVALID_FRAME],
      ['truncated LZ4 header', '01 0000', CloseCode.INVALID_FRAME],
      ['extension type', '00 d4 01 02', CloseCode.INVALID_PAYLOAD],
      ['never-used byte 0xc1', '00 c1', CloseCode.INVALID_PAYLOAD],
      ['truncated string', '00 92 0a a5 6c6f', CloseCode.INVALID_PAYLOAD],
      ['trailing bytes', '00 92 08 c3 00', CloseCode.INVALID_PAYLOAD],
      ['a message that is not an array', '00 05', CloseCode.INVALID_PAYLOAD],
      ['unknown opcode', '00 91 63', CloseCode.INVALID_PAYLOAD],
      ['unknown event code', '00 93 09 01 7f', CloseCode.INVALID_PAYLOAD],
      ['dispatch seq 0', '00 94 09 00 06 01', CloseCode.INVALID_PAYLOAD],
      ['wrong field type', '00 93 03 a1 78 05', CloseCode.INVALID_PAYLOAD],
      ['missing fields', '00 92 03 01', CloseCode.INVALID_PAYLOAD],
      ['negative integer', '00 93 03 ff 05', CloseCode.INVALID_PAYLOAD],
      [
        'float where an integer belongs',
        '00 93 03 cb 3ff8000000000000 05',
        CloseCode.INVALID_PAYLOAD,
      ],
      ['empty batch', '02 90', CloseCode.INVALID_PAYLOAD],
      [
        'fractionLost above 255',
        '00 93 0e a1 72 91 94 07 cd 0100 04 15',
        CloseCode.INVALID_PAYLOAD,
      ],
      [
        'an ssrc above u32',
        '00 93 0e a1 72 91 94 cf 0000000100000000 0d 04 15',
        CloseCode.INVALID_PAYLOAD,
      ],
      [
        'more than 64 receiver reports',
        '00 93 0e a1 72 dc 0041' + '9401020304'.repeat(65),
        CloseCode.LIMIT_EXCEEDED,
      ],
    ] as const)('rejects %s', (_name, bytes, closeCode) => {
      expectProtocolError(() => codec.decode(unhex(bytes)), closeCode);
    });

    it('a client may not send server opcodes, nor a server client opcodes', () => {
      expectProtocolError(
        () => codec.decodeClientFrame(codec.encode(SAMPLE_MESSAGES[0]!)),
        CloseCode.INVALID_PAYLOAD,
      );
      expectProtocolError(
        () => codec.decodeServerFrame(codec.encode(SAMPLE_MESSAGES[1]!)),
        CloseCode.INVALID_PAYLOAD,
      );
      expect(codec.decodeClientFrame(codec.encode(SAMPLE_MESSAGES[1]!))).toHaveLength(1);
    });

    it('refuses trailing fields after the last schema field (padding nobody reads)', () => {
      // HEARTBEAT_ACK [4, 7] padded with "x" and true.
      expectProtocolError(
        () => codec.decode(unhex('00 94 04 07 a1 78 c3')),
        CloseCode.INVALID_PAYLOAD,
      );
      // Nested records too: ROOM_JOINED [9, 1, 0, req 1, "lobby", [participant]] whose
      // participant has an eighth field (nil) after its media path flag.
      const participant = '98 a1 61 a1 41 c2 c2 c2 07 c2';
      const joined = (p: string): string => `00 96 09 01 00 01 a5 6c6f626279 91 ${p}`;
      expect(codec.decode(unhex(joined('97 a1 61 a1 41 c2 c2 c2 07 c2')))).toHaveLength(1);
      expectProtocolError(
        () => codec.decode(unhex(joined(`${participant} c0`))),
        CloseCode.INVALID_PAYLOAD,
      );
    });

    it('a codec that refuses compression rejects LZ4 frames before expanding them', () => {
      const strict = new FrameCodec({ acceptCompressed: false });
      const big = codec.encode({ op: Op.Reconnect, d: { reason: 'x'.repeat(200) } });
      const lz4 = new FrameCodec({ compressionThresholdBytes: 16 }).encode({
        op: Op.Reconnect,
        d: { reason: 'x'.repeat(200) },
      });
      expect(lz4[0]! & FLAG_LZ4).toBe(FLAG_LZ4);
      expect(strict.decode(big)).toHaveLength(1);
      expectProtocolError(() => strict.decode(lz4), CloseCode.INVALID_FRAME);
    });
  });

  it('encodes an event once and stamps each session seq into it', () => {
    const event = codec.encodeEvent('SPEAKING', { ssrc: 42, speaking: false });
    const a = codec.decode(codec.frame([codec.encodeDispatch(1, event)]));
    const b = codec.decode(codec.frame([codec.encodeDispatch(99_999, event)]));
    expect(a[0]).toMatchObject({ seq: 1, t: 'SPEAKING' });
    expect(b[0]).toMatchObject({
      seq: 99_999,
      t: 'SPEAKING',
      d: { ssrc: 42, speaking: false },
    });
  });

  it('frameTypeOf reads the header type bits', () => {
    expect(frameTypeOf(unhex('40 00'))).toBe(FrameType.Media);
    expect(frameTypeOf(codec.encode(SAMPLE_MESSAGES[3]!))).toBe(FrameType.Control);
  });

  it('rejects bad options with RangeError', () => {
    expect(() => new FrameCodec({ compressionThresholdBytes: -1 })).toThrow(RangeError);
    expect(() => new FrameCodec({ limits: { maxDepth: 0 } })).toThrow(RangeError);
  });
});
