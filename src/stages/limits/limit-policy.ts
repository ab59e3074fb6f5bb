import type { RateLimitPolicyConfig } from '../../config/rate-limits-schema.js';
import { periodOf } from './calendar-period.js';
import type { LimitAlgorithm } from './limit-check.js';
import { keyBuilder, type KeyBuilder } from './limit-key.js';

/** Which refusal a policy gives: one reason per class (docs/errors.md). */
export type LimitClass = 'rate' | 'quota' | 'concurrency';

/** Sliding windows are counted in this many buckets (plus the one that straddles the edge). */
const WINDOW_BUCKETS = 20;

const PERIOD_MS = { hour: 3_600_000, day: 86_400_000, month: 30 * 86_400_000 } as const;

/** A policy compiled once per config generation. */
export interface CompiledPolicy {
  readonly name: string;
  readonly class: LimitClass;
  readonly backend: 'local' | 'redis';
  readonly timeoutMs: number;
  readonly failOpen: boolean;
  readonly headers: boolean;
  readonly shadow: boolean;
  readonly keyOf: KeyBuilder;
  /** The RateLimit-Policy item (draft-ietf-httpapi-ratelimit-headers). */
  readonly policyItem: string;
  /** The largest cost one request may have and still ever be admitted. */
  readonly capacity: number;
  /** The algorithm as of `now` (a calendar quota's period) and the key's suffix for it. */
  at(now: number): { algorithm: LimitAlgorithm; suffix: string };
}

function window(limit: number, windowMs: number): LimitAlgorithm {
  return {
    kind: 'window',
    limit,
    windowMs,
    bucketMs: Math.max(1, Math.floor(windowMs / WINDOW_BUCKETS)),
  };
}

export function compilePolicy(name: string, p: RateLimitPolicyConfig): CompiledPolicy {
  const common = {
    name,
    backend: p.backend,
    timeoutMs: p.timeoutMs,
    failOpen: p.onBackendFailure === 'open',
    headers: p.headers,
    shadow: !p.enforce,
    keyOf: keyBuilder(p.key),
  };
  if (p.rate !== undefined) {
    const { limit, windowSeconds } = p.rate;
    const item = `"${name}";q=${limit};w=${windowSeconds}`;
    if (p.rate.algorithm === 'sliding-window') {
      const at = { algorithm: window(limit, windowSeconds * 1000), suffix: ':w' };
      return { ...common, class: 'rate', policyItem: item, capacity: limit, at: () => at };
    }
    const burst = p.rate.burst ?? limit;
    const intervalMs = (windowSeconds * 1000) / limit;
    const at = { algorithm: { kind: 'gcra', intervalMs, burst } as const, suffix: ':g' };
    return { ...common, class: 'rate', policyItem: item, capacity: burst, at: () => at };
  }
  if (p.quota !== undefined) {
    const { limit, period, timeZone } = p.quota;
    const item = `"${name}";q=${limit};w=${PERIOD_MS[period] / 1000}`;
    if (p.quota.window === 'rolling') {
      const at = { algorithm: window(limit, PERIOD_MS[period]), suffix: ':r' };
      return { ...common, class: 'quota', policyItem: item, capacity: limit, at: () => at };
    }
    return {
      ...common,
      class: 'quota',
      policyItem: item,
      capacity: limit,
      at(now) {
        const { id, endsAt } = periodOf(now, period, timeZone);
        return { algorithm: { kind: 'fixed', limit, endsAt }, suffix: `:f:${id}` };
      },
    };
  }
  if (p.concurrency !== undefined) {
    const algorithm: LimitAlgorithm = {
      kind: 'concurrency',
      limit: p.concurrency.limit,
      leaseMs: p.concurrency.leaseSeconds * 1000,
    };
    const at = { algorithm, suffix: ':c' };
    return {
      ...common,
      class: 'concurrency',
      policyItem: `"${name}";q=${p.concurrency.limit}`,
      capacity: Infinity,
      at: () => at,
    };
  }
  // The loader refuses a policy without exactly one of them; this guards a config built by hand.
  throw new Error(`rate limit policy ${name}: needs one of rate, quota, concurrency`);
}
