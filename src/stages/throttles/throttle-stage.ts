import { ALLOW, deny, type RequestContext, type Stage, type Verdict } from '../../gateway/stage.js';
import type { RouteStage } from '../../gateway/pipeline.js';
import type { BatchResult, LimitCheck, LocalLimits } from '../limits/limit-check.js';
import type { RedisLimits } from '../limits/redis-limits.js';
import type { ActiveThrottles, ThrottleHit } from './active-throttles.js';
import { throttled } from './throttle-refusal.js';

/** The stage type of both throttle checks, in events and `preflight.skipStages`. */
export const THROTTLE_STAGE = 'throttle';

/** The longest a throttled request waits on Redis before this node counts it alone. */
const REDIS_TIMEOUT_MS = 50;

/**
 * Where a throttle's requests are counted: the limits stage's own backends. With Redis
 * (`state.cluster.redisUrl`) every node adds to one count; without it, this node (and its
 * workers, through the cluster primary) counts alone.
 */
export interface ThrottleBackends {
  readonly local: LocalLimits;
  /** The shared counts, when the config names a Redis. */
  readonly redis: (() => RedisLimits) | undefined;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/**
 * One throttle check (docs/response.md, "Throttles"): `ip` before authentication (a client that
 * guesses credentials never gets past it), `identity` right after it (the consumer and the
 * credential are known then). While nothing is throttled the check is one size comparison; a
 * subject that is not throttled costs Map lookups, never a Redis round trip. A throttled subject
 * is counted with the limits stage's GCRA: at most `limit` at once, then one request every
 * `windowSeconds / limit`.
 */
export function createThrottleStage(
  by: 'ip' | 'identity',
  throttles: ActiveThrottles,
  backends: ThrottleBackends,
): Stage {
  const decide = (t: ThrottleHit, r: BatchResult): Verdict => {
    if (r.admitted) return ALLOW;
    return deny(throttled(t, r.outcomes[0]?.retryMs ?? t.windowSeconds * 1000));
  };
  const local = (t: ThrottleHit, check: LimitCheck): Verdict | Promise<Verdict> => {
    const r = backends.local.consume([check]);
    return isPromise(r) ? r.then((x) => decide(t, x)) : decide(t, r);
  };
  const check = (ctx: RequestContext, t: ThrottleHit): Verdict | Promise<Verdict> => {
    const c: LimitCheck = {
      key: `~throttle:${t.id}`,
      algorithm: { kind: 'gcra', intervalMs: (t.windowSeconds * 1000) / t.limit, burst: t.limit },
      cost: 1,
      shadow: false,
    };
    const redis = backends.redis?.();
    if (redis === undefined) return local(t, c);
    return redis.consume([c], REDIS_TIMEOUT_MS).then(
      (r) => decide(t, r),
      (err: unknown) => {
        // The subject stays throttled: counted on this node alone until Redis answers again.
        ctx.log.debug({ err, requestId: ctx.id }, 'throttle: Redis check failed');
        return local(t, { ...c, key: `net:${c.key}` });
      },
    );
  };
  return {
    name: THROTTLE_STAGE,
    onRequest(ctx) {
      if (throttles.size === 0) return ALLOW;
      const t =
        by === 'ip'
          ? throttles.forIp(ctx.clientIp)
          : ctx.identity === undefined
            ? undefined
            : throttles.forIdentity(ctx.identity);
      return t === undefined ? ALLOW : check(ctx, t);
    },
  };
}

/**
 * Puts the two throttle checks around the route's authentication stage: the IP check right
 * before it (after the `blocks` stages), the identity check right after it (before the limits).
 */
export function withThrottles(
  stages: readonly RouteStage[],
  ip: Stage,
  identity: Stage,
): RouteStage[] {
  const at = stages.findIndex((s) => s.type === 'authn');
  const entry = (stage: Stage): RouteStage => ({
    stage,
    type: THROTTLE_STAGE,
    enforce: true,
    skipForOptions: false,
  });
  if (at === -1) return [...stages, entry(ip), entry(identity)];
  return [
    ...stages.slice(0, at),
    entry(ip),
    stages[at] as RouteStage,
    entry(identity),
    ...stages.slice(at + 1),
  ];
}
