// @concord/sdk: what an app uses — VoiceClient, rooms and participants, local audio and the
// audio engine, errors, logging. The media pipeline's parts (gateway connection, sender,
// receiver, jitter buffer, bitrate controller, transports) are exported for tests, bots and the
// QA kit from the `@concord/sdk/internals` subpath (./internals.ts); they may change between
// minor versions. Node audio helpers (PCM/WAV source, per-participant recorder) are in
// `@concord/sdk/node` (./node.ts), kept out of the browser bundle.
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
  placeSource,
  proximityGain,
  resolveProximity,
  type Listener,
  type Placement,
  type Position,
  type ProximityOptions,
  type ResolvedProximity,
} from './media/spatialScene.js';
export {
  SpeakingHangover,
  DEFAULT_SPEAKING_HANGOVER_MS,
  type HangoverTimers,
} from './room/SpeakingHangover.js';
// Frame facts a bot's own frame source needs (`CapturedFrame.meta.flags`).
export {
  CAPTURE_FRAME_SAMPLES,
  FRAME_FLAG_MUTED,
  FRAME_FLAG_SPEAKING,
  FRAME_SAMPLES,
} from '@concord/audio-worklet';
export type { FrameSource } from './send/VoiceSender.js';
export type { PlaybackSink } from './receive/VoiceReceiver.js';
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
export type {
  ConnectionState,
  ConnectionStatus,
  SessionInfo,
} from './connection/GatewayConnection.js';
export type { AbrDecision, AbrAction } from './send/AdaptiveBitrateController.js';
export type { ConnectionQuality } from './stats/connectionQuality.js';
export type { MediaPath, MediaPathPolicy } from './transport/MediaPathController.js';
export type { MediaOptions, MediaStats } from './MediaSession.js';
export type { ParticipantMediaStats } from './receive/VoiceReceiver.js';
