import { describe, expect, it } from 'vitest';
import { periodOf } from '../../../src/stages/limits/calendar-period.js';
import type { LimitAlgorithm, LimitCheck } from '../../../src/stages/limits/limit-check.js';
import { LimitTable } from '../../../src/stages/limits/limit-table.js';

/** A clock the test moves by hand. */
function fakeClock(start: number) {
  let now = start;
  return {
    now: () => now,
    set: (t: number) => {
      now = t;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const check = (
  key: string,
  algorithm: LimitAlgorithm,
  extra: Partial<LimitCheck> = {},
): LimitCheck => ({ key, algorithm, cost: 1, shadow: false, ...extra });

/** How many of `n` single requests at the clock's current time are admitted. */
function admittedOf(table: LimitTable, checks: readonly LimitCheck[], n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (table.consume(checks).admitted) admitted++;
  return admitted;
}

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

describe('the window edge', () => {
  // 10 per second. A fixed window would admit 10 at 0.999 s and 10 more at 1.000 s.
  it.each<{ name: string; algorithm: LimitAlgorithm; afterEdge: number }>([
    {
      name: 'GCRA, burst 10',
      algorithm: { kind: 'gcra', intervalMs: 100, burst: 10 },
      // 10 at 999 ms; one interval has not passed 1 ms later: none.
      afterEdge: 0,
    },
    {
      name: 'sliding window in 10 buckets',
      algorithm: { kind: 'window', limit: 10, windowMs: 1_000, bucketMs: 100 },
      afterEdge: 0,
    },
  ])('$name admits exactly 10 across a window edge, not 20', ({ algorithm, afterEdge }) => {
    const clock = fakeClock(T0 + 999);
    const table = new LimitTable(clock);
    const key = [check('k', algorithm)];
    expect(admittedOf(table, key, 50)).toBe(10);
    clock.set(T0 + 1_000);
    expect(admittedOf(table, key, 50)).toBe(afterEdge);
    // And the budget comes back as the window slides: a whole window later, 10 again.
    clock.set(T0 + 2_100);
    expect(admittedOf(table, key, 50)).toBe(10);
  });

  it('GCRA admits one more per interval, never a burst at the edge', () => {
    const clock = fakeClock(T0);
    const table = new LimitTable(clock);
    const key = [check('k', { kind: 'gcra', intervalMs: 100, burst: 10 })];
    expect(admittedOf(table, key, 20)).toBe(10);
    let total = 10;
    // Over the next 2 s, one every 100 ms: 20 more, however hard the client pushes.
    for (let t = 1; t <= 200; t++) {
      clock.set(T0 + t * 10);
      total += admittedOf(table, key, 5);
    }
    expect(total).toBe(30);
  });

  it('tells a refused client when to come back', () => {
    const clock = fakeClock(T0);
    const table = new LimitTable(clock);
    const key = [check('k', { kind: 'gcra', intervalMs: 1_000, burst: 2 })];
    table.consume(key);
    table.consume(key);
    const refused = table.consume(key);
    expect(refused.admitted).toBe(false);
    expect(refused.outcomes[0]).toMatchObject({ allowed: false, remaining: 0, retryMs: 1_000 });
    clock.advance(1_000);
    expect(table.consume(key).admitted).toBe(true);
  });
});

describe('GCRA at high rates', () => {
  it.each([
    { rate: '1,000,000,000/s', intervalMs: 1e-6 },
    { rate: '1,000,000/s', intervalMs: 1e-3 },
    { rate: '3/s', intervalMs: 1000 / 3 },
  ])('counts every request of $rate exactly at one instant', ({ intervalMs }) => {
    // Kept as an absolute time near 1.8e12 ms, 1e-6 ms per request would vanish in rounding
    // and 1e-3 ms would be off by a fifth; the debt is exact.
    const table = new LimitTable(fakeClock(T0));
    const burst = Math.round(1000 / intervalMs);
    const key = [check('k', { kind: 'gcra', intervalMs, burst })];
    const remaining = Array.from({ length: 3 }, () => table.consume(key).outcomes[0]?.remaining);
    expect(remaining).toEqual([burst - 1, burst - 2, burst - 3]);
  });

  it('drains the debt with time, whatever the rate', () => {
    const clock = fakeClock(T0);
    const table = new LimitTable(clock);
    const key = [check('k', { kind: 'gcra', intervalMs: 1e-3, burst: 1000 })];
    expect(admittedOf(table, key, 2000)).toBe(1000);
    clock.advance(0.5);
    expect(admittedOf(table, key, 2000)).toBe(500);
  });
});

describe('several limits on one request', () => {
  const perSecond = check('consumer:s', { kind: 'gcra', intervalMs: 100, burst: 10 });
  const perDay = check('consumer:d', { kind: 'fixed', limit: 15, endsAt: T0 + 86_400_000 });
  const perRoute = check('route:s', { kind: 'window', limit: 12, windowMs: 1_000, bucketMs: 50 });

  it('checks all of them, and a refused request consumes from none', () => {
    const clock = fakeClock(T0);
    const table = new LimitTable(clock);
    // The first 10 pass every limit; the 11th is refused by the per-second limit alone...
    expect(admittedOf(table, [perSecond, perDay, perRoute], 10)).toBe(10);
    const refused = table.consume([perSecond, perDay, perRoute]);
    expect(refused.admitted).toBe(false);
    expect(refused.outcomes.map((o) => o.allowed)).toEqual([false, true, true]);
    // ...and took nothing from the others: 2 left on the route, 5 on the day (each one less
    // after the request that asks).
    expect(table.consume([perRoute]).outcomes[0]?.remaining).toBe(1);
    expect(table.consume([perDay]).outcomes[0]?.remaining).toBe(4);
  });

  it('charges the route cost to every rate and quota limit', () => {
    const table = new LimitTable(fakeClock(T0));
    const expensive = [
      { ...perSecond, cost: 4 },
      { ...perDay, cost: 4 },
    ];
    expect(admittedOf(table, expensive, 5)).toBe(2);
    // 8 of 15 used today, 8 of the burst of 10: a request of cost 1 still passes.
    expect(table.consume([perSecond, perDay]).outcomes.map((o) => o.remaining)).toEqual([1, 6]);
  });

  it('lets a shadow limit record its refusal without blocking or consuming', () => {
    const table = new LimitTable(fakeClock(T0));
    const shadow = check(
      'shadow',
      { kind: 'fixed', limit: 1, endsAt: T0 + 1_000 },
      { shadow: true },
    );
    const enforced = check('enforced', { kind: 'fixed', limit: 3, endsAt: T0 + 1_000 });
    const results = [0, 1, 2, 3].map(() => table.consume([shadow, enforced]));
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.outcomes[0]?.allowed)).toEqual([true, false, false, false]);
  });

  it('takes back what a refund names', () => {
    const table = new LimitTable(fakeClock(T0));
    const checks = [perSecond, perDay, perRoute];
    expect(admittedOf(table, checks, 10)).toBe(10);
    table.refund(checks);
    expect(table.consume(checks).admitted).toBe(true);
    expect(table.consume(checks).admitted).toBe(false);
  });
});

describe('concurrency', () => {
  const slot = (token: string) =>
    check('inflight', { kind: 'concurrency', limit: 2, leaseMs: 60_000 }, { token });

  it('holds a slot until the request releases it', () => {
    const table = new LimitTable(fakeClock(T0));
    expect(table.consume([slot('a')]).admitted).toBe(true);
    expect(table.consume([slot('b')]).admitted).toBe(true);
    expect(table.consume([slot('c')]).admitted).toBe(false);
    table.release([{ key: 'inflight', token: 'a' }]);
    expect(table.consume([slot('d')]).admitted).toBe(true);
  });

  it('frees the slot of a request nobody released once its lease ends (a crashed worker)', () => {
    const clock = fakeClock(T0);
    const table = new LimitTable(clock);
    table.consume([slot('a')]);
    table.consume([slot('b')]);
    clock.advance(59_999);
    expect(table.consume([slot('c')]).admitted).toBe(false);
    clock.advance(1);
    expect(table.consume([slot('c')]).admitted).toBe(true);
  });

  it('does not hold a slot for a request another limit refused', () => {
    const table = new LimitTable(fakeClock(T0));
    const none = check('zero', { kind: 'fixed', limit: 1, endsAt: T0 + 1_000 });
    table.consume([none]);
    expect(table.consume([slot('a'), none]).admitted).toBe(false);
    expect(table.consume([slot('b')]).admitted).toBe(true);
    expect(table.consume([slot('c')]).admitted).toBe(true);
  });
});

describe('quotas across a day boundary', () => {
  /** The checks a calendar quota of 3 a day makes at the clock's time (the key names the day). */
  const daily = (now: number, timeZone: string) => {
    const { id, endsAt } = periodOf(now, 'day', timeZone);
    return [check(`daily:${id}`, { kind: 'fixed', limit: 3, endsAt })];
  };

  it.each([
    { timeZone: 'UTC', midnight: Date.UTC(2026, 10, 28, 0, 0, 0) },
    // UTC+1 in November: midnight in Berlin is 23:00 UTC.
    { timeZone: 'Europe/Berlin', midnight: Date.UTC(2026, 10, 27, 23, 0, 0) },
    // UTC+5:45: a zone whose midnight is not on a whole hour of UTC.
    { timeZone: 'Asia/Kathmandu', midnight: Date.UTC(2026, 10, 27, 18, 15, 0) },
  ])(
    'resets a calendar quota at midnight in $timeZone, not a moment before',
    ({ timeZone, midnight }) => {
      const clock = fakeClock(midnight - 60_000);
      const table = new LimitTable(clock);
      expect(admittedOf(table, daily(clock.now(), timeZone), 5)).toBe(3);
      clock.set(midnight - 1);
      const late = table.consume(daily(clock.now(), timeZone));
      expect(late.admitted).toBe(false);
      expect(late.outcomes[0]?.retryMs).toBe(1);
      clock.set(midnight);
      expect(admittedOf(table, daily(clock.now(), timeZone), 5)).toBe(3);
    },
  );

  it('gives a day of 23 hours when the clocks go forward', () => {
    // Europe/Berlin, 29 March 2026: 02:00 becomes 03:00.
    const start = Date.UTC(2026, 2, 28, 23, 0, 0);
    const { endsAt } = periodOf(start + 1, 'day', 'Europe/Berlin');
    expect(endsAt - start).toBe(23 * 3_600_000);
  });

  it('keeps a rolling day quota over midnight: it only frees what is a day old', () => {
    const clock = fakeClock(Date.UTC(2026, 10, 27, 23, 0, 0));
    const table = new LimitTable(clock);
    const rolling = [
      check('rolling', { kind: 'window', limit: 3, windowMs: 86_400_000, bucketMs: 4_320_000 }),
    ];
    expect(admittedOf(table, rolling, 5)).toBe(3);
    clock.set(Date.UTC(2026, 10, 28, 1, 0, 0));
    expect(admittedOf(table, rolling, 5)).toBe(0);
    clock.set(Date.UTC(2026, 10, 29, 1, 0, 0));
    expect(admittedOf(table, rolling, 5)).toBe(3);
  });
});
