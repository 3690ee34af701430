import { ConcordError } from '@concord/protocol';
import { describe, expect, it } from 'vitest';
import { SfuError } from './SfuError.js';
import { checkDtlsParameters, checkRtpCapabilities, checkRtpParameters } from './sfuParams.js';

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('SfuError', () => {
  it('is a ConcordError with a stable code, its class name and the cause', () => {
    const cause = new Error('x');
    const e = SfuError.unavailable('no worker', cause);
    expect(e).toBeInstanceOf(ConcordError);
    expect(e.name).toBe('SfuError');
    expect(e.code).toBe('CONCORD_ERR_SFU_UNAVAILABLE');
    expect(e.cause).toBe(cause);
    expect(SfuError.unknownTransport('t1').code).toBe('CONCORD_ERR_SFU_UNKNOWN_TRANSPORT');
    expect(SfuError.notOwner('transport t1', 'm2').message).toBe(
      'transport t1 does not belong to member m2',
    );
  });

  it('never echoes a huge or non-string id from a client', () => {
    expect(SfuError.unknownProducer('p'.repeat(1_000)).message.length).toBeLessThan(120);
    expect(SfuError.unknownConsumer({ evil: true }).message).toBe('unknown consumer (object)');
  });

  it('maps mediasoup exceptions: TypeError and UnsupportedError are bad parameters', () => {
    const typeError = SfuError.fromMediasoup('transport.produce', new TypeError('missing codecs'));
    expect(typeError.code).toBe('CONCORD_ERR_SFU_INVALID_PARAMETERS');
    expect(typeError.message).toContain('transport.produce: missing codecs');
    const unsupported = new Error('unsupported codec');
    unsupported.name = 'UnsupportedError';
    expect(SfuError.fromMediasoup('produce', unsupported).code).toBe(
      'CONCORD_ERR_SFU_INVALID_PARAMETERS',
    );
    const invalidState = new Error('Channel closed');
    invalidState.name = 'InvalidStateError';
    const internal = SfuError.fromMediasoup('consume', invalidState);
    expect(internal.code).toBe('CONCORD_ERR_SFU_INTERNAL');
    expect(internal.cause).toBe(invalidState);
    expect(SfuError.fromMediasoup('x', 'a string').code).toBe('CONCORD_ERR_SFU_INTERNAL');
    const own = SfuError.limit('one producer');
    expect(SfuError.fromMediasoup('x', own)).toBe(own);
  });
});

describe('parameter outline checks', () => {
  const dtls = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] };
  const rtp = {
    codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48_000, channels: 2 }],
    headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }],
    encodings: [{ ssrc: 1234 }],
    rtcp: { cname: 'x' },
  };
  const invalid = (fn: () => void): string => {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(SfuError);
    expect((e as SfuError).code).toBe('CONCORD_ERR_SFU_INVALID_PARAMETERS');
    return (e as SfuError).message;
  };

  it('accepts well-formed parameters', () => {
    expect(() => checkDtlsParameters(dtls)).not.toThrow();
    expect(() => checkRtpParameters(rtp)).not.toThrow();
    expect(() =>
      checkRtpCapabilities({
        codecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000 }],
      }),
    ).not.toThrow();
  });

  it('rejects malformed DTLS parameters', () => {
    expect(invalid(() => checkDtlsParameters(null))).toMatch(/object/);
    expect(invalid(() => checkDtlsParameters({ fingerprints: [] }))).toMatch(/empty/);
    expect(invalid(() => checkDtlsParameters({ ...dtls, role: 'boss' }))).toMatch(/role/);
    expect(
      invalid(() => checkDtlsParameters({ fingerprints: [{ algorithm: 1, value: 'x' }] })),
    ).toMatch(/algorithm/);
  });

  it('rejects malformed or non-audio RTP parameters', () => {
    expect(invalid(() => checkRtpParameters({ codecs: 'opus' }))).toMatch(/array/);
    expect(
      invalid(() =>
        checkRtpParameters({
          codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90_000 }],
        }),
      ),
    ).toMatch(/not an audio codec/);
    expect(
      invalid(() =>
        checkRtpParameters({ ...rtp, codecs: [{ ...rtp.codecs[0], payloadType: 300 }] }),
      ),
    ).toMatch(/payloadType/);
    expect(
      invalid(() => checkRtpParameters({ ...rtp, headerExtensions: [{ uri: 'u', id: 0 }] })),
    ).toMatch(/id/);
  });

  it('bounds what a client can make it walk', () => {
    const many = Array.from({ length: 65 }, () => rtp.codecs[0]);
    expect(invalid(() => checkRtpParameters({ codecs: many }))).toMatch(/at most 64/);
    expect(invalid(() => checkRtpCapabilities({ codecs: [], pad: 'x'.repeat(20_000) }))).toMatch(
      /16384/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(invalid(() => checkRtpCapabilities(cyclic))).toMatch(/not JSON/);
  });
});
