// The SFU module's API, for the gateway to wire in (signalling ops, config, metrics).
export {
  Sfu,
  type SfuConsumerInfo,
  type SfuConsumerPauseEvent,
  type SfuEvents,
  type SfuOptions,
  type SfuProducerEvent,
  type SfuStats,
  type SfuTransportInfo,
  type SfuWorkerStats,
} from './Sfu.js';
export { SfuError, type SfuErrorCode } from './SfuError.js';
export { UplinkMonitor, type UplinkReport } from './UplinkMonitor.js';
export type { SfuLogger } from './SfuEmitter.js';
export type { MediaPath, SfuCounters, SfuLevel } from './SfuRoom.js';
export {
  findManagedDir,
  loadMediasoup,
  mediasoupWorkerStatus,
  type LoadedMediasoup,
  type MediasoupLocateOptions,
  type MediasoupSource,
  type MediasoupWorkerStatus,
} from './mediasoupLoader.js';
export {
  DEFAULT_LISTEN_OPTIONS,
  listenShapeOf,
  webRtcListenConfig,
  type ListenShape,
  type SfuListenOptions,
  type WebRtcListenConfig,
} from './listenOptions.js';
export {
  AUDIO_LEVEL_EXTENSION_URI,
  mediaFrameToRtp,
  parseRtp,
  rtpToMediaFrame,
  type RtpPacketInfo,
  type RtpReadOptions,
  type RtpWriteOptions,
} from './rtpFrames.js';
export {
  DEFAULT_TOP_N_OPTIONS,
  TopNSelector,
  type TopNChange,
  type TopNOptions,
} from './TopNSelector.js';
