import { describe, expect, it } from 'vitest';
import type { Denial } from '../../../src/gateway/problems.js';
import type { Clock, Identity, RequestContext, Verdict } from '../../../src/gateway/stage.js';
import { ActiveBlocks } from '../../../src/stages/blocks/active-blocks.js';
import { LimitTable } from '../../../src/stages/limits/limit-table.js';
import { ActiveThrottles } from '../../../src/stages/throttles/active-throttles.js';
import { createThrottleStage } from '../../../src/stages/throttles/throttle-stage.js';
import type { BlockRecord } from '../../../src/state/blocks/block-store.js';
import { requestContext } from '../authn/request-context.js';

function fakeClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, monotonic: () => t, advance: (ms) => void (t += ms) };
}

let seq = 0;
function throttle(
  kind: BlockRecord['kind'],
  subject: string,
  rate: { limit: number; windowSeconds: number },
  more: Partial<BlockRecord> = {},
): BlockRecord {
  seq++;
  return {
    id: `blk_${String(seq).padStart(16, '0')}`,
    kind,
    subject,
    reason: 'detection brute_force.client (high)',
    actor: 'playbook:slow-down',
    createdAt: 0,
    expiresAt: undefined,
    removedAt: undefined,
    removedBy: undefined,
    changeSeq: seq,
    action: 'throttle',
    throttle: rate,
    incidentId: undefined,
    ...more,
  };
}

const identity = (consumerId: string, credential: string): Identity => ({
  consumerId,
  method: 'api-key',
  credential,
  scopes: [],
  roles: [],
  metadata: {},
});

function ctx(clock: Clock, clientIp: string, id?: Identity): RequestContext {
  const c = { ...requestContext({ clock }), clientIp };
  if (id !== undefined) c.identity = id;
  return c;
}

/** Runs the stage (synchronous with the local backend) and says how it answered. */
function answer(verdict: Verdict | Promise<Verdict>): 'allowed' | Denial {
  if (verdict instanceof Promise) throw new Error('a local throttle answers synchronously');
  return verdict.continue ? 'allowed' : verdict.problem;
}

describe('the throttle stage', () => {
  it('lets every request through while nothing is throttled', () => {
    const clock = fakeClock();
    const stage = createThrottleStage('ip', new ActiveThrottles(clock), {
      local: new LimitTable(clock),
      redis: () => {
        throw new Error('no Redis round trip while nothing is throttled');
      },
    });
    for (let i = 0; i < 100; i++)
      expect(answer(stage.onRequest(ctx(clock, '203.0.113.9')))).toBe('allowed');
  });

  it('holds a throttled address to its rate with 429 and Retry-After, and no one else', () => {
    const clock = fakeClock();
    const throttles = new ActiveThrottles(clock);
    const t = throttle(
      'ip',
      '203.0.113.9',
      { limit: 3, windowSeconds: 60 },
      { expiresAt: 1_000_000 + 120_000 },
    );
    throttles.apply([t]);
    const stage = createThrottleStage('ip', throttles, {
      local: new LimitTable(clock),
      redis: undefined,
    });
    const results = Array.from({ length: 5 }, () =>
      answer(stage.onRequest(ctx(clock, '203.0.113.9'))),
    );
    expect(results.slice(0, 3)).toEqual(['allowed', 'allowed', 'allowed']);
    const refused = results[3] as Denial;
    expect(refused).toMatchObject({
      kind: 'too-many-requests',
      reason: 'limits.throttled.ip',
      headers: { 'retry-after': '20' },
      audit: { details: { throttle: t.id, limit: 3, windowSeconds: 60, subject: '203.0.113.9' } },
    });
    // Another address is not touched, however many requests it sends.
    for (let i = 0; i < 20; i++)
      expect(answer(stage.onRequest(ctx(clock, '203.0.113.10')))).toBe('allowed');
    // One more request every windowSeconds / limit.
    clock.advance(20_000);
    expect(answer(stage.onRequest(ctx(clock, '203.0.113.9')))).toBe('allowed');
    expect(answer(stage.onRequest(ctx(clock, '203.0.113.9')))).not.toBe('allowed');
    // At its expiry the throttle ends on its own, without a pull from the store.
    clock.advance(100_000);
    for (let i = 0; i < 10; i++)
      expect(answer(stage.onRequest(ctx(clock, '203.0.113.9')))).toBe('allowed');
  });

  it.each([
    ['consumer', 'acme', 'limits.throttled.consumer', { consumer: 'acme' }],
    [
      'credential',
      'fp:0123456789ab',
      'limits.throttled.credential',
      { credential: 'fp:0123456789ab' },
    ],
  ] as const)(
    'holds a throttled %s to its rate once authentication names it',
    (kind, subject, reason, audit) => {
      const clock = fakeClock();
      const throttles = new ActiveThrottles(clock);
      throttles.apply([throttle(kind, subject, { limit: 1, windowSeconds: 10 })]);
      const stage = createThrottleStage('identity', throttles, {
        local: new LimitTable(clock),
        redis: undefined,
      });
      const caller = identity('acme', 'fp:0123456789ab');
      expect(answer(stage.onRequest(ctx(clock, '192.0.2.1', caller)))).toBe('allowed');
      expect(answer(stage.onRequest(ctx(clock, '192.0.2.2', caller)))).toMatchObject({
        reason,
        audit,
        headers: { 'retry-after': '10' },
      });
      // Another consumer with another credential goes on; before authentication nothing is known.
      expect(
        answer(stage.onRequest(ctx(clock, '192.0.2.1', identity('other', 'fp:ba9876543210')))),
      ).toBe('allowed');
      expect(answer(stage.onRequest(ctx(clock, '192.0.2.1')))).toBe('allowed');
    },
  );

  it('is never a block: a throttle record refuses nothing with 403, and a removed one holds no more', () => {
    const clock = fakeClock();
    const t = throttle('ip', '203.0.113.9', { limit: 1, windowSeconds: 60 });
    const blocks = new ActiveBlocks(clock);
    const throttles = new ActiveThrottles(clock);
    blocks.apply([t]);
    throttles.apply([t]);
    expect(blocks.forIp('203.0.113.9')).toBeUndefined();
    expect(throttles.forIp('203.0.113.9')).toMatchObject({ id: t.id, limit: 1 });
    throttles.apply([{ ...t, removedAt: clock.now(), removedBy: 'cli:ops' }]);
    expect(throttles.forIp('203.0.113.9')).toBeUndefined();
    expect(throttles.size).toBe(0);
  });

  it('applies the stricter of two throttles on one subject', () => {
    const clock = fakeClock();
    const throttles = new ActiveThrottles(clock);
    const loose = throttle('consumer', 'acme', { limit: 100, windowSeconds: 60 });
    const strict = throttle(
      'consumer',
      'acme',
      { limit: 2, windowSeconds: 60 },
      { expiresAt: clock.now() + 5000 },
    );
    throttles.apply([loose, strict]);
    expect(throttles.forIdentity(identity('acme', 'fp:0123456789ab'))?.id).toBe(strict.id);
    clock.advance(5000);
    expect(throttles.forIdentity(identity('acme', 'fp:0123456789ab'))?.id).toBe(loose.id);
  });
});
