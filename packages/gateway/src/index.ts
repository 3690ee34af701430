export { Gateway, type GatewayDeps, type GatewayStatus } from './Gateway.js';
export { DEFAULT_CONFIG, resolveConfig, type GatewayConfig, type StaticMount } from './config.js';
export { GatewayError, type GatewayErrorCode } from './errors.js';
export { GatewayMetrics } from './metrics.js';
export { createLogger, type Logger } from './logger.js';
export {
  mintToken,
  verifyToken,
  roomAllowed,
  parseDevToken,
  MIN_SECRET_BYTES,
  type MintOptions,
  type TokenGrant,
} from './auth/tokens.js';
export { MemoryStateStore } from './state/MemoryStateStore.js';
export { MemoryRoomBus, type RoomBus, type RoomEvent } from './state/RoomBus.js';
export { ReplayBuffer, type ReplayLimits, type ReplayResult } from './state/ReplayBuffer.js';
export type { MemberPatch, RoomMember, SessionRecord, StateStore } from './state/StateStore.js';
export { ISOLATION_HEADERS } from './http/staticFiles.js';
