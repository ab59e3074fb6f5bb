/**
 * The checks of consumption limits the schema cannot express (docs/limits.md): every policy
 * says what it limits and can admit a request, and every route names policies that exist and
 * keys it can read.
 */
import { isTimeZone } from '../stages/limits/calendar-period.js';

type Seg = string | number;
type Path = readonly Seg[];

/** The part of the loader's reporter these checks use. */
export interface RateLimitReporter {
  report(path: Path, message: string, key?: string): void;
  show(path: Path, value: string): string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const ALGORITHMS = ['rate', 'quota', 'concurrency'] as const;
/** Key parts that read the identity: the same one bucket for every caller of a public route. */
const IDENTITY_PARTS = /^(consumer|credential|claim:.*)$/;

/** The most units one request may cost and still ever be admitted by the policy. */
function capacityOf(policy: Record<string, unknown>): number {
  const rate = policy.rate;
  if (isRecord(rate)) {
    const burst = typeof rate.burst === 'number' ? rate.burst : undefined;
    const limit = typeof rate.limit === 'number' ? rate.limit : Infinity;
    return rate.algorithm === 'sliding-window' ? limit : (burst ?? limit);
  }
  const quota = policy.quota;
  if (isRecord(quota) && typeof quota.limit === 'number') return quota.limit;
  return Infinity;
}

export function checkRateLimits(r: RateLimitReporter, config: Record<string, unknown>): void {
  const policies = isRecord(config.rateLimits) ? config.rateLimits : {};
  const state = isRecord(config.state) ? config.state : {};
  const cluster = isRecord(state.cluster) ? state.cluster : {};
  for (const [name, policy] of Object.entries(policies)) {
    if (!isRecord(policy)) continue;
    const at: Path = ['rateLimits', name];
    const given = ALGORITHMS.filter((k) => policy[k] !== undefined);
    if (given.length !== 1)
      r.report(
        at,
        `needs exactly one of rate, quota, concurrency${given.length > 1 ? `, not ${given.join(' and ')}` : ''}`,
      );
    const rate = policy.rate;
    if (isRecord(rate) && rate.algorithm === 'sliding-window' && rate.burst !== undefined)
      r.report(
        [...at, 'rate', 'burst'],
        'a sliding window has no burst: it admits up to limit in any window; remove burst or use gcra',
      );
    const quota = policy.quota;
    if (isRecord(quota) && typeof quota.timeZone === 'string' && !isTimeZone(quota.timeZone))
      r.report(
        [...at, 'quota', 'timeZone'],
        `unknown time zone ${r.show([...at, 'quota', 'timeZone'], quota.timeZone)}: use an IANA name such as UTC or Europe/Berlin`,
      );
    if (policy.backend === 'redis' && cluster.redisUrl === undefined)
      r.report([...at, 'backend'], 'redis needs state.cluster.redisUrl');
  }

  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const checkList = (limits: unknown, at: Path, route: Record<string, unknown>): void => {
    if (!isRecord(limits)) return;
    const cost = typeof limits.cost === 'number' ? limits.cost : 1;
    const auth = route.auth ?? defaults.auth;
    const isPublic = isRecord(auth) && auth.public === true;
    listOf(limits.policies).forEach((name, j) => {
      if (typeof name !== 'string') return;
      const here = [...at, 'policies', j];
      const policy = policies[name];
      if (!isRecord(policy)) {
        const known = Object.keys(policies).sort().join(', ') || '(none)';
        r.report(here, `unknown rate limit policy ${r.show(here, name)}; known: ${known}`);
        return;
      }
      const capacity = capacityOf(policy);
      if (cost > capacity)
        r.report(
          [...at, 'cost'],
          `costs ${cost} units, more than policy ${r.show(here, name)} ever admits (${capacity}): no request would pass`,
        );
      const methods = isRecord(auth) ? listOf(auth.methods) : [];
      const claimless = methods.filter((m) => m === 'api-key' || m === 'mtls');
      const claims = listOf(policy.key).filter(
        (k): k is string => typeof k === 'string' && k.startsWith('claim:'),
      );
      if (!isPublic && claimless.length > 0 && claims.length > 0)
        r.report(
          here,
          `policy ${r.show(here, name)} keys on ${claims.join(', ')}, but ${claimless.join(' and ')} credentials carry no claims: their callers would share one bucket; key it on consumer or credential`,
        );
      if (isPublic) {
        const parts = listOf(policy.key).filter(
          (k): k is string => typeof k === 'string' && IDENTITY_PARTS.test(k),
        );
        if (parts.length > 0)
          r.report(
            here,
            `policy ${r.show(here, name)} keys on ${parts.join(', ')}, which a public route has none of: every caller would share one bucket; key it on ip or route`,
          );
      }
    });
  };
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route)) return;
    if (route.rateLimits !== undefined)
      checkList(route.rateLimits, ['routes', i, 'rateLimits'], route);
    else checkList(defaults.rateLimits, ['defaults', 'rateLimits'], route);
  });
}
