import { randomUUID } from 'node:crypto';
import { publishRefusal } from '../../gateway/events.js';
import type { Denial } from '../../gateway/problems.js';
import {
  ALLOW,
  PASS,
  deny,
  type RequestContext,
  type ResponseVerdict,
  type Stage,
  type Verdict,
} from '../../gateway/stage.js';
import {
  leasesOf,
  type BatchResult,
  type LimitCheck,
  type LimitOutcome,
  type LocalLimits,
} from './limit-check.js';
import type { CompiledPolicy, LimitClass } from './limit-policy.js';
import type { RedisLimits } from './redis-limits.js';

export interface LimitsStageOptions {
  readonly policies: readonly CompiledPolicy[];
  /** `rateLimits.cost` of the route: units each rate and quota policy is charged. */
  readonly cost: number;
  readonly local: LocalLimits;
  /** Present when a policy of the route is Redis-backed. */
  readonly redis: RedisLimits | undefined;
}

/** One refusal site per class of limit (docs/errors.md); the policy is in the event. */
const EXCEEDED: Readonly<Record<LimitClass, { reason: string; detail: string }>> = {
  rate: { reason: 'limits.rate.exceeded', detail: 'Too many requests: the rate limit is reached.' },
  quota: { reason: 'limits.quota.exceeded', detail: 'The quota of this period is used up.' },
  concurrency: {
    reason: 'limits.concurrency.exceeded',
    detail: 'Too many requests of this caller are in flight.',
  },
};

const UNAVAILABLE = {
  reason: 'limits.backend.unavailable',
  detail: 'The rate limit could not be checked; try again later.',
};

const EMPTY: BatchResult = Object.freeze({ admitted: true, outcomes: [] });

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/** The checks of one request, split by backend, in the order of the route's policies. */
interface Pending {
  readonly checks: LimitCheck[];
  readonly local: readonly number[];
  readonly redis: readonly number[];
}

/**
 * The consumption limits of one route (docs/limits.md): every policy of the route checked on
 * every request, all or nothing (a refused request consumes from none), local ones in this
 * process or the cluster primary, Redis ones in one atomic round trip.
 */
