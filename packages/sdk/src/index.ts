export { VoiceClient, type VoiceClientEvents, type VoiceClientOptions } from './VoiceClient.js';
export { Room, type RoomEvents, type RoomState } from './room/Room.js';
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
  RequestError,
  type ConnectionErrorCode,
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
