import { MediaFlags, ProtocolError, decodeMediaFrame, encodeMediaFrame } from '@concord/protocol';
import { describe, expect, it } from 'vitest';
import { SfuError } from './SfuError.js';
import { SPEECH_LEVEL_MAX, mediaFrameToRtp, parseRtp, rtpToMediaFrame } from './rtpFrames.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Concord frame: ssrc 0x01020304, seq 0x1234, timestamp 0x0a0b0c0d, speech, level 30 (−30 dBov),
// Opus payload 78 aa bb (TOC 0x78: config 15, hybrid fullband 20 ms, one frame).
const FRAME = '40 01020304 1234 0a0b0c0d 01 1e 78aabb';
// Its RTP packet with payload type 100, audio level extension id 10, marker set:
// V=2 X=1 → 0x90; M|PT → 0xe4; seq; timestamp; ssrc; one-byte profile 0xbede, 1 word;
// element id 10 length 1 → 0xa0, V|30 → 0x9e, two padding bytes; payload.
const RTP = '90 e4 1234 0a0b0c0d 01020304 bede 0001 a0 9e 0000 78aabb';

describe('Concord media frame → RTP', () => {
  it('carries ssrc, seq, timestamp and payload, with the level as RFC 6464 extension', () => {
    const rtp = mediaFrameToRtp(unhex(FRAME), {
      payloadType: 100,
      audioLevelExtensionId: 10,
      marker: true,
    });
    expect(hex(rtp)).toBe(RTP.replace(/\s+/g, ''));
  });

  it('clears the marker and the voice bit for a non-speech frame', () => {
    const frame = unhex('40 01020304 1235 0a0b1000 00 7f 78aabb'); // no speech, level 127
    const rtp = mediaFrameToRtp(frame, {
      payloadType: 111,
      audioLevelExtensionId: 1,
      marker: false,
    });
    expect(hex(rtp)).toBe('906f12350a0b100001020304bede0001107f000078aabb');
  });

  it('clears the voice bit of a DTX frame even when flagged speech', () => {
    const frame = unhex('40 01020304 0001 00000000 05 28 f8'); // speech|DTX, level 40
    const rtp = mediaFrameToRtp(frame, {
      payloadType: 100,
      audioLevelExtensionId: 10,
      marker: false,
    });
    expect(hex(rtp.subarray(16, 18))).toBe('a028');
  });

  it('rejects malformed frames and out-of-range options', () => {
    expect(() =>
      mediaFrameToRtp(unhex('41 01020304 1234 0a0b0c0d 01 1e'), {
        payloadType: 100,
        audioLevelExtensionId: 10,
        marker: false,
      }),
    ).toThrow(ProtocolError);
    const ok = unhex(FRAME);
    expect(() =>
      mediaFrameToRtp(ok, { payloadType: 128, audioLevelExtensionId: 10, marker: false }),
    ).toThrow(RangeError);
    expect(() =>
      mediaFrameToRtp(ok, { payloadType: 100, audioLevelExtensionId: 15, marker: false }),
    ).toThrow(/audioLevelExtensionId/);
  });
});

