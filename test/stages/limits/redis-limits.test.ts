import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult, LimitCheck } from '../../../src/stages/limits/limit-check.js';
import { LimitTable } from '../../../src/stages/limits/limit-table.js';
import { compilePolicy } from '../../../src/stages/limits/limit-policy.js';
import { createLimitsStage } from '../../../src/stages/limits/limits-stage.js';
import { RedisLimits } from '../../../src/stages/limits/redis-limits.js';
import { encodeRequests } from '../../../src/stages/limits/redis-limits-script.js';
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

describe('a call carrying many requests', () => {
  // Requests submitted in one turn of the event loop go as one call (CheckCoalescer).
  const together = (requests: readonly LimitCheck[][]) =>
    Promise.all(requests.map((checks) => redis.consume(checks, 2_000)));

  it('sends a run of identical requests once, with its length', () => {
    const a: LimitCheck = {
      key: 'a',
      algorithm: { kind: 'gcra', intervalMs: 100, burst: 10 },
      cost: 2,
      shadow: false,
    };
    const b: LimitCheck = { ...a, key: 'b' };
    const { args, runs } = encodeRequests('p:', [
      ...Array.from({ length: 50 }, () => [a]),
      [a, b],
      [a],
    ]);
    const [keys, names, argv] = args;
    expect([keys, names, runs]).toEqual([2, ['p:a', 'p:b'], [50, 1, 1]]);
    // The keys' specs, then records: 50 times [a], once [a, b], once [a].
    expect(argv).toBe('g 0 100 10 0 g 0 100 10 0 -50 1 1 2 2 1 2 2 2 1 1 2');
  });

  it('decides a run one request after the other, as if each had come alone', async () => {
    const k = key();
    const checks = (): LimitCheck[] => [
      { key: k, algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 5 }, cost: 1, shadow: false },
    ];
    const results = await together(Array.from({ length: 8 }, checks));
    expect(results.map((r) => r.admitted)).toEqual([1, 1, 1, 1, 1, 0, 0, 0].map(Boolean));
    expect(results.map((r) => r.outcomes[0]?.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
    expect(results.map((r) => r.outcomes[0]?.resetMs)).toEqual([
      60_000, 120_000, 180_000, 240_000, 300_000, 300_000, 300_000, 300_000,
    ]);
  });

  it.each([
    { kind: 'gcra', intervalMs: 60_000, burst: 5 },
    { kind: 'window', limit: 5, windowMs: 60_000, bucketMs: 3_000 },
    { kind: 'fixed', limit: 5, endsAt: Date.now() + 60_000 },
  ] as const)('ends a run of cost 2 on $kind with one unit left over', async (algorithm) => {
    const k = key();
    const checks = (): LimitCheck[] => [{ key: k, algorithm, cost: 2, shadow: false }];
    const results = await together(Array.from({ length: 4 }, checks));
    expect(results.map((r) => r.admitted)).toEqual([true, true, false, false]);
    expect(results.map((r) => r.outcomes[0]?.remaining)).toEqual([3, 1, 1, 1]);
  });

  it('keeps the order of runs broken by other requests', async () => {
    const [a, b] = [key(), key()];
    const gcra = { kind: 'gcra', intervalMs: 60_000, burst: 4 } as const;
    const once = { kind: 'fixed', limit: 1, endsAt: Date.now() + 60_000 } as const;
    const A = (): LimitCheck[] => [{ key: a, algorithm: gcra, cost: 1, shadow: false }];
    const AB = (): LimitCheck[] => [...A(), { key: b, algorithm: once, cost: 1, shadow: false }];
    const results = await together([A(), A(), AB(), AB(), A(), A(), A()]);
    // The second AB is refused by b and takes nothing from a: the A after it still gets one.
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, false, true, false, false]);
    expect(results.map((r) => r.outcomes[0]?.remaining)).toEqual([3, 2, 1, 0, 0, 0, 0]);
  });

  it.each([1, 2, 3, 4, 5])(
    'decides a call as the same requests one call each would be (seed %i)',
    async (seed) => {
      // Runs of equal requests broken by others, on every kind, costs 1 and 2: one call must
      // admit what one call per request admits, and tell each the same remaining units.
      let state = seed;
      const random = (n: number): number => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state % n;
      };
      const kinds = [
        { kind: 'gcra', intervalMs: 60_000, burst: 6 },
        { kind: 'window', limit: 9, windowMs: 60_000, bucketMs: 3_000 },
        { kind: 'fixed', limit: 8, endsAt: Date.now() + 60_000 },
      ] as const;
      const templates = [[0], [1], [2], [0, 1], [1, 2], [0, 1, 2]];
      const picks = Array.from({ length: 60 }, () => {
        const t = templates[random(templates.length)] as number[];
        const cost = 1 + random(2);
        const times = 1 + random(4);
        return Array.from({ length: times }, () => ({ t, cost }));
      }).flat();
      const requestsOn = (prefix: string): LimitCheck[][] =>
        picks.map(({ t, cost }) =>
          t.map((i) => ({
            key: `${prefix}${i}`,
            algorithm: kinds[i] as LimitCheck['algorithm'],
            cost,
            shadow: false,
          })),
        );
      const [one, each] = [key(), key()];
      const summary = (results: readonly BatchResult[]) =>
        results.map((r) => [r.admitted, ...r.outcomes.map((o) => o.remaining)]);
      const together = await Promise.all(
        requestsOn(one).map((checks) => redis.consume(checks, 2_000)),
      );
      const alone: BatchResult[] = [];
      for (const checks of requestsOn(each)) alone.push(await redis.consume(checks, 2_000));
      expect(summary(together)).toEqual(summary(alone));
      expect(together.some((r) => r.admitted)).toBe(true);
      expect(together.some((r) => !r.admitted)).toBe(true);
    },
  );

  it('counts every request of a limit of a billion per second', async () => {
    // As an absolute time near 1.8e12 ms, the 1e-6 ms a request adds would vanish in rounding.
    const k = key();
    const algorithm = { kind: 'gcra', intervalMs: 1e-6, burst: 1_000_000_000 } as const;
    const results = await together(
      Array.from({ length: 100 }, () => [{ key: k, algorithm, cost: 1, shadow: false }]),
    );
    expect(results.map((r) => r.outcomes[0]?.remaining)).toEqual(
      Array.from({ length: 100 }, (_, i) => 999_999_999 - i),
    );
  });

  it('reads a GCRA time written by an earlier version (an absolute time in ms)', async () => {
    const k = key();
    const admin = new Redis(REDIS_URL);
    try {
      // A key whose theoretical arrival time is a minute ahead: one of 2 used at 60 s each.
      await admin.set(`${PREFIX}rl:${k}`, String(Date.now() + 60_000), 'PX', 120_000);
    } finally {
      await admin.quit();
    }
    const checks = (): LimitCheck[] => [
      { key: k, algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 2 }, cost: 1, shadow: false },
    ];
    expect(await admittedOf(checks, 3)).toBe(1);
  });
});

