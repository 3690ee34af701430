export { VoiceClient, type VoiceClientEvents, type VoiceClientOptions } from './VoiceClient.js';
export { Room, type RoomAudioHooks, type RoomEvents, type RoomState } from './room/Room.js';
export {
  AudioEngine,
  type AudioEngineEvents,
  type AudioEngineOptions,
  type AudioEngineState,
} from './media/AudioEngine.js';
export {
  LocalAudio,
  type CapturedFrame,
  type LocalAudioEvents,
  type LocalAudioOptions,
  type LocalAudioState,
} from './media/LocalAudio.js';
export { RemotePlayback } from './media/RemotePlayback.js';
export { getAudioDiagnostics, type AudioDiagnostics } from './media/diagnostics.js';
export { defaultAssetsUrl, loadAudioAssets, type AudioAssets } from './media/AudioAssets.js';
export { Participant, type VoiceState } from './room/Participant.js';
export {
  GatewayConnection,
  type ConnectionState,
  type ConnectionStatus,
  type GatewayConnectionEvents,
  type GatewayConnectionOptions,
  type SessionInfo,
} from './connection/GatewayConnection.js';
export { backoffDelayMs, type BackoffOptions } from './connection/backoff.js';
export type { WebSocketConstructor, WebSocketLike } from './connection/socket.js';
export {
  ConnectionError,
  InvalidStateError,
  MediaError,
  RequestError,
  type ConnectionErrorCode,
  type MediaErrorCode,
} from './errors.js';
export {
  getLogger,
  setLogHandler,
  setLogLevel,
  type LogHandler,
  type LogLevel,
  type Logger,
} from './logger.js';
export { TypedEmitter, type EventMap } from './TypedEmitter.js';
export { CloseCode, ConcordError, ProtocolError, reconnectPolicy } from '@concord/protocol';
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
export { opusPacketHasLbrr } from './receive/opusPacket.js';
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
} from './media/AdaptiveBitrateController.js';
export {
  CONNECTION_QUALITY_THRESHOLDS,
  ConnectionQualityTracker,
  connectionQuality,
  type ConnectionQuality,
  type ConnectionQualityEvents,
  type ConnectionQualityTrackerOptions,
} from './media/connectionQuality.js';
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
} from './transport/VoiceSender.js';
export {
  VoiceReceiver,
  type ParticipantMediaStats,
  type PlaybackSink,
  type StreamOwner,
  type VoiceReceiverEvents,
  type VoiceReceiverOptions,
} from './transport/VoiceReceiver.js';
export { inlineEncoder } from './transport/inlineEncoder.js';
export { WorkerOpusEncoder, type CodecWorkerLike } from './transport/WorkerOpusEncoder.js';
export {
  CODEC_WORKER_ASSET,
  MediaSession,
  type MediaOptions,
  type MediaSessionEvents,
  type MediaSessionHost,
  type MediaStats,
} from './transport/MediaSession.js';
