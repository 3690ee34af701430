// Ownership and input checks of the SFU API against a real mediasoup worker: every wrong
// request is a typed SfuError, never a crash. Loopback-only namespace (vitest.netns.config.ts).
import { encodeMediaFrame, MediaFlags, ProtocolError } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sfu, SfuTransportInfo } from '../src/sfu/Sfu.js';
import { SfuError, type SfuErrorCode } from '../src/sfu/SfuError.js';
import type { testLogger } from './sfuHarness.js';
import { startSfu } from './sfuHarness.js';

let sfu: Sfu;
let logger: ReturnType<typeof testLogger>;
let aliceSend: SfuTransportInfo;
let aliceRecv: SfuTransportInfo;
let bobSend: SfuTransportInfo;
let bobRecv: SfuTransportInfo;
let otherRoomProducer: string;

/** Valid audio RTP parameters as a Chrome client sends them (Opus, one encoding). */
const rtpParameters = (ssrc: number) => ({
  codecs: [
    {
      mimeType: 'audio/opus',
      payloadType: 111,
      clockRate: 48_000,
      channels: 2,
      parameters: { minptime: 10, useinbandfec: 1 },
      rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
    },
  ],
  headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }],
  encodings: [{ ssrc }],
  rtcp: { cname: `c${ssrc}`, reducedSize: true },
});

const dtls = {
  role: 'client',
  fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }],
};

/** Resolves with the SfuError code `promise` rejects with. */
async function code(promise: Promise<unknown>): Promise<SfuErrorCode> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(SfuError);
    return (e as SfuError).code;
  }
  throw new Error('did not reject');
}

// Each test gets a fresh SFU (a worker starts in ~50 ms) with the same cast.
beforeEach(async () => {
  ({ sfu, logger } = await startSfu());
  await sfu.join('room', 'alice', 101, 'webrtc');
  await sfu.join('room', 'bob', 102, 'webrtc');
  await sfu.join('room', 'ws-carol', 103, 'websocket');
  await sfu.join('other', 'dave', 201, 'webrtc');
  aliceSend = await sfu.createTransport('room', 'alice', 'send');
  aliceRecv = await sfu.createTransport('room', 'alice', 'recv');
  bobSend = await sfu.createTransport('room', 'bob', 'send');
  bobRecv = await sfu.createTransport('room', 'bob', 'recv');
  const daveSend = await sfu.createTransport('other', 'dave', 'send');
  ({ producerId: otherRoomProducer } = await sfu.produce(
    'dave',
    daveSend.id,
    'audio',
    rtpParameters(2001),
  ));
});

afterEach(() => sfu.close());