describe('a key holding what no limit wrote', () => {
  const ends = Date.now() + 60_000;
  const CORRUPT: {
    what: string;
    algorithm: LimitCheck['algorithm'];
    write: (admin: Redis, k: string) => Promise<unknown>;
  }[] = [
    {
      what: 'GCRA, a hash',
      algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 3 },
      write: (a, k) => a.hset(k, 'x', 'y'),
    },
    {
      what: 'GCRA, text',
      algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 3 },
      write: (a, k) => a.set(k, 'garbage'),
    },
    {
      what: 'GCRA, a truncated record',
      algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 3 },
      write: (a, k) => a.set(k, Buffer.from([1, 2, 3])),
    },
    {
      what: 'window, text',
      algorithm: { kind: 'window', limit: 3, windowMs: 60_000, bucketMs: 3_000 },
      write: (a, k) => a.set(k, 'garbage'),
    },
    {
      what: 'window, fields that are not numbers',
      algorithm: { kind: 'window', limit: 3, windowMs: 60_000, bucketMs: 3_000 },
      write: (a, k) => a.hset(k, 'x', 'y', String(Math.floor(Date.now() / 3_000)), '1.5'),
    },
    {
      what: 'quota, a hash',
      algorithm: { kind: 'fixed', limit: 3, endsAt: ends },
      write: (a, k) => a.hset(k, 'x', 'y'),
    },
    {
      what: 'quota, a fraction',
      algorithm: { kind: 'fixed', limit: 3, endsAt: ends },
      write: (a, k) => a.set(k, '1.5'),
    },
    {
      what: 'concurrency, text',
      algorithm: { kind: 'concurrency', limit: 3, leaseMs: 60_000 },
      write: (a, k) => a.set(k, 'garbage'),
    },
  ];

  it.each(CORRUPT)(
    '$what: counted afresh, and the other requests of its call decided as usual',
    async ({ algorithm, write }) => {
      const [bad, good] = [key(), key()];
      const admin = new Redis(REDIS_URL);
      try {
        await write(admin, `${PREFIX}rl:${bad}`);
      } finally {
        await admin.quit();
      }
      const quota = { kind: 'fixed', limit: 2, endsAt: ends } as const;
      const damaged = (): LimitCheck => ({
        key: bad,
        algorithm,
        cost: 1,
        shadow: false,
        ...(algorithm.kind === 'concurrency' ? { token: randomUUID() } : {}),
      });
      // One call: four requests on the damaged key, three on a sound one.
      const results = await Promise.all([
        ...Array.from({ length: 4 }, () => redis.consume([damaged()], 2_000)),
        ...Array.from({ length: 3 }, () =>
          redis.consume([{ key: good, algorithm: quota, cost: 1, shadow: false }], 2_000),
        ),
      ]);

      expect(results.map((r) => r.admitted)).toEqual([true, true, true, false, true, true, false]);
      // What the damaged key holds now is the limit's own: the next call reads it.
      const next = await redis.consume([damaged()], 2_000);
      expect(next.admitted).toBe(false);
    },
  );

  it('still refunds the other keys of a refund that meets such a key', async () => {
    const [bad, good] = [key(), key()];
    const algorithm = { kind: 'fixed', limit: 1, endsAt: ends } as const;
    const check = (k: string): LimitCheck => ({ key: k, algorithm, cost: 1, shadow: false });
    expect((await redis.consume([check(good)], 2_000)).admitted).toBe(true);
    const admin = new Redis(REDIS_URL);
    try {
      await admin.hset(`${PREFIX}rl:${bad}`, 'x', 'y');
      // One refund call, the damaged key first.
      redis.refund([check(bad), check(good)]);
      await new Promise((r) => setTimeout(r, 50));
      expect(await admin.type(`${PREFIX}rl:${bad}`)).toBe('hash');
    } finally {
      await admin.quit();
    }
    expect(await admittedOf(() => [check(good)], 2)).toBe(1);
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
