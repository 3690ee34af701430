// The parts of mediasoup's Node API the SFU module uses, typed narrowly here so the gateway
// compiles without mediasoup or its types installed (it is loaded at run time, see
// mediasoupLoader.ts). The shapes hold for mediasoup 3.8.4 and for current 3.x releases
// (https://mediasoup.org/documentation/v3/mediasoup/api/); where they differ (listen options,
// port range) the difference lives in listenOptions.ts. Parameters that mediasoup validates
// itself (RTP/DTLS parameters and capabilities) are `unknown` JSON here: the SFU checks their
// outline (sfuParams.ts) and wraps mediasoup's own errors.

/** A listener of a mediasoup event; arguments as documented per event. */
export type MsListener = (...args: never[]) => void;

/** mediasoup's EventEmitter subset. */
export interface MsEmitter {
  on(event: string, listener: MsListener): unknown;
  once(event: string, listener: MsListener): unknown;
  off?(event: string, listener: MsListener): unknown;
  removeListener(event: string, listener: MsListener): unknown;
}

/** RTP capabilities (`router.rtpCapabilities`, a device's capabilities): JSON. */
export interface MsRtpCapabilities {
  codecs?: MsRtpCodecCapability[];
  headerExtensions?: MsRtpHeaderExtension[];
}

/** One codec of {@link MsRtpCapabilities}. */
export interface MsRtpCodecCapability {
  kind: 'audio' | 'video';
  mimeType: string;
  clockRate: number;
  channels?: number;
  preferredPayloadType?: number;
  parameters?: Record<string, string | number>;
}

/** A header extension of capabilities or parameters. */
export interface MsRtpHeaderExtension {
  uri: string;
  id?: number;
  preferredId?: number;
  kind?: string;
  direction?: string;
}

/** RTP parameters of a producer or consumer (the fields the SFU reads). */
export interface MsRtpParameters {
  codecs: { mimeType: string; payloadType: number; clockRate: number }[];
  headerExtensions?: { uri: string; id: number }[];
  encodings?: { ssrc?: number }[];
}

/** Worker settings (3.8.4: port range here; current releases: per listen info). */
export interface MsWorkerSettings {
  logLevel?: 'debug' | 'warn' | 'error' | 'none';
  rtcMinPort?: number;
  rtcMaxPort?: number;
}

/** `worker.getResourceUsage()`: getrusage(2) of the worker process; times in ms. */
export interface MsWorkerResourceUsage {
  ru_utime: number;
  ru_stime: number;
  ru_maxrss: number;
}

/** A mediasoup worker: one C++ process. Events: `died` (error). */
export interface MsWorker extends MsEmitter {
  readonly pid: number;
  readonly closed: boolean;
  close(): void;
  createRouter(options: { mediaCodecs: MsRtpCodecCapability[] }): Promise<MsRouter>;
  getResourceUsage(): Promise<MsWorkerResourceUsage>;
}

/** A router: one room's media plane. */
export interface MsRouter extends MsEmitter {
  readonly id: string;
  readonly closed: boolean;
  readonly rtpCapabilities: MsRtpCapabilities;
  close(): void;
  canConsume(options: { producerId: string; rtpCapabilities: unknown }): boolean;
  /** Options from {@link webRtcListenConfig} plus the UDP/TCP switches. */
  createWebRtcTransport(options: Record<string, unknown>): Promise<MsWebRtcTransport>;
  createDirectTransport(options?: { maxMessageSize?: number }): Promise<MsDirectTransport>;
  createAudioLevelObserver(options: {
    maxEntries: number;
    threshold: number;
    interval: number;
  }): Promise<MsAudioLevelObserver>;
}

/** Transport statistics entry (`getStats()`); the fields the SFU sums. */
export interface MsTransportStat {
  type: string;
  bytesReceived?: number;
  bytesSent?: number;
  rtpBytesReceived?: number;
  rtpBytesSent?: number;
}

/** What transports share. */
export interface MsTransport extends MsEmitter {
  readonly id: string;
  readonly closed: boolean;
  close(): void;
  produce(options: {
    kind: 'audio';
    rtpParameters: unknown;
    paused?: boolean;
    appData?: Record<string, unknown>;
  }): Promise<MsProducer>;
  consume(options: {
    producerId: string;
    rtpCapabilities?: unknown;
    paused?: boolean;
    appData?: Record<string, unknown>;
  }): Promise<MsConsumer>;
  getStats(): Promise<MsTransportStat[]>;
}

/** ICE/DTLS endpoint towards one client. Events: `dtlsstatechange` (state). */
export interface MsWebRtcTransport extends MsTransport {
  readonly iceParameters: unknown;
  readonly iceCandidates: unknown[];
  readonly dtlsParameters: unknown;
  readonly dtlsState: string;
  connect(options: { dtlsParameters: unknown }): Promise<void>;
}

/** A transport whose RTP goes to and from Node (`producer.send`, consumer `rtp` events). */
export type MsDirectTransport = MsTransport;

/** An incoming stream. DirectTransport producers take packets with `send`. */
export interface MsProducer extends MsEmitter {
  readonly id: string;
  readonly kind: string;
  readonly closed: boolean;
  readonly paused: boolean;
  close(): void;
  send?(rtpPacket: Buffer): void;
  /** Emits `trace` events of the given types (`rtp`: one per received packet). */
  enableTraceEvent?(types: string[]): Promise<void>;
}

/** An outgoing stream. DirectTransport consumers emit `rtp` (packet: Buffer). */
export interface MsConsumer extends MsEmitter {
  readonly id: string;
  readonly producerId: string;
  readonly kind: string;
  readonly type: string;
  readonly closed: boolean;
  readonly paused: boolean;
  readonly producerPaused: boolean;
  readonly rtpParameters: MsRtpParameters;
  close(): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
  getStats(): Promise<{ type: string; packetCount?: number; byteCount?: number }[]>;
}

/** One entry of an audio level observer's `volumes` event; `volume` in dBov (−127…0). */
export interface MsVolume {
  producer: MsProducer;
  volume: number;
}

/** Events: `volumes` (MsVolume[]), `silence`. */
export interface MsAudioLevelObserver extends MsEmitter {
  readonly closed: boolean;
  close(): void;
  addProducer(options: { producerId: string }): Promise<void>;
  removeProducer(options: { producerId: string }): Promise<void>;
}

/** The module object of `mediasoup` (its CommonJS exports). */
export interface MediasoupApi {
  readonly version: string;
  createWorker(settings?: MsWorkerSettings): Promise<MsWorker>;
}