describe('SFU ownership and input checks (real worker)', () => {
  it('gives transports with ICE candidates on 127.0.0.1 only, UDP preferred and TCP offered', () => {
    const candidates = aliceSend.iceCandidates as {
      ip: string;
      protocol: string;
      priority: number;
    }[];
    expect(candidates.map((c) => c.ip)).toEqual(candidates.map(() => '127.0.0.1'));
    const udp = candidates.find((c) => c.protocol === 'udp')!;
    const tcp = candidates.find((c) => c.protocol === 'tcp')!;
    expect(udp.priority).toBeGreaterThan(tcp.priority);
  });

  it('connect: only the owner, only well-formed DTLS parameters', async () => {
    expect(await code(sfu.connectTransport('bob', aliceSend.id, dtls))).toBe(
      'CONCORD_ERR_SFU_NOT_OWNER',
    );
    expect(await code(sfu.connectTransport('alice', 'no-such-id', dtls))).toBe(
      'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT',
    );
    expect(await code(sfu.connectTransport('alice', { id: 1 }, dtls))).toBe(
      'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT',
    );
    expect(await code(sfu.connectTransport('alice', aliceSend.id, { fingerprints: 'x' }))).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    // Outline fine, rejected by mediasoup itself (unknown hash algorithm): wrapped.
    const badAlgorithm = { fingerprints: [{ algorithm: 'md5', value: 'AB' }] };
    expect(await code(sfu.connectTransport('alice', aliceSend.id, badAlgorithm))).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    await sfu.connectTransport('alice', aliceRecv.id, dtls); // the owner may
  });

  it('produce: own send transport only, audio only, one producer, valid parameters', async () => {
    expect(await code(sfu.produce('bob', aliceSend.id, 'audio', rtpParameters(1)))).toBe(
      'CONCORD_ERR_SFU_NOT_OWNER',
    );
    expect(await code(sfu.produce('alice', aliceRecv.id, 'audio', rtpParameters(1)))).toBe(
      'CONCORD_ERR_SFU_WRONG_DIRECTION',
    );
    expect(await code(sfu.produce('alice', aliceSend.id, 'video', rtpParameters(1)))).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    const pcma = {
      ...rtpParameters(1),
      codecs: [{ mimeType: 'audio/PCMA', payloadType: 8, clockRate: 8_000 }],
    };
    expect(await code(sfu.produce('alice', aliceSend.id, 'audio', pcma))).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    const { producerId } = await sfu.produce('alice', aliceSend.id, 'audio', rtpParameters(1001));
    expect(typeof producerId).toBe('string');
    expect(await code(sfu.produce('alice', aliceSend.id, 'audio', rtpParameters(1002)))).toBe(
      'CONCORD_ERR_SFU_LIMIT',
    );
  });

  it('consume: own receive transport, producers of its room only, never itself', async () => {
    await sfu.produce('alice', aliceSend.id, 'audio', rtpParameters(1001));
    const [alicesProducer] = sfu.producersOf('room').filter((p) => p.memberId === 'alice');
    const caps = await sfu.rtpCapabilities();
    expect(await code(sfu.consume('alice', bobRecv.id, alicesProducer!.producerId, caps))).toBe(
      'CONCORD_ERR_SFU_NOT_OWNER',
    );
    expect(await code(sfu.consume('bob', bobSend.id, alicesProducer!.producerId, caps))).toBe(
      'CONCORD_ERR_SFU_WRONG_DIRECTION',
    );
    expect(await code(sfu.consume('bob', bobRecv.id, otherRoomProducer, caps))).toBe(
      'CONCORD_ERR_SFU_UNKNOWN_PRODUCER',
    );
    expect(await code(sfu.consume('alice', aliceRecv.id, alicesProducer!.producerId, caps))).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    const noOpus = { codecs: [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8_000 }] };
    expect(await code(sfu.consume('bob', bobRecv.id, alicesProducer!.producerId, noOpus))).toBe(
      'CONCORD_ERR_SFU_CANNOT_CONSUME',
    );
    const c = await sfu.consume('bob', bobRecv.id, alicesProducer!.producerId, caps);
    expect(c).toMatchObject({
      producerId: alicesProducer!.producerId,
      memberId: 'alice',
      kind: 'audio',
    });
    expect(await code(sfu.consume('bob', bobRecv.id, alicesProducer!.producerId, caps))).toBe(
      'CONCORD_ERR_SFU_LIMIT',
    );
    expect(await code(sfu.resumeConsumer('alice', c.id))).toBe('CONCORD_ERR_SFU_NOT_OWNER');
    expect(await code(sfu.resumeConsumer('bob', 'nope'))).toBe('CONCORD_ERR_SFU_UNKNOWN_CONSUMER');
    await sfu.resumeConsumer('bob', c.id);
    await sfu.pauseConsumer('bob', c.id);
    expect(await code(sfu.closeProducer('bob', alicesProducer!.producerId))).toBe(
      'CONCORD_ERR_SFU_NOT_OWNER',
    );
  });

  it('media path: WebRTC calls from a WebSocket member and frames from a WebRTC one are refused', async () => {
    expect(await code(sfu.createTransport('room', 'ws-carol', 'send'))).toBe(
      'CONCORD_ERR_SFU_WRONG_MEDIA_PATH',
    );
    const frame = (ssrc: number) =>
      encodeMediaFrame(
        { ssrc, seq: 1, timestamp: 960, flags: MediaFlags.Speech, level: 30 },
        new Uint8Array([0x78, 1, 2]),
      );
    expect(() => sfu.pushFrame('room', 'alice', frame(101))).toThrow(
      expect.objectContaining({ code: 'CONCORD_ERR_SFU_WRONG_MEDIA_PATH' }),
    );
    expect(() => sfu.pushFrame('room', 'ws-carol', frame(101))).toThrow(
      expect.objectContaining({ code: 'CONCORD_ERR_SFU_SSRC_MISMATCH' }),
    );
    expect(() => sfu.pushFrame('room', 'ws-carol', new Uint8Array([0x40, 0, 0]))).toThrow(
      ProtocolError,
    );
    expect(() => sfu.pushFrame('nowhere', 'ws-carol', frame(103))).toThrow(
      expect.objectContaining({ code: 'CONCORD_ERR_SFU_NOT_IN_ROOM' }),
    );
    expect(sfu.pushFrame('room', 'ws-carol', frame(103))).toBe(true);
    expect(await code(sfu.createTransport('nowhere', 'alice', 'send'))).toBe(
      'CONCORD_ERR_SFU_NOT_IN_ROOM',
    );
    expect(await code(sfu.join('room', 'alice', 999, 'webrtc'))).toBe(
      'CONCORD_ERR_SFU_ALREADY_JOINED',
    );
  });

  it('a new transport of one direction replaces the old one with what lived on it', async () => {
    await sfu.produce('alice', aliceSend.id, 'audio', rtpParameters(1001));
    const closed: string[] = [];
    sfu.on('producerClosed', (e) => closed.push(e.memberId));
    const again = await sfu.createTransport('room', 'alice', 'send');
    expect(closed).toEqual(['alice']);
    expect(await code(sfu.connectTransport('alice', aliceSend.id, dtls))).toBe(
      'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT',
    );
    await sfu.produce('alice', again.id, 'audio', rtpParameters(1003));
  });

  it('after leaving, the member’s ids are unknown; rooms empty out; after close every call fails CLOSED', async () => {
    await sfu.leave('room', 'bob');
    await sfu.leave('room', 'bob'); // idempotent
    expect(await code(sfu.connectTransport('bob', bobRecv.id, dtls))).toBe(
      'CONCORD_ERR_SFU_UNKNOWN_TRANSPORT',
    );
    await sfu.leave('other', 'dave');
    const stats = await sfu.stats();
    expect(stats.rooms).toBe(1);
    expect(stats.members).toBe(2);
    expect(stats.transports).toBe(2);
    expect(logger.entries.filter((e) => e.level === 'error')).toEqual([]);
    sfu.close();
    sfu.close(); // idempotent
    expect(await code(sfu.createTransport('room', 'alice', 'recv'))).toBe('CONCORD_ERR_SFU_CLOSED');
    expect(await code(sfu.join('room', 'eve', 5, 'webrtc'))).toBe('CONCORD_ERR_SFU_CLOSED');
    expect(() => sfu.pushFrame('room', 'ws-carol', new Uint8Array(13))).toThrow(
      expect.objectContaining({ code: 'CONCORD_ERR_SFU_CLOSED' }),
    );
  });
});
