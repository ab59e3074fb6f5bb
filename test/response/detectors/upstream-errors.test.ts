import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { answered, Clusters, detectorNode, fakeClock, kinds } from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

/** `requests` answers on `route`, every `every`-th of them with `status`. */
function traffic(route: string, requests: number, every: number, status: number) {
  return Array.from({ length: requests }, (_, i) =>
    answered({ route, status: i % every === every - 1 ? status : 200 }),
  );
}

describe.each(['memory', 'redis'] as const)('error spikes on %s cluster state', (kind) => {
  it.each([
    ['a healthy route: 1 in 50 answers is a 502', 'orders', 400, 50, 502, []],
    [
      'a route answering 1 in 3 with 503 (upstream unreachable)',
      'orders',
      90,
      3,
      503,
      ['errors.upstream_spike orders'],
    ],
    [
      'a route answering 1 in 2 with 504 (upstream timeout)',
      'search',
      40,
      2,
      504,
      ['errors.upstream_spike search'],
    ],
    ['too few errors to judge, however high their share', 'orders', 30, 2, 500, []],
    ["many 4xx: the client's errors, not the upstream's", 'orders', 200, 2, 404, []],
  ])('%s: reports %j', async (_name, route, n, every, status, want) => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (const e of traffic(route, n, every, status)) detectors.observeDone(e);
    await detectors.flush();
    await detectors.flush();
    expect(kinds(found)).toEqual(want);
  });

  it('reports the counts as evidence, the route as subject, once per window', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let round = 0; round < 3; round++) {
      for (const e of traffic('orders', 40, 2, 502)) detectors.observeDone(e);
      await detectors.flush();
      clock.t += 1000;
    }
    expect(found).toMatchObject([
      {
        kind: 'errors.upstream_spike',
        severity: 'medium',
        subject: { kind: 'route', value: 'orders' },
        route: 'orders',
        evidence: { errors: 20, requests: 40 },
      },
    ]);
  });

  it('forgets errors older than the window', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (const e of traffic('orders', 30, 2, 502)) detectors.observeDone(e);
    await detectors.flush();
    clock.t += 130_000;
    for (const e of traffic('orders', 30, 2, 502)) detectors.observeDone(e);
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('follows the configured thresholds and can be turned off', async () => {
    const clock = fakeClock();
    const strict = detectorNode(clusters.open(kind, clock), clock, {
      upstreamErrors: { minErrors: 5, ratio: 0.1 },
    });
    const off = detectorNode(clusters.open(kind, clock), clock, {
      upstreamErrors: { enabled: false },
    });
    for (const e of traffic('orders', 50, 8, 500)) {
      strict.detectors.observeDone(e);
      off.detectors.observeDone(e);
    }
    await Promise.all([strict.detectors.flush(), off.detectors.flush()]);
    expect(kinds(strict.found)).toEqual(['errors.upstream_spike orders']);
    expect(off.found).toEqual([]);
  });
});

describe('error spikes on two nodes sharing Redis', () => {
  it('sums the errors both nodes saw, and reports the spike once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    // 12 errors each: under the minimum of 20 on either node, over it together.
    for (const e of traffic('orders', 24, 2, 502)) a.detectors.observeDone(e);
    for (const e of traffic('orders', 24, 2, 502)) b.detectors.observeDone(e);
    await Promise.all([a.detectors.flush(), b.detectors.flush()]);
    await Promise.all([a.detectors.flush(), b.detectors.flush()]);
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual(['errors.upstream_spike orders']);
  });
});
