// @concord/sdk/internals: the media pipeline's parts, for tests, benchmarks, bots that need
// more than VoiceClient, and the QA kit. Not covered by semver: they follow the pipeline as it
// changes. Apps use the main entry (./index.ts).
export {
  GatewayConnection,
  type ConnectionState,
  type ConnectionStatus,
  type GatewayConnectionEvents,
  type GatewayConnectionOptions,
  type SessionInfo,
} from './connection/GatewayConnection.js';
export { backoffDelayMs, type BackoffOptions } from './connection/backoff.js';
export {
  JitterBuffer,
  type JitterBufferOptions,
  type JitterBufferStats,
  type JitterBufferStatus,
  type JitterFrameKind,
  type JitterPacket,
  type JitterReceiverReport,
  type JitterTimeStretcher,
} from './receive/JitterBuffer.js';
export { opusPacketHasLbrr } from '@concord/protocol';
export {
  JITTER_OPERATIONS,
  type JitterOperation,
  type JitterOperationCounts,
  type JitterOperationStats,
} from './receive/playoutOperations.js';
export {
  AdaptiveBitrateController,
  BITRATE_LADDER_BPS,
  DEFAULT_START_BITRATE_BPS,
  networkScore,
  type AbrAction,
  type AbrDecision,
  type AdaptiveBitrateEvents,
  type AdaptiveBitrateOptions,
  type NetworkSample,
} from './send/AdaptiveBitrateController.js';
export {
  CONNECTION_QUALITY_THRESHOLDS,
  ConnectionQualityTracker,
  connectionQuality,
  type ConnectionQuality,
  type ConnectionQualityEvents,
  type ConnectionQualityTrackerOptions,
} from './stats/connectionQuality.js';
export { loadOpusWasm, OPUS_WASM_ASSETS } from './media/AudioAssets.js';
export type { Transport, TransportEvents } from './transport/Transport.js';
export {
  WebSocketMediaTransport,
  type WebSocketMediaTransportOptions,
  type WebSocketMediaTransportStats,
} from './transport/WebSocketMediaTransport.js';
export {
  WebRtcTransport,
  type WebRtcHost,
  type WebRtcLinkState,
  type WebRtcOpusOptions,
  type WebRtcReceiveStats,
  type WebRtcTransportEvents,
} from './transport/WebRtcTransport.js';
export {
  MediaPathController,
  type MediaPath,
  type MediaPathEvents,
  type MediaPathOptions,
  type MediaPathPolicy,
} from './transport/MediaPathController.js';
export {
  audioLevel,
  VoiceSender,
  type FrameSource,
  type IncomingReceiverReport,
  type SendTarget,
  type SenderEncoder,
  type VoiceSenderEvents,
  type VoiceSenderOptions,
  type VoiceSenderStats,
} from './send/VoiceSender.js';
export {
  VoiceReceiver,
  type ParticipantMediaStats,
  type PlaybackSink,
  type StreamOwner,
  type VoiceReceiverEvents,
  type VoiceReceiverOptions,
} from './receive/VoiceReceiver.js';
export { inlineEncoder } from './send/inlineEncoder.js';
export { WorkerOpusEncoder, type CodecWorkerLike } from './send/WorkerOpusEncoder.js';
export {
  CODEC_WORKER_ASSET,
  MediaSession,
  type MediaOptions,
  type MediaSessionEvents,
  type MediaSessionHost,
  type MediaStats,
} from './MediaSession.js';
