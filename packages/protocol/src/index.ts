export { ConcordError } from './ConcordError.js';
export { ProtocolError, type ProtocolErrorCode } from './ProtocolError.js';
export {
  CloseCode,
  closeCodeName,
  reconnectPolicy,
  type CloseCodeName,
  type ReconnectPolicy,
} from './closeCodes.js';
export {
  DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  DEFAULT_LIMITS,
  PROTOCOL_VERSION,
  resolveLimits,
  type ProtocolLimits,
} from './limits.js';
export {
  CLIENT_OPS,
  EventCodes,
  EventNamesByCode,
  EventSchemas,
  Op,
  PayloadSchemas,
  type ClientMessage,
  type DispatchEvents,
  type DispatchMessage,
  type EventName,
  type HeartbeatAckMessage,
  type HeartbeatMessage,
  type HelloLimits,
  type HelloMessage,
  type IdentifyMessage,
  type InvalidSessionMessage,
  type JoinRoomMessage,
  type LeaveRoomMessage,
  type Message,
  type Participant,
  type ReadyMessage,
  type ReconnectMessage,
  type ResumedMessage,
  type ResumeMessage,
  type ServerMessage,
  type SpeakingMessage,
  type UpdateVoiceStateMessage,
} from './messages.js';
export {
  FLAG_BATCH,
  FLAG_LZ4,
  FrameCodec,
  FrameType,
  frameTypeOf,
  type EncodedEvent,
  type FrameCodecOptions,
} from './codec.js';
export { DEFAULT_BATCH_WINDOW_MS, FrameBatcher, type FrameBatcherOptions } from './FrameBatcher.js';
