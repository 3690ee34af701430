import { describe, expect, it } from 'vitest';
import { clientRtpCapabilities } from './Sfu.js';

const TCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

describe('clientRtpCapabilities', () => {
  it('drops transport-wide congestion control for audio only, keeps everything else', () => {
    const caps = {
      codecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2 }],
      headerExtensions: [
        { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', preferredId: 10 },
        { kind: 'audio', uri: TCC, preferredId: 5 },
        { kind: 'video', uri: TCC, preferredId: 5 },
      ],
    };
    expect(clientRtpCapabilities(caps)).toEqual({
      codecs: caps.codecs,
      headerExtensions: [caps.headerExtensions[0], caps.headerExtensions[2]],
    });
    expect(caps.headerExtensions).toHaveLength(3); // not mutated
    expect(clientRtpCapabilities(null)).toBeNull();
    expect(clientRtpCapabilities({ codecs: [] })).toEqual({ codecs: [] });
  });
});
