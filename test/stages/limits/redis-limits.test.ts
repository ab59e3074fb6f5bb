import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitCheck } from '../../../src/stages/limits/limit-check.js';
import { LimitTable } from '../../../src/stages/limits/limit-table.js';
import { compilePolicy } from '../../../src/stages/limits/limit-policy.js';
import { createLimitsStage } from '../../../src/stages/limits/limits-stage.js';
import { RedisLimits } from '../../../src/stages/limits/redis-limits.js';
import type { RequestContext, Verdict } from '../../../src/gateway/stage.js';
import { deleteRedisKeys, REDIS_URL } from '../../support/redis.js';
import { requestContext } from '../authn/request-context.js';

/** The Redis backend against the real server: the script's decisions, atomicity and leases. */

const PREFIX = `pcl-test-rl-${randomUUID().slice(0, 8)}:`;
const log = pino({ level: 'silent' });
let redis: RedisLimits;

beforeAll(async () => {
  redis = new RedisLimits({ url: REDIS_URL, keyPrefix: PREFIX, log });
  await redis.waitReady(5_000);
  expect(redis.ready).toBe(true);
});

afterAll(async () => {
  await redis?.close();
  await deleteRedisKeys(PREFIX);
});

const key = () => randomUUID();

async function admittedOf(checks: () => LimitCheck[], n: number): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < n; i++) if ((await redis.consume(checks(), 1_000)).admitted) admitted++;
  return admitted;
}

describe('the Redis script', () => {
  it.each([
    {
      what: 'GCRA admits its burst, then none within the interval',
      algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 5 } as const,
      admitted: 5,
    },
    {
      what: 'a sliding window admits its limit',
      algorithm: { kind: 'window', limit: 7, windowMs: 60_000, bucketMs: 3_000 } as const,
      admitted: 7,
    },
    {
      what: 'a calendar quota admits its limit',
      algorithm: { kind: 'fixed', limit: 4, endsAt: Date.now() + 60_000 } as const,
      admitted: 4,
    },
  ])('$what', async ({ algorithm, admitted }) => {
    const k = key();
    const checks = (): LimitCheck[] => [{ key: k, algorithm, cost: 1, shadow: false }];
    expect(await admittedOf(checks, 12)).toBe(admitted);
    const refused = await redis.consume(checks(), 1_000);
    expect(refused.outcomes[0]).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.outcomes[0]?.retryMs).toBeGreaterThan(0);
  });

  it('consumes from none of the limits of a request one of them refuses', async () => {
    const [a, b] = [key(), key()];
    const wide = { kind: 'fixed', limit: 10, endsAt: Date.now() + 60_000 } as const;
    const narrow = { kind: 'fixed', limit: 2, endsAt: Date.now() + 60_000 } as const;
    const both = (): LimitCheck[] => [
      { key: a, algorithm: wide, cost: 1, shadow: false },
      { key: b, algorithm: narrow, cost: 1, shadow: false },
    ];
    expect(await admittedOf(both, 5)).toBe(2);
    // Three refused requests took nothing from the wide limit: 8 of 10 left.
    const alone = await redis.consume([{ key: a, algorithm: wide, cost: 1, shadow: false }], 1_000);
    expect(alone.outcomes[0]?.remaining).toBe(7);
  });

  it('is exact under concurrent checks from many connections at once', async () => {
    const k = key();
    const algorithm = { kind: 'window', limit: 50, windowMs: 60_000, bucketMs: 3_000 } as const;
    const results = await Promise.all(
      Array.from({ length: 300 }, () =>
        redis.consume([{ key: k, algorithm, cost: 1, shadow: false }], 2_000),
      ),
    );
    expect(results.filter((r) => r.admitted)).toHaveLength(50);
  });

  it('holds concurrency leases until released', async () => {
    const k = key();
    const algorithm = { kind: 'concurrency', limit: 2, leaseMs: 60_000 } as const;
    const slot = (token: string): LimitCheck[] => [
      { key: k, algorithm, cost: 1, shadow: false, token },
    ];
    expect((await redis.consume(slot('a'), 1_000)).admitted).toBe(true);
    expect((await redis.consume(slot('b'), 1_000)).admitted).toBe(true);
    expect((await redis.consume(slot('c'), 1_000)).admitted).toBe(false);
    redis.release([{ key: k, token: 'a' }]);
    await new Promise((r) => setTimeout(r, 50));
    expect((await redis.consume(slot('d'), 1_000)).admitted).toBe(true);
  });

  it('gives back what a refund names', async () => {
    const k = key();
    const algorithm = { kind: 'gcra', intervalMs: 60_000, burst: 2 } as const;
    const checks = (): LimitCheck[] => [{ key: k, algorithm, cost: 1, shadow: false }];
    expect(await admittedOf(checks, 2)).toBe(2);
    redis.refund(checks());
    await new Promise((r) => setTimeout(r, 50));
    expect(await admittedOf(checks, 3)).toBe(1);
  });
});

describe('a route mixing local and Redis limits', () => {
  const ctx = (): RequestContext => ({
    ...requestContext(),
    onFinished: () => undefined,
  });

  function stage(redisLimit: number, localLimit: number, name: string) {
    const policies = [
      compilePolicy(`${name}-local`, {
        key: ['route'],
        quota: { limit: localLimit, period: 'day', window: 'calendar', timeZone: 'UTC' },
        backend: 'local',
        timeoutMs: 50,
        onBackendFailure: 'closed',
        headers: true,
        enforce: true,
      }),
      compilePolicy(`${name}-redis`, {
        key: ['route'],
        quota: { limit: redisLimit, period: 'day', window: 'calendar', timeZone: 'UTC' },
        backend: 'redis',
        timeoutMs: 500,
        onBackendFailure: 'closed',
        headers: true,
        enforce: true,
      }),
    ];
    return createLimitsStage({ policies, cost: 1, local: new LimitTable(Date), redis });
  }

  const statusOf = async (v: Verdict | Promise<Verdict>): Promise<number> => {
    const verdict = await v;
    return verdict.continue ? 200 : 429;
  };

  it('gives the local units back when Redis refuses', async () => {
    const s = stage(2, 3, key());
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await statusOf(s.onRequest(ctx())));
    expect(statuses).toEqual([200, 200, 429, 429]);
    // The local quota of 3 lost nothing to the two refusals: its header says 1 left.
    const refused = await s.onRequest(ctx());
    expect(refused.continue).toBe(false);
    if (!refused.continue) expect(refused.problem.headers?.ratelimit).toMatch(/-local";r=1;/);
  });

  it('asks Redis nothing when a local limit refuses', async () => {
    const name = key();
    const s = stage(10, 1, name);
    expect(await statusOf(s.onRequest(ctx()))).toBe(200);
    expect(await statusOf(s.onRequest(ctx()))).toBe(429);
    expect(await statusOf(s.onRequest(ctx()))).toBe(429);
    // Another node (its own local table) sees the shared count: 1 of 10 used, 8 left after it.
    const other = stage(10, 5, name);
    const c = ctx();
    expect((await other.onRequest(c)).continue).toBe(true);
    const response = await other.onResponse?.(c, { statusCode: 200, headers: {} });
    const headers = response?.continue === true ? response.change?.setHeaders : undefined;
    expect(headers?.ratelimit).toMatch(/-redis";r=8;/);
  });
});