describe('RTP → Concord media frame', () => {
  it('round-trips a frame, restamped with the member’s Concord ssrc', () => {
    const frame = rtpToMediaFrame(unhex(RTP), { ssrc: 0x05060708, audioLevelExtensionId: 10 });
    expect(hex(frame)).toBe('40' + '05060708' + '1234' + '0a0b0c0d' + '01' + '1e' + '78aabb');
  });

  it('reads the two-byte extension profile, CSRCs and padding', () => {
    // V=2 P=1 X=1 CC=1 → 0xb1; PT 100; one CSRC; profile 0x1000, 1 word: id 10, len 1, 0x9e, pad;
    // payload 78 aa bb; 2 bytes of padding (last byte = 2).
    const packet = unhex(
      'b1 64 0001 00000960 01020304 deadbeef 1000 0001 0a 01 9e 00 78aabb 00 02',
    );
    const info = parseRtp(packet, 10);
    expect(info).toMatchObject({
      marker: false,
      payloadType: 100,
      seq: 1,
      timestamp: 2400,
      ssrc: 0x01020304,
      payloadOffset: 24,
      payloadBytes: 3,
      audioLevel: { voice: true, level: 30 },
    });
    expect(hex(rtpToMediaFrame(packet, { ssrc: 9, audioLevelExtensionId: 10 }))).toBe(
      '40' + '00000009' + '0001' + '00000960' + '01' + '1e' + '78aabb',
    );
  });

  it('skips other extension elements and stops at id 15', () => {
    // one-byte elements: id 3 len 2 (3 bytes: 31 aa bb), id 10 len 1 (a0 50), pad → 2 words
    const packet = unhex('90 64 0002 00000000 00000001 bede 0002 31aabb a050 000000 78aabb');
    expect(parseRtp(packet, 10).audioLevel).toEqual({ voice: false, level: 0x50 });
    const stopped = unhex('90 64 0002 00000000 00000001 bede 0001 f0 a0 50 00 78aabb');
    expect(parseRtp(stopped, 10).audioLevel).toBeUndefined();
  });

  it('flags DTX for a payload of at most 2 bytes, never speech', () => {
    const packet = unhex('90 64 0003 00000000 00000001 bede 0001 a0 9e 0000 f8');
    const f = decodeMediaFrame(rtpToMediaFrame(packet, { ssrc: 7, audioLevelExtensionId: 10 }));
    expect(f.flags).toBe(MediaFlags.Dtx);
  });

  it('derives speech from the level when the V bit is clear, and FEC from the LBRR bit', () => {
    const at = (level: number, payload: string): number =>
      decodeMediaFrame(
        rtpToMediaFrame(
          unhex(
            `90 64 0003 00000000 00000001 bede 0001 a0 ${level.toString(16).padStart(2, '0')} 0000 ${payload}`,
          ),
          { ssrc: 7, audioLevelExtensionId: 10 },
        ),
      ).flags;
    expect(at(SPEECH_LEVEL_MAX, '78aabb')).toBe(MediaFlags.Speech);
    expect(at(SPEECH_LEVEL_MAX + 1, '78aabb')).toBe(0);
    // 0xea = 1110 1010: VAD 1, LBRR 1 in the first SILK frame's header bits
    expect(at(SPEECH_LEVEL_MAX + 1, '78eabb')).toBe(MediaFlags.Fec);
  });

  it('uses level 127 without an audio level element, and adds extra flags', () => {
    const packet = unhex('80 64 0003 00000000 00000001 78aabb'); // no extension at all
    const f = decodeMediaFrame(
      rtpToMediaFrame(packet, { ssrc: 7, extraFlags: MediaFlags.Resumed }),
    );
    expect(f).toMatchObject({ level: 127, flags: MediaFlags.Resumed, seq: 3 });
  });

  it('round-trips through both converters for every flag combination senders use', () => {
    for (const flags of [
      0,
      MediaFlags.Speech,
      MediaFlags.Dtx,
      MediaFlags.Speech | MediaFlags.Fec,
    ]) {
      const payload =
        flags & MediaFlags.Dtx ? unhex('f8') : unhex(flags & MediaFlags.Fec ? '78eabb' : '78aabb');
      const level = flags & MediaFlags.Speech ? 20 : 90;
      const frame = encodeMediaFrame(
        { ssrc: 42, seq: 65_535, timestamp: 0xffffffff, flags, level },
        payload,
      );
      const rtp = mediaFrameToRtp(frame, {
        payloadType: 100,
        audioLevelExtensionId: 10,
        marker: false,
      });
      expect(hex(rtpToMediaFrame(rtp, { ssrc: 42, audioLevelExtensionId: 10 }))).toBe(hex(frame));
    }
  });

  it('throws SfuError INVALID_RTP for malformed packets, whatever the bytes', () => {
    const cases = [
      '90 64 00', // shorter than the header
      '50 64 0001 00000000 00000001 78', // version 1
      '92 64 0001 00000000 00000001 aabbccdd', // CSRC list past the end
      '90 64 0001 00000000 00000001 bede 0004 a0 9e 0000', // extension past the end
      'a0 64 0001 00000000 00000001 78 09', // padding count past the payload
      'a0 64 0001 00000000 00000001 78 00', // padding count 0
    ];
    for (const c of cases) {
      let error: unknown;
      try {
        rtpToMediaFrame(unhex(c), { ssrc: 1, audioLevelExtensionId: 10 });
      } catch (e) {
        error = e;
      }
      expect(error, c).toBeInstanceOf(SfuError);
      expect((error as SfuError).code).toBe('CONCORD_ERR_SFU_INVALID_RTP');
    }
    // Random bytes never throw anything else.
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 2_000; i++) {
      const bytes = Uint8Array.from({ length: 1 + (rand() % 40) }, rand);
      try {
        rtpToMediaFrame(bytes, { ssrc: 1, audioLevelExtensionId: 10 });
      } catch (e) {
        expect(e).toBeInstanceOf(SfuError);
      }
    }
  });

  it('rejects an Opus payload over 1275 bytes with INVALID_RTP', () => {
    const packet = new Uint8Array(12 + 1_276);
    packet.set(unhex('80 64 0001 00000000 00000001'));
    expect(() => rtpToMediaFrame(packet, { ssrc: 1 })).toThrow(/1275/);
  });
});
