import type { Logger } from 'pino';
import type { StateConfig } from '../../config/schema.js';
import type { Clock } from '../../gateway/stage.js';
import type { ClusterState } from './cluster-state.js';
import { MemoryClusterState } from './memory-cluster-state.js';
import { RedisClusterState } from './redis-cluster-state.js';

/**
 * Redis when `state.cluster.redisUrl` is set (several nodes), in process otherwise (one node).
 * Connecting happens in the background: await `ready()` before serving.
 */
export function openClusterState(
  cfg: StateConfig['cluster'],
  deps: { clock: Clock; log: Logger },
): ClusterState {
  if (cfg.redisUrl === undefined) return new MemoryClusterState(deps);
  return new RedisClusterState({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix }, deps);
}
