import type { ClusterLogger } from './ClusterEmitter.js';
import { SILENT_LOGGER } from './ClusterEmitter.js';
import type { NodeRegistry } from './NodeRegistry.js';
import type { RedisStateStore } from './RedisStateStore.js';

/** A running reaper; `stop()` ends it (idempotent). */
export interface Reaper {
  stop(): void;
}

/**
 * Cleans up after dead nodes: every `dead` report of the registry orphans that node's sessions
 * (`RedisStateStore.reapNode`), and every `sweepMs` one node of the cluster reaps the orphans
 * whose grace ran out (`sweepOrphans`: their members leave with PARTICIPANT_LEFT). Each live
 * node runs one; the scripts make concurrent runs harmless. Main thread.
 */
export function startReaper(
  store: RedisStateStore,
  registry: NodeRegistry,
  { sweepMs = 1_000, logger = SILENT_LOGGER }: { sweepMs?: number; logger?: ClusterLogger } = {},
): Reaper {
  const onDead = (nodeId: string): void => {
    if (nodeId === store.nodeId) return;
    store
      .reapNode(nodeId)
      .catch((err: unknown) => logger.warn({ err, nodeId }, 'reaping a node failed'));
  };
  registry.on('dead', onDead);
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    store
      .sweepOrphans(sweepMs)
      .catch((err: unknown) => logger.warn({ err }, 'sweeping orphans failed'))
      .finally(() => (sweeping = false));
  }, sweepMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      registry.off('dead', onDead);
    },
  };
}
