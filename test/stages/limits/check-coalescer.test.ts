import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  BatchResult,
  LimitAlgorithm,
  LimitCheck,
} from '../../../src/stages/limits/limit-check.js';
import { RedisLimits, RedisLimitsError } from '../../../src/stages/limits/redis-limits.js';
import { ownRedis, type OwnRedis } from '../../support/own-redis.js';

/**
 * Concurrent checks share one script call (docs/limits.md, batching): the decisions are those
 * of the same requests one after the other, all or nothing per request, and every request keeps
 * its own timeout. A Redis of the test's own: the tests count its script calls and slow it down.
 */

let server: OwnRedis;
let admin: Redis;
const log = pino({ level: 'silent' });
const clients: RedisLimits[] = [];

async function client(): Promise<RedisLimits> {
  const c = new RedisLimits({ url: server.url, keyPrefix: 'batch:', log });
  clients.push(c);
  await c.waitReady(5_000);
  expect(c.ready).toBe(true);
  return c;
}

beforeAll(async () => {
  server = await ownRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 0 });
  admin.on('error', () => undefined);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  admin?.disconnect();
  await server?.stop();
});

/** Script calls the server has run so far (EVALSHA, and EVAL when the script was not cached). */
async function scriptCalls(): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}

const check = (key: string, algorithm: LimitAlgorithm, cost = 1, token?: string): LimitCheck => ({
  key,
  algorithm,
  cost,
  shadow: false,
  ...(token === undefined ? {} : { token }),
});

/** What a caller sees of a decision; reset and retry times move with the clock. */
const decisions = (results: readonly BatchResult[]) =>
  results.map((r) => ({
    admitted: r.admitted,
    outcomes: r.outcomes.map((o) => ({ allowed: o.allowed, remaining: o.remaining })),
  }));

const FAR = Date.now() + 3_600_000;

describe('checks coalesced into one script call', () => {
  it.each([
    { what: 'a calendar quota', algorithm: { kind: 'fixed', limit: 10, endsAt: FAR } as const },
    {
      what: 'a sliding window',
      algorithm: { kind: 'window', limit: 10, windowMs: 600_000, bucketMs: 30_000 } as const,
    },
    { what: 'GCRA', algorithm: { kind: 'gcra', intervalMs: 60_000, burst: 10 } as const },
  ])(
    'decides a batch mixing admitted and refused requests on one key as a sequential run does: $what',
    async ({ algorithm }) => {
      const limits = await client();
      // Costs that leave gaps: a refused 3 is followed by an admitted 1.
      const costs = [3, 3, 3, 3, 1, 2, 1, 4, 1];
      const sequentialKey = randomUUID();
      const sequential: BatchResult[] = [];
      for (const cost of costs)
        sequential.push(await limits.consume([check(sequentialKey, algorithm, cost)], 1_000));
      expect(sequential.map((r) => r.admitted)).toEqual([
        ...[true, true, true, false, true, false, false, false, false],
      ]);

      const batchKey = randomUUID();
      const before = await scriptCalls();
      const batch = await Promise.all(
        costs.map((cost) => limits.consume([check(batchKey, algorithm, cost)], 1_000)),
      );
      expect(await scriptCalls()).toBe(before + 1);
      expect(decisions(batch)).toEqual(decisions(sequential));
    },
  );

  it('holds concurrency slots across a batch: the slots taken in it count', async () => {
    const limits = await client();
    const key = randomUUID();
    const algorithm = { kind: 'concurrency', limit: 3, leaseMs: 60_000 } as const;
    const before = await scriptCalls();
    const batch = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((t) => limits.consume([check(key, algorithm, 1, t)], 1_000)),
    );
    expect(await scriptCalls()).toBe(before + 1);
    expect(batch.map((r) => r.admitted)).toEqual([true, true, true, false, false]);
    expect(await admin.zrange(`batch:rl:${key}`, '0', '-1')).toEqual(['a', 'b', 'c']);
  });

  it('consumes from none of the limits of a request in a batch when one of them refuses', async () => {
    const limits = await client();
    const [wideKey, narrowKey] = [randomUUID(), randomUUID()];
    const wide = { kind: 'fixed', limit: 10, endsAt: FAR } as const;
    const narrow = { kind: 'fixed', limit: 2, endsAt: FAR } as const;
    const both = (): LimitCheck[] => [check(wideKey, wide), check(narrowKey, narrow)];
    const wideOnly = (): LimitCheck[] => [check(wideKey, wide)];
    const requests = [both(), both(), wideOnly(), both(), both(), wideOnly(), both()];
    const before = await scriptCalls();
    const batch = await Promise.all(requests.map((r) => limits.consume(r, 1_000)));
    expect(await scriptCalls()).toBe(before + 1);
    expect(batch.map((r) => r.admitted)).toEqual([true, true, true, false, false, true, false]);
    // The third request with both limits: the wide one would admit it, the narrow one refuses.
    expect(batch[3]?.outcomes.map((o) => o.allowed)).toEqual([true, false]);
    // Two requests with both and two with the wide limit alone consumed: 4 of 10 used, and the
    // three refused requests took nothing from the wide limit.
    const after = await limits.consume(wideOnly(), 1_000);
    expect(after.outcomes[0]?.remaining).toBe(5);
    expect(await admin.get(`batch:rl:${narrowKey}`)).toBe('2');
  });

  it('stays exact when two nodes each batch hundreds of checks on one key', async () => {
    const [a, b] = [await client(), await client()];
    const key = randomUUID();
    const algorithm = { kind: 'window', limit: 50, windowMs: 60_000, bucketMs: 3_000 } as const;
    const before = await scriptCalls();
    const results = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        (i % 2 === 0 ? a : b).consume([check(key, algorithm)], 5_000),
      ),
    );
    expect(results.filter((r) => r.admitted)).toHaveLength(50);
    // Without coalescing this would be 600 calls.
    expect((await scriptCalls()) - before).toBeLessThan(20);
  });
});

