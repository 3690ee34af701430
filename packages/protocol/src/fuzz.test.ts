import { rng } from '@concord/testing'; // seeded mulberry32: the same inputs every run
import { describe, expect, it } from 'vitest';
import { FrameCodec } from './codec.js';
import { SAMPLE_MESSAGES } from './fixtures.test-util.js';
import { Op, type Message } from './messages.js';
import { makeInput } from './fuzzInputs.test-util.js';
import { ProtocolError } from './ProtocolError.js';

const CASES = Number(process.env.CONCORD_FUZZ_CASES ?? 120_000);
const limits = {
  maxFrameBytes: 16 * 1024,
  maxDecompressedBytes: 64 * 1024,
  maxStringBytes: 512,
  maxArrayLength: 256,
  maxDepth: 6,
  maxMessagesPerBatch: 64,
};

describe('decoder fuzzing', () => {
  it(`throws only ProtocolError, and stays within its limits, on ${CASES} random and mutated frames`, () => {
    const next = rng(0xc0c0a);
    const codec = new FrameCodec({ limits, compressionThresholdBytes: 64 });
    const bigRoom: Message = {
      op: Op.Dispatch,
      seq: 5,
      t: 'ROOM_JOINED',
      d: {
        req: 1,
        room: 'lobby',
        participants: Array.from({ length: 40 }, (_, i) => ({
          userId: `user-${i}`,
          name: `P${i}`,
          muted: i % 2 === 0,
          deafened: false,
          speaking: false,
          ssrc: 1 + i * 7919,
          webrtc: i % 3 === 0,
        })),
      },
    };
    const seeds = [
      ...SAMPLE_MESSAGES.map((m) => codec.encode(m)),
      codec.encode(SAMPLE_MESSAGES),
      codec.encode(bigRoom),
    ];
    const stats = { accepted: 0, rejected: 0, byCode: new Map<number, number>() };
    const baseline = process.memoryUsage().arrayBuffers;
    let peakGrowth = 0;

    for (let i = 0; i < CASES; i++) {
      const input = makeInput(next, seeds);
      try {
        const messages = codec.decode(input);
        stats.accepted++;
        // Whatever was accepted re-encodes to no more than the decompressed limit.
        const size = messages.reduce((s, m) => s + codec.encodeMessage(m).length, 0);
        expect(size).toBeLessThanOrEqual(limits.maxDecompressedBytes);
      } catch (e) {
        if (!(e instanceof ProtocolError)) {
          throw new Error(
            `case ${i}: non-ProtocolError ${String(e)} for ${Buffer.from(input).toString('hex').slice(0, 200)}`,
            { cause: e },
          );
        }
        stats.rejected++;
        stats.byCode.set(e.closeCode, (stats.byCode.get(e.closeCode) ?? 0) + 1);
      }
      if (i % 5000 === 0)
        peakGrowth = Math.max(peakGrowth, process.memoryUsage().arrayBuffers - baseline);
    }
    // Both outcomes must be exercised, and several distinct close codes hit.
    expect(stats.accepted).toBeGreaterThan(CASES / 100);
    expect(stats.rejected).toBeGreaterThan(CASES / 2);
    expect(stats.byCode.size).toBeGreaterThanOrEqual(4);
    // No input made the decoder hold much more than a few maximum-size payloads.
    expect(peakGrowth).toBeLessThan(64 * limits.maxDecompressedBytes);
  });
});
