import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DenyEvent } from '../../../src/gateway/events.js';
import { Clusters, deny, detectorNode, fakeClock, kinds } from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

/** A 429 of the limits stage. */
const limited = (ip: string, opts: Partial<DenyEvent> = {}) =>
  deny(ip, {
    reason: 'limits.rate.exceeded',
    status: 429,
    stage: 'limits',
    route: 'search',
    method: 'GET',
    path: '/search',
    ...opts,
  });

describe.each(['memory', 'redis'] as const)(
  'sustained rate limiting on %s cluster state',
  (kind) => {
    it.each([
      ['299 refusals of one client IP', 299, {}, []],
      ['300 refusals of one client IP', 300, {}, ['rate_limited.client 203.0.113.70']],
      [
        '300 refusals of one consumer, from many addresses',
        300,
        { consumer: 'scraper' },
        ['rate_limited.consumer scraper'],
      ],
      [
        '300 quota and concurrency refusals',
        300,
        { reason: 'limits.quota.exceeded' },
        ['rate_limited.client 203.0.113.70'],
      ],
      ['300 shadow-mode refusals (the requests went on)', 300, { enforced: false }, []],
      ['300 refusals of a throttle', 300, { reason: 'limits.throttled.ip' }, []],
      [
        '300 refusals because Redis was down',
        300,
        { reason: 'limits.backend.unavailable', status: 503 },
        [],
      ],
      [
        '300 authentication failures',
        300,
        { reason: 'authn.api_key.unknown', stage: 'authn', status: 401 },
        [],
      ],
    ] as const)('%s', async (_name, n, opts: Partial<DenyEvent>, want) => {
      const clock = fakeClock();
      const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
      for (let i = 0; i < n; i++) {
        const ip = 'consumer' in opts ? `198.51.100.${i % 200}` : '203.0.113.70';
        detectors.observeDeny(limited(ip, opts));
        if (i % 50 === 49) await detectors.flush();
      }
      await detectors.flush();
      // Only this detector's kinds: 300 authentication failures are a brute force, not this.
      expect(kinds(found).filter((k) => k.startsWith('rate_limited'))).toEqual(want);
    });

    it('reports with the route and the refusals as evidence, once per window', async () => {
      const clock = fakeClock();
      const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
      for (let i = 0; i < 900; i++) {
        detectors.observeDeny(limited('203.0.113.71'));
        if (i % 100 === 99) {
          await detectors.flush();
          clock.t += 1000;
        }
      }
      expect(found).toMatchObject([
        {
          kind: 'rate_limited.client',
          severity: 'medium',
          subject: { kind: 'ip', value: '203.0.113.71' },
          route: 'search',
        },
      ]);
      expect(found[0]?.evidence.refusals).toBeGreaterThanOrEqual(300);
    });

    it('forgets refusals older than the window: a client that backed off is not reported', async () => {
      const clock = fakeClock();
      const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
      for (let i = 0; i < 200; i++) detectors.observeDeny(limited('203.0.113.72'));
      await detectors.flush();
      clock.t += 610_000;
      for (let i = 0; i < 200; i++) detectors.observeDeny(limited('203.0.113.72'));
      await detectors.flush();
      expect(found).toEqual([]);
    });
  },
);

describe('sustained rate limiting on two nodes sharing Redis', () => {
  it('adds the refusals of both nodes, and reports once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    for (let i = 0; i < 150; i++) {
      a.detectors.observeDeny(limited('203.0.113.73'));
      b.detectors.observeDeny(limited('203.0.113.73'));
    }
    await a.detectors.flush();
    await b.detectors.flush();
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual(['rate_limited.client 203.0.113.73']);
  });
});
