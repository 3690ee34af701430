// The gateway's Redis cluster layer (issue 13): state store, room bus, node registry,
// placement and room ownership. See README.md for the design and how to wire it in.
export { ClusterError, type ClusterErrorCode } from './ClusterError.js';
export { SILENT_LOGGER, type ClusterLogger } from './ClusterEmitter.js';
export {
  compareCursors,
  formatCursor,
  isNext,
  parseCursor,
  START,
  type RoomCursor,
} from './cursor.js';
export { ClusterKeys } from './keys.js';
export {
  NodeRegistry,
  type NodeInfo,
  type NodeRegistryEvents,
  type NodeRegistryOptions,
} from './NodeRegistry.js';
export { homeNode, nextNode, rankNodes, rendezvousScore, type NodeLike } from './placement.js';
export { startReaper, type Reaper } from './reaper.js';
export { createRedis } from './redisClient.js';
export { RedisReplayBuffer } from './RedisReplayBuffer.js';
export {
  RedisRoomBus,
  type RedisRoomBusEvents,
  type RedisRoomBusOptions,
  type RedisRoomBusStats,
  type RoomRecipient,
  type SequencedRoomEvent,
} from './RedisRoomBus.js';
export {
  RedisStateStore,
  type ClaimedSession,
  type RebuildSummary,
  type RedisAddResult,
  type RedisStateStoreEvents,
  type RedisStateStoreOptions,
  type SessionLostReason,
} from './RedisStateStore.js';
export { ReplayWriter, type ReplayWriterStats, type WriteOutcome } from './ReplayWriter.js';
export {
  RoomOwnership,
  type AcquireResult,
  type LeaseLostReason,
  type RoomLease,
  type RoomOwnershipEvents,
  type RoomOwnershipOptions,
} from './RoomOwnership.js';
export { GatewayCluster, type GatewayClusterOptions } from './GatewayCluster.js';
export {
  LINK_CLOSE_DRAINING,
  LINK_PATH,
  MediaLinks,
  type MediaLinkHost,
  type MediaLinkStats,
} from './MediaLinks.js';
