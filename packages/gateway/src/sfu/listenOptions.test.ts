import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LISTEN_OPTIONS,
  listenShapeOf,
  webRtcListenConfig,
  type SfuListenOptions,
} from './listenOptions.js';

const options = (patch: Partial<SfuListenOptions> = {}): SfuListenOptions => ({
  ...DEFAULT_LISTEN_OPTIONS,
  ...patch,
});

describe('listen options per mediasoup release', () => {
  it('picks listenIps up to 3.13 and listenInfos from 3.14', () => {
    expect(listenShapeOf('3.8.4')).toBe('listenIps');
    expect(listenShapeOf('3.13.24')).toBe('listenIps');
    expect(listenShapeOf('3.14.0')).toBe('listenInfos');
    expect(listenShapeOf('3.19.2')).toBe('listenInfos');
    expect(() => listenShapeOf('2.6.1')).toThrow(RangeError);
    expect(() => listenShapeOf('latest')).toThrow(/mediasoup 3\.x/);
  });

  it('3.8.4: listenIps on the transport, the port range on the worker', () => {
    const c = webRtcListenConfig(
      '3.8.4',
      options({ announcedIp: '203.0.113.7', portRange: { min: 41_000, max: 41_099 } }),
    );
    expect(c).toEqual({
      shape: 'listenIps',
      workerSettings: { rtcMinPort: 41_000, rtcMaxPort: 41_099 },
      transportOptions: {
        listenIps: [{ ip: '127.0.0.1', announcedIp: '203.0.113.7' }],
        enableUdp: true,
        enableTcp: true,
        preferUdp: true,
      },
    });
  });

  it('3.8.4 without an announced address leaves the field out', () => {
    const c = webRtcListenConfig('3.8.4', options());
    expect(c.transportOptions.listenIps).toEqual([{ ip: '127.0.0.1' }]);
    expect(c.workerSettings).toEqual({ rtcMinPort: 40_000, rtcMaxPort: 49_999 });
  });

  it('current releases: one listenInfo per enabled protocol with the port range, none on the worker', () => {
    const c = webRtcListenConfig(
      '3.16.3',
      options({ listenIp: '0.0.0.0', announcedIp: 'sfu.example.org', preferUdp: false }),
    );
    expect(c).toEqual({
      shape: 'listenInfos',
      workerSettings: {},
      transportOptions: {
        listenInfos: [
          {
            protocol: 'udp',
            ip: '0.0.0.0',
            announcedAddress: 'sfu.example.org',
            portRange: { min: 40_000, max: 49_999 },
          },
          {
            protocol: 'tcp',
            ip: '0.0.0.0',
            announcedAddress: 'sfu.example.org',
            portRange: { min: 40_000, max: 49_999 },
          },
        ],
        enableUdp: true,
        enableTcp: true,
        preferUdp: false,
      },
    });
    const udpOnly = webRtcListenConfig('3.16.3', options({ enableTcp: false }));
    expect(udpOnly.transportOptions.listenInfos).toEqual([
      { protocol: 'udp', ip: '127.0.0.1', portRange: { min: 40_000, max: 49_999 } },
    ]);
  });

  it('rejects bad ranges, no protocol and an empty address', () => {
    expect(() =>
      webRtcListenConfig('3.8.4', options({ portRange: { min: 50_000, max: 40_000 } })),
    ).toThrow(/portRange/);
    expect(() => webRtcListenConfig('3.8.4', options({ portRange: { min: 80, max: 90 } }))).toThrow(
      RangeError,
    );
    expect(() =>
      webRtcListenConfig('3.16.0', options({ enableUdp: false, enableTcp: false })),
    ).toThrow(/enableUdp/);
    expect(() => webRtcListenConfig('3.16.0', options({ listenIp: '' }))).toThrow(/listenIp/);
  });
});