export function createLimitsStage(opts: LimitsStageOptions): Stage {
  const { policies, local, redis } = opts;
  const withHeaders = policies.filter((p) => p.headers);
  const policyHeader = withHeaders.map((p) => p.policyItem).join(', ');
  const redisTimeout = Math.min(
    ...policies.filter((p) => p.backend === 'redis').map((p) => p.timeoutMs),
  );
  const closedOnFailure = policies.some((p) => p.backend === 'redis' && !p.failOpen && !p.shadow);
  // Only a concurrency policy holds anything until the response: the others need no release.
  const holdsSlots = policies.some((p) => p.class === 'concurrency');
  const hasShadow = policies.some((p) => p.shadow);
  // The RateLimit value of an admitted request, for its response.
  const admittedHeaders = new WeakMap<RequestContext, string>();

  // What a request's checks need of each policy, computed once: the key's prefix, the cost.
  const costOf = policies.map((p) => (p.class === 'concurrency' ? 1 : opts.cost));
  const keyPrefix = policies.map((p) => `${p.name}:`);
  // Which backend decides each policy; when one backend decides them all, its checks are the
  // request's checks and its outcomes the request's outcomes, with no copy.
  const onRedis = policies.map((p) => p.backend === 'redis' && redis !== undefined);
  const allIdx = policies.map((_, i) => i);
  const redisIdx = allIdx.filter((i) => onRedis[i]);
  const localIdx = allIdx.filter((i) => !onRedis[i]);

  const prepare = (ctx: RequestContext): Pending => {
    const now = ctx.clock.now();
    const checks: LimitCheck[] = [];
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i] as CompiledPolicy;
      const { algorithm, suffix } = p.at(now);
      const key = (keyPrefix[i] as string) + p.keyOf(ctx) + suffix;
      const cost = costOf[i] as number;
      checks.push(
        algorithm.kind === 'concurrency'
          ? { key, algorithm, cost, shadow: p.shadow, token: randomUUID() }
          : { key, algorithm, cost, shadow: p.shadow },
      );
    }
    return { checks, local: localIdx, redis: redisIdx };
  };

  const pick = (pending: Pending, idx: readonly number[]): LimitCheck[] =>
    idx.length === pending.checks.length
      ? pending.checks
      : idx.map((i) => pending.checks[i] as LimitCheck);

  /** The outcomes of the whole request, by policy, from the parts each backend decided. */
  const merge = (
    pending: Pending,
    parts: readonly { idx: readonly number[]; result: BatchResult }[],
  ): readonly LimitOutcome[] => {
    // The parts are disjoint: one that covers every policy is the whole answer.
    for (const p of parts) if (p.idx.length === pending.checks.length) return p.result.outcomes;
    const out: LimitOutcome[] = new Array<LimitOutcome>(pending.checks.length);
    for (const { idx, result } of parts)
      idx.forEach((i, j) => (out[i] = result.outcomes[j] as LimitOutcome));
    return out;
  };

  // The RateLimit header's item of each policy that sends one, up to its values.
  const headerItem = policies.map((p) => (p.headers ? `"${p.name}";r=` : undefined));
  const rateLimitHeader = (outcomes: readonly LimitOutcome[]): string => {
    let header = '';
    for (let i = 0; i < policies.length; i++) {
      const item = headerItem[i];
      const o = outcomes[i];
      if (item === undefined || o === undefined) continue;
      const t = Math.ceil(Math.max(0, o.resetMs) / 1000);
      header += `${header === '' ? '' : ', '}${item}${Math.max(0, o.remaining)};t=${t}`;
    }
    return header;
  };

  const refusal = (
    ctx: RequestContext,
    pending: Pending,
    outcomes: readonly LimitOutcome[],
    fallback: boolean,
  ): Verdict => {
    // The enforced refusal that lasts longest decides Retry-After.
    let worst = -1;
    outcomes.forEach((o, i) => {
      if (o === undefined || o.allowed || policies[i]?.shadow === true) return;
      if (worst === -1 || o.retryMs > (outcomes[worst] as LimitOutcome).retryMs) worst = i;
    });
    const p = policies[worst] as CompiledPolicy;
    const o = outcomes[worst] as LimitOutcome;
    const headers: Record<string, string> = {
      'retry-after': String(Math.max(1, Math.ceil(o.retryMs / 1000))),
    };
    if (withHeaders.length > 0) {
      // The limits that would have admitted it gave nothing: what they have left is unchanged.
      const unchanged = outcomes.map((x, i) =>
        x.allowed ? { ...x, remaining: x.remaining + (pending.checks[i] as LimitCheck).cost } : x,
      );
      headers['ratelimit-policy'] = policyHeader;
      headers.ratelimit = rateLimitHeader(unchanged);
    }
    const site = EXCEEDED[p.class];
    return deny({
      kind: 'too-many-requests',
      reason: site.reason,
      detail: site.detail,
      headers,
      audit: auditOf(ctx, p, pending.checks[worst] as LimitCheck, fallback),
    });
  };

  const releaseWhenFinished = (
    ctx: RequestContext,
    pending: Pending,
    netLeases: readonly LimitCheck[],
  ): void => {
    const localLeases = leasesOf([...pick(pending, pending.local), ...netLeases]);
    const redisLeases = netLeases.length > 0 ? [] : leasesOf(pick(pending, pending.redis));
    if (localLeases.length > 0 || redisLeases.length > 0) {
      ctx.onFinished(() => {
        if (localLeases.length > 0) local.release(localLeases);
        if (redisLeases.length > 0) redis?.release(redisLeases);
      });
    }
  };

  const admitted = (
    ctx: RequestContext,
    pending: Pending,
    outcomes: readonly LimitOutcome[],
    netLeases: readonly LimitCheck[],
  ): Verdict => {
    if (hasShadow)
      outcomes.forEach((o, i) => {
        const p = policies[i] as CompiledPolicy;
        if (o !== undefined && !o.allowed && p.shadow)
          recordShadow(ctx, p, pending.checks[i] as LimitCheck);
      });
    if (holdsSlots) releaseWhenFinished(ctx, pending, netLeases);
    if (withHeaders.length > 0) admittedHeaders.set(ctx, rateLimitHeader(outcomes));
    return ALLOW;
  };

  /** Redis slow or down: 503 where a policy says closed, this node's own count where open. */
  const onRedisFailure = (
    ctx: RequestContext,
    pending: Pending,
    localResult: BatchResult,
    err: unknown,
  ): Verdict | Promise<Verdict> => {
    // debug: during an outage this is every request; the client's connection errors are logged once.
    ctx.log.debug({ err, requestId: ctx.id }, 'rate limits: Redis check failed');
    const localChecks = pick(pending, pending.local);
    if (closedOnFailure) {
      local.refund(localChecks);
      const p = policies[pending.redis[0] as number] as CompiledPolicy;
      return deny({
        kind: 'service-unavailable',
        reason: UNAVAILABLE.reason,
        detail: UNAVAILABLE.detail,
        audit: auditOf(ctx, p, pending.checks[pending.redis[0] as number] as LimitCheck, false),
      });
    }
    const net = pick(pending, pending.redis).map((c) => ({ ...c, key: `net:${c.key}` }));
    const decide = (netResult: BatchResult): Verdict => {
      const outcomes = merge(pending, [
        { idx: pending.local, result: localResult },
        { idx: pending.redis, result: netResult },
      ]);
      if (!netResult.admitted) {
        local.refund(localChecks);
        return refusal(ctx, pending, outcomes, true);
      }
      return admitted(ctx, pending, outcomes, net);
    };
    const r = local.consume(net);
    return isPromise(r) ? r.then(decide) : decide(r);
  };

  const afterLocal = (
    ctx: RequestContext,
    pending: Pending,
    localResult: BatchResult,
  ): Verdict | Promise<Verdict> => {
    if (!localResult.admitted)
      return refusal(
        ctx,
        pending,
        merge(pending, [{ idx: pending.local, result: localResult }]),
        false,
      );
    if (pending.redis.length === 0 || redis === undefined)
      return admitted(
        ctx,
        pending,
        merge(pending, [{ idx: pending.local, result: localResult }]),
        [],
      );
    const decide = (redisResult: BatchResult): Verdict => {
      const outcomes = merge(pending, [
        { idx: pending.local, result: localResult },
        { idx: pending.redis, result: redisResult },
      ]);
      if (!redisResult.admitted) {
        local.refund(pick(pending, pending.local));
        return refusal(ctx, pending, outcomes, false);
      }
      return admitted(ctx, pending, outcomes, []);
    };
    // One promise per request, the pipeline's: the check itself answers through a callback.
    return new Promise<Verdict>((resolve, reject) => {
      redis.check(pick(pending, pending.redis), redisTimeout, (err, redisResult) => {
        try {
          resolve(
            redisResult === undefined
              ? onRedisFailure(ctx, pending, localResult, err)
              : decide(redisResult),
          );
        } catch (thrown) {
          // The pipeline fails the request closed.
          reject(thrown instanceof Error ? thrown : new Error(String(thrown)));
        }
      });
    });
  };

  const stage: Stage = {
    name: 'limits',
    onRequest(ctx) {
      const pending = prepare(ctx);
      const localResult =
        pending.local.length === 0 ? EMPTY : local.consume(pick(pending, pending.local));
      return isPromise(localResult)
        ? localResult.then((r) => afterLocal(ctx, pending, r))
        : afterLocal(ctx, pending, localResult);
    },
  };
  if (withHeaders.length === 0) return stage;
  return {
    ...stage,
    onResponse(ctx): ResponseVerdict {
      const value = admittedHeaders.get(ctx);
      if (value === undefined) return PASS;
      return {
        continue: true,
        change: { setHeaders: { 'ratelimit-policy': policyHeader, ratelimit: value } },
      };
    },
  };
}

/** What the event says of a refusal: the policy and the key's fingerprint, never its values. */
function auditOf(
  ctx: RequestContext,
  p: CompiledPolicy,
  check: LimitCheck,
  fallback: boolean,
): Denial['audit'] {
  const details: Record<string, string | number | boolean> = {
    policy: p.name,
    key: check.key.slice(p.name.length + 1),
    backend: fallback ? 'local-fallback' : p.backend,
    cost: check.cost,
  };
  const id = ctx.identity;
  return id === undefined
    ? { details }
    : { consumer: id.consumerId, credential: id.credential, details };
}

/** A shadow policy that would have refused: recorded, not enforced. */
function recordShadow(ctx: RequestContext, p: CompiledPolicy, check: LimitCheck): void {
  const site = EXCEEDED[p.class];
  const audit = auditOf(ctx, p, check, false);
  publishRefusal(
    ctx,
    'limits',
    { kind: 'too-many-requests', reason: site.reason, ...(audit === undefined ? {} : { audit }) },
    false,
  );
}
