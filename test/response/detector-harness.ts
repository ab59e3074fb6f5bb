import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { DenyEvent } from '../../src/gateway/events.js';
import type { Clock } from '../../src/gateway/stage.js';
import { BehaviourDetectors } from '../../src/response/behaviour-detectors.js';
import type { Detection } from '../../src/response/detection.js';
import type { ClusterState } from '../../src/state/cluster/cluster-state.js';
import { MemoryClusterState } from '../../src/state/cluster/memory-cluster-state.js';
import { RedisClusterState } from '../../src/state/cluster/redis-cluster-state.js';
import type { RequestDoneEvent } from '../../src/state/events/request-done.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import { responseConfig } from './response-config.js';

/**
 * What the detector tests share: a fake clock, cluster state in process or on the real Redis
 * (each test under keys of its own), a node of detectors that collects what it reports, and
 * the events the gateway publishes.
 */

export const log = pino({ level: 'silent' });

export interface FakeClock extends Clock {
  t: number;
}

/** Starts at a fixed time, so that a test knows where the window edges are. */
export function fakeClock(): FakeClock {
  const clock = { t: 1_800_000_000_000, now: () => clock.t, monotonic: () => clock.t };
  return clock;
}

export type ClusterKind = 'memory' | 'redis';

/** Opens cluster states and closes them after each test; deletes the test's Redis keys at the end. */
export class Clusters {
  readonly prefix = `pcltest:${randomUUID()}:`;
  readonly #opened: ClusterState[] = [];

  open(kind: ClusterKind, clock: Clock): ClusterState {
    return kind === 'memory'
      ? this.#keep(new MemoryClusterState({ clock, log }))
      : this.sharing(`${this.prefix}${randomUUID()}:`, clock);
  }

  /** A node on the Redis keys under `prefix`: two of them share their counts. */
  sharing(prefix: string, clock: Clock): ClusterState {
    return this.#keep(new RedisClusterState({ url: REDIS_URL, keyPrefix: prefix }, { clock, log }));
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#opened.splice(0).map((c) => c.close()));
  }

  async deleteKeys(): Promise<void> {
    await deleteRedisKeys(this.prefix);
  }

  #keep(c: ClusterState): ClusterState {
    this.#opened.push(c);
    return c;
  }
}

export function detectorNode(
  state: ClusterState,
  clock: Clock,
  overrides: Record<string, unknown> = {},
): { detectors: BehaviourDetectors; found: Detection[] } {
  const found: Detection[] = [];
  const config = responseConfig(overrides);
  const detectors = new BehaviourDetectors({
    cluster: state,
    clock,
    log,
    config: () => config,
    report: (d) => found.push(d),
  });
  return { detectors, found };
}

export function deny(clientIp: string, opts: Partial<DenyEvent> = {}): DenyEvent {
  return {
    requestId: randomUUID(),
    reason: 'authn.api_key.unknown',
    status: 401,
    enforced: true,
    stage: 'authn',
    route: 'login',
    method: 'POST',
    path: '/login',
    clientIp,
    ...opts,
  };
}

export function answered(opts: Partial<RequestDoneEvent> = {}): RequestDoneEvent {
  return {
    requestId: randomUUID(),
    route: 'orders',
    method: 'GET',
    path: '/orders',
    status: 200,
    clientIp: '198.51.100.1',
    durationMs: 1,
    ...opts,
  };
}

/** `kind subject` of each detection, for compact assertions. */
export const kinds = (found: readonly Detection[]): string[] =>
  found.map((d) => `${d.kind} ${d.subject.value}`);
