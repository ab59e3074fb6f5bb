import type { Logger } from 'pino';
import type { Config, RouteConfig } from '../../config/schema.js';
import type { Stage } from '../../gateway/stage.js';
import type { LocalLimits } from './limit-check.js';
import { compilePolicy, type CompiledPolicy } from './limit-policy.js';
import { createLimitsStage } from './limits-stage.js';
import type { ThrottleBackends } from '../throttles/throttle-stage.js';
import { RedisLimits } from './redis-limits.js';

/** Builds each route's limits stage for one config generation. */
export interface LimitsStages {
  /** The route's stage; undefined when no policy applies to it. */
  stageFor(route: RouteConfig): Stage | undefined;
}

/** How long startup waits for Redis: past it, limits start under their failure policy. */
const READY_WAIT_MS = 2_000;

/**
 * What the limits keep beyond one config generation: the counters of this node (a reload
 * keeps them, so a reload never hands out fresh budgets) and the Redis connection.
 */
export class LimitsServices {
  readonly #local: LocalLimits;
  readonly #log: Logger;
  #redis: { url: string; prefix: string; client: RedisLimits } | undefined;

  constructor(deps: { readonly local: LocalLimits; readonly log: Logger }) {
    this.#local = deps.local;
    this.#log = deps.log;
  }

  build(config: Config): LimitsStages {
    const compiled = new Map<string, CompiledPolicy>();
    const policyOf = (name: string): CompiledPolicy => {
      let p = compiled.get(name);
      if (p === undefined) {
        const cfg = config.rateLimits[name];
        // The loader refuses an unknown policy; this guards a config built by hand.
        if (cfg === undefined) throw new Error(`unknown rate limit policy ${name}`);
        p = compilePolicy(name, cfg);
        compiled.set(name, p);
      }
      return p;
    };
    const stages = new Map<string, Stage>();
    for (const route of config.routes) {
      const limits = route.rateLimits ?? config.defaults.rateLimits;
      if (limits === undefined || limits.policies.length === 0) continue;
      const policies = limits.policies.map(policyOf);
      const redis = policies.some((p) => p.backend === 'redis')
        ? this.#redisFor(config)
        : undefined;
      stages.set(
        route.name,
        createLimitsStage({ policies, cost: limits.cost, local: this.#local, redis }),
      );
    }
    return { stageFor: (route) => stages.get(route.name) };
  }

  #redisFor(config: Config): RedisLimits {
    const { redisUrl, keyPrefix } = config.state.cluster;
    // The loader refuses a Redis-backed policy without a Redis URL.
    if (redisUrl === undefined)
      throw new Error('a Redis-backed rate limit needs state.cluster.redisUrl');
    const current = this.#redis;
    if (current !== undefined && current.url === redisUrl && current.prefix === keyPrefix)
      return current.client;
    // A new address: the old connection goes once the requests on it are done.
    if (current !== undefined) setTimeout(() => void current.client.close(), 30_000).unref();
    const client = new RedisLimits({ url: redisUrl, keyPrefix, log: this.#log });
    this.#redis = { url: redisUrl, prefix: keyPrefix, client };
    return client;
  }

  /**
   * Where the throttles of response playbooks count (docs/response.md): this node's counters,
   * and Redis when the config names one. The connection is opened now, with the limits' own
   * (one per node): a throttle must be counted across nodes from its first request.
   */
  throttleBackends(config: Config): ThrottleBackends {
    const redis = config.state.cluster.redisUrl === undefined ? undefined : this.#redisFor(config);
    return { local: this.#local, redis: redis === undefined ? undefined : () => redis };
  }

  /** Before the first request: Redis connected, or given up on after a short wait. */
  ready(): Promise<void> {
    return this.#redis?.client.waitReady(READY_WAIT_MS) ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.#redis?.client.close() ?? Promise.resolve();
  }
}
