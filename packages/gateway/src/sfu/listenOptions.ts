// Where WebRTC transports listen, in the shape the loaded mediasoup release expects. This is the
// one place that knows the difference between releases:
// - mediasoup ≤ 3.13 (3.8.4 is what builds offline here): `listenIps: [{ ip, announcedIp }]` on
//   the transport, the UDP/TCP port range on the worker (`rtcMinPort`/`rtcMaxPort`);
// - mediasoup ≥ 3.14: `listenInfos: [{ protocol, ip, announcedAddress, portRange }]`, one per
//   protocol, and no port range on the worker (the worker settings are deprecated there).
// https://mediasoup.org/documentation/v3/mediasoup/api/#TransportListenInfo

/** Where and how the SFU's WebRTC transports listen. */
export interface SfuListenOptions {
  /** Local address to bind (default 127.0.0.1: loopback only). */
  listenIp: string;
  /** Address given to clients in ICE candidates when it differs (NAT, container); optional. */
  announcedIp?: string;
  /** UDP/TCP ports to use, inclusive (default 40000–49999). */
  portRange: { min: number; max: number };
  /** Offer UDP candidates (default true). */
  enableUdp: boolean;
  /** Offer TCP candidates too (default true), for networks that block UDP. */
  enableTcp: boolean;
  /** Rank UDP candidates above TCP (default true). */
  preferUdp: boolean;
}

/** Defaults of {@link SfuListenOptions}. */
export const DEFAULT_LISTEN_OPTIONS: Readonly<SfuListenOptions> = Object.freeze({
  listenIp: '127.0.0.1',
  portRange: Object.freeze({ min: 40_000, max: 49_999 }),
  enableUdp: true,
  enableTcp: true,
  preferUdp: true,
});

/** Which listen options shape a mediasoup release takes. */
export type ListenShape = 'listenIps' | 'listenInfos';

/** Settings derived from {@link SfuListenOptions} for one mediasoup release. */
export interface WebRtcListenConfig {
  shape: ListenShape;
  /** Merge into `createWorker` settings. */
  workerSettings: { rtcMinPort?: number; rtcMaxPort?: number };
  /** Merge into `router.createWebRtcTransport` options. */
  transportOptions: Record<string, unknown>;
}

/**
 * The listen options shape of mediasoup `version` (e.g. `'3.8.4'`): `listenInfos` from 3.14 on,
 * `listenIps` before. Any thread.
 * @throws {RangeError} when `version` is not `major.minor.patch` of mediasoup 3.
 */
export function listenShapeOf(version: string): ListenShape {
  const m = /^3\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new RangeError(`version must be a mediasoup 3.x version, got "${version}"`);
  return Number(m[1]) >= 14 ? 'listenInfos' : 'listenIps';
}

/**
 * Worker settings and transport options for `options` on mediasoup `version`. Any thread.
 * @throws {RangeError} for an unknown version, an empty or inverted port range, ports outside
 * 1024–65535, or both protocols disabled.
 */
export function webRtcListenConfig(version: string, options: SfuListenOptions): WebRtcListenConfig {
  const { min, max } = options.portRange;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1024 || max > 65_535 || min > max)
    throw new RangeError(
      `portRange must be integers with 1024 ≤ min ≤ max ≤ 65535, got ${min}–${max}`,
    );
  if (!options.enableUdp && !options.enableTcp)
    throw new RangeError('enableUdp and enableTcp must not both be false');
  if (typeof options.listenIp !== 'string' || options.listenIp === '')
    throw new RangeError('listenIp must be an IP address');
  const switches = {
    enableUdp: options.enableUdp,
    enableTcp: options.enableTcp,
    preferUdp: options.preferUdp,
  };
  const shape = listenShapeOf(version);
  if (shape === 'listenIps') {
    const listenIp: { ip: string; announcedIp?: string } = { ip: options.listenIp };
    if (options.announcedIp !== undefined) listenIp.announcedIp = options.announcedIp;
    return {
      shape,
      workerSettings: { rtcMinPort: min, rtcMaxPort: max },
      transportOptions: { listenIps: [listenIp], ...switches },
    };
  }
  const protocols: ('udp' | 'tcp')[] = [];
  if (options.enableUdp) protocols.push('udp');
  if (options.enableTcp) protocols.push('tcp');
  const listenInfos = protocols.map((protocol) => {
    const info: {
      protocol: 'udp' | 'tcp';
      ip: string;
      announcedAddress?: string;
      portRange: { min: number; max: number };
    } = { protocol, ip: options.listenIp, portRange: { min, max } };
    if (options.announcedIp !== undefined) info.announcedAddress = options.announcedIp;
    return info;
  });
  return { shape, workerSettings: {}, transportOptions: { listenInfos, ...switches } };
}