describe('timeouts of coalesced checks', () => {
  it('times a queued request out from its own arrival, and never sends it', async () => {
    const limits = await client();
    const key = randomUUID();
    const quota = { kind: 'fixed', limit: 10, endsAt: FAR } as const;
    const timeoutMs = 200;
    // Redis answers nothing for 1 s.
    const sleeping = admin.call('DEBUG', 'SLEEP', '1').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));

    const timed = async (): Promise<{ ms: number; err: unknown }> => {
      const started = performance.now();
      const err = await limits.consume([check(key, quota)], timeoutMs).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { ms: performance.now() - started, err };
    };
    // The first goes to Redis and waits there, and so does the second, 50 ms later (under light
    // load a second call goes without waiting for the first); the third, 50 ms after that,
    // queues behind them.
    const first = timed();
    await new Promise((r) => setTimeout(r, 50));
    const second = timed();
    await new Promise((r) => setTimeout(r, 50));
    const third = await timed();
    const results = [await first, await second, third];

    for (const r of results) {
      expect(r.err).toBeInstanceOf(RedisLimitsError);
      expect(String(r.err)).toMatch(/within 200 ms/);
    }
    // Not failed with the first (100 ms after it arrived), nor left waiting for the calls in
    // flight (until Redis wakes, 800 ms after it arrived): 200 ms after its own arrival.
    expect(third.ms).toBeGreaterThanOrEqual(timeoutMs - 5);
    for (const r of results) expect(r.ms).toBeLessThan(timeoutMs + 300);

    await sleeping;
    // The first two reached Redis and counted once it woke (stricter, never looser); the third
    // was never sent: 2 used before this one, 7 left after it.
    const now = await limits.consume([check(key, quota)], 1_000);
    expect(now.outcomes[0]?.remaining).toBe(7);
  });

  it('sends a second call while one is in flight under light load, and only then', async () => {
    const limits = await client();
    const quota = { kind: 'fixed', limit: 1_000, endsAt: FAR } as const;
    const key = randomUUID();
    const pause = () => new Promise((r) => setTimeout(r, 20));
    /** Script calls made by `run` while Redis answers nothing for 300 ms. */
    const callsWhileSlow = async (run: () => Promise<Promise<BatchResult>[]>) => {
      const before = await scriptCalls();
      const sleeping = admin.call('DEBUG', 'SLEEP', '0.3').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      const all = await Promise.all(await run());
      await sleeping;
      expect(all.every((r) => r.admitted)).toBe(true);
      return (await scriptCalls()) - before;
    };
    const consume = (n: number) =>
      Array.from({ length: n }, () => limits.consume([check(key, quota)], 2_000));

    // Heavy: six requests in the call in flight; the next two wait for it and share a call.
    const heavy = await callsWhileSlow(async () => {
      const first = consume(6);
      await pause();
      const a = consume(1);
      await pause();
      return [...first, ...a, ...consume(1)];
    });
    expect(heavy).toBe(2);
    // Light: one request in flight; the next six go at once in a second call, and the twenty
    // after them wait (two calls in flight) and share a third.
    const light = await callsWhileSlow(async () => {
      const alone = consume(1);
      await pause();
      const six = consume(6);
      await pause();
      return [...alone, ...six, ...consume(20)];
    });
    expect(light).toBe(3);
  });

  /**
   * Ten requests in a call in flight (under load) and `behind` queued behind it; when the call
   * answers, `arrivals[i]` more come in the i-th turn of the event loop after. Returns the
   * script calls made.
   */
  async function underLoad(arrivals: readonly number[], behind = 8): Promise<number> {
    const limits = await client();
    const quota = { kind: 'fixed', limit: 1_000, endsAt: FAR } as const;
    const key = randomUUID();
    const one = () => limits.consume([check(key, quota)], 2_000);
    const before = await scriptCalls();
    const sleeping = admin.call('DEBUG', 'SLEEP', '0.3').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const [head, ...rest] = Array.from({ length: 10 }, one);
    if (head === undefined) throw new Error('no request');
    await new Promise((r) => setTimeout(r, 20));
    const queued = Array.from({ length: behind }, one);
    const late = head.then(async () => {
      const more: Promise<BatchResult>[] = [];
      for (const n of arrivals) {
        await new Promise((r) => setImmediate(r));
        for (let i = 0; i < n; i++) more.push(one());
      }
      return Promise.all(more);
    });
    const all = [...(await Promise.all([head, ...rest, ...queued])), ...(await late)];
    await sleeping;
    expect(all).toHaveLength(10 + behind + arrivals.reduce((a, b) => a + b, 0));
    expect(all.every((r) => r.admitted)).toBe(true);
    return (await scriptCalls()) - before;
  }

  it('lets the call after a large one wait for company while each turn brings more', async () => {
    expect(await underLoad([1])).toBe(2);
    expect(await underLoad([2, 1, 3, 1])).toBe(2);
  });

  it('sends that call as soon as a turn of the event loop brings no request', async () => {
    expect(await underLoad([1, 0, 1])).toBe(3);
  });

  it('sends it after four turns at most, however many more keep coming', async () => {
    expect(await underLoad([1, 1, 1, 1, 1])).toBe(3);
  });

  it('waits one turn only when few requests queued during the round trip (not saturated)', async () => {
    expect(await underLoad([1], 1)).toBe(2);
    expect(await underLoad([1, 1], 1)).toBe(3);
  });
});

describe('Redis down', () => {
  it('fails every queued request at once while Redis is down, and recovers when it is back', async () => {
    const limits = await client();
    const key = randomUUID();
    const quota = { kind: 'fixed', limit: 10, endsAt: FAR } as const;
    await server.stop();
    const started = performance.now();
    const failures = await Promise.all(
      Array.from({ length: 20 }, () =>
        limits.consume([check(key, quota)], 5_000).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    for (const f of failures) expect(f).toBeInstanceOf(RedisLimitsError);

    await server.start();
    const deadline = Date.now() + 10_000;
    while (!limits.ready) {
      if (Date.now() > deadline) throw new Error('did not reconnect to Redis');
      await new Promise((r) => setTimeout(r, 50));
    }
    const back = await Promise.all(
      Array.from({ length: 12 }, () => limits.consume([check(key, quota)], 1_000)),
    );
    expect(back.filter((r) => r.admitted)).toHaveLength(10);
  });
});
