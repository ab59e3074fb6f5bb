import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import type { ClusterState } from '../../src/state/cluster/cluster-state.js';
import type { RequestDoneEvent } from '../../src/state/events/request-done.js';
import {
  answered,
  Clusters,
  deny as authFailure,
  detectorNode as node,
  fakeClock,
  kinds,
  type ClusterKind,
} from './detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

const cluster = (kind: ClusterKind, clock: Clock): ClusterState => clusters.open(kind, clock);

function done(path: string, status: number, consumer?: string, route = 'orders'): RequestDoneEvent {
  return answered({ path, status, route, ...(consumer === undefined ? {} : { consumer }) });
}

describe.each(['memory', 'redis'] as const)('behavioural detectors on %s cluster state', (kind) => {
  it.each([
    [29, []],
    [30, ['brute_force.client 203.0.113.7']],
    [90, ['brute_force.client 203.0.113.7']],
  ])('after %i authentication failures of one client IP reports %j (once)', async (n, want) => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    for (let i = 0; i < n; i++) {
      // Only some of them succeed in between: still a brute force by count.
      detectors.observeDeny(authFailure('203.0.113.7', { route: `r${i % 3}` }));
      if (i % 10 === 9) await detectors.flush();
    }
    await detectors.flush();
    expect(kinds(found)).toEqual(want);
  });

  it.each([
    ['authn.credentials.missing', 401, 'authn'],
    ['authn.introspection.unavailable', 503, 'authn'],
    ['authz.scope.missing', 403, 'authz'],
  ])(
    'does not count %s (status %i) as an authentication failure',
    async (reason, status, stage) => {
      const clock = fakeClock();
      const { detectors, found } = node(cluster(kind, clock), clock);
      for (let i = 0; i < 100; i++) {
        detectors.observeDeny(authFailure('203.0.113.8', { reason, status, stage }));
      }
      await detectors.flush();
      expect(found.filter((d) => d.kind.startsWith('brute_force'))).toEqual([]);
    },
  );

  it('sees failures that straddle a window edge, where a fixed window would forget them', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    const windowMs = 60_000;
    clock.t = Math.floor(clock.t / windowMs) * windowMs + windowMs - 1000; // 1 s before the edge
    for (let i = 0; i < 20; i++) detectors.observeDeny(authFailure('203.0.113.9'));
    await detectors.flush();
    clock.t += 2000; // 1 s after it: a fixed window would start again from 0
    for (let i = 0; i < 12; i++) detectors.observeDeny(authFailure('203.0.113.9'));
    await detectors.flush();
    expect(kinds(found)).toEqual(['brute_force.client 203.0.113.9']);
    expect(found[0]?.evidence.failures).toBeGreaterThanOrEqual(30);
  });

  it('forgets failures older than the window', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    for (let i = 0; i < 20; i++) detectors.observeDeny(authFailure('203.0.113.10'));
    await detectors.flush();
    clock.t += 130_000;
    for (let i = 0; i < 20; i++) detectors.observeDeny(authFailure('203.0.113.10'));
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('reports a credential tried again and again, whoever tries it', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    for (let i = 0; i < 10; i++) {
      detectors.observeDeny(
        authFailure(`198.51.100.${i}`, {
          reason: 'authn.api_key.revoked',
          credential: 'fp:0123456789ab',
          consumer: 'alice',
        }),
      );
    }
    await detectors.flush();
    expect(found.find((d) => d.kind === 'brute_force.credential')).toMatchObject({
      subject: { kind: 'credential', value: 'fp:0123456789ab' },
      consumer: 'alice',
      evidence: { failures: 10 },
    });
  });

  it('catches credential stuffing spread over 50 client IPs by the route-wide failure ratio', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    // Benign traffic on the route meanwhile: 50 successful logins.
    for (let i = 0; i < 50; i++) detectors.observeDone(done('/login', 200, undefined, 'login'));
    for (let round = 0; round < 4; round++) {
      for (let ip = 0; ip < 50; ip++) detectors.observeDeny(authFailure(`203.0.113.${100 + ip}`));
      await detectors.flush();
    }
    expect(found.filter((d) => d.kind === 'credential_stuffing.route')).toMatchObject([
      { severity: 'critical', subject: { kind: 'route', value: 'login' } },
    ]);
    const clients = found.filter((d) => d.kind === 'credential_stuffing.client');
    expect(new Set(clients.map((d) => d.subject.value)).size).toBe(50);
    // No single client came near the per-client threshold.
    expect(found.filter((d) => d.kind === 'brute_force.client')).toEqual([]);
  });

  it('does not call a route under attack while most of its logins succeed', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    for (let i = 0; i < 400; i++) detectors.observeDone(done('/login', 200, undefined, 'login'));
    for (let ip = 0; ip < 100; ip++) detectors.observeDeny(authFailure(`192.0.2.${ip}`));
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('catches enumeration of foreign object ids within 50 requests', async () => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    let requests = 0;
    for (let id = 1000; found.length === 0 && requests < 50; id++) {
      // Its own orders answer 200; everybody else's 404 (hidden) or 403 (refused by authz).
      if (id % 5 === 0) detectors.observeDone(done(`/orders/${id}`, 200, 'mallory'));
      else if (id % 2 === 0) detectors.observeDone(done(`/orders/${id}`, 404, 'mallory'));
      else {
        detectors.observeDeny(
          authFailure('198.51.100.9', {
            reason: 'authz.owner.mismatch',
            status: 403,
            stage: 'authz',
            consumer: 'mallory',
            route: 'orders',
            path: `/orders/${id}`,
          }),
        );
      }
      requests++;
      if (requests % 5 === 0) await detectors.flush();
    }
    expect(kinds(found)).toEqual(['enumeration.consumer mallory']);
    expect(requests).toBeLessThanOrEqual(50);
  });

  it.each([
    ['one object asked for again and again, refused', () => '/orders/1', 404],
    ['many objects, all of them its own', (i: number) => `/orders/${i}`, 200],
  ])('does not call %s enumeration', async (_name, path, status) => {
    const clock = fakeClock();
    const { detectors, found } = node(cluster(kind, clock), clock);
    for (let i = 0; i < 300; i++) detectors.observeDone(done(path(i), status, 'bob'));
    await detectors.flush();
    expect(found).toEqual([]);
  });
});

describe('behavioural detectors on two nodes sharing Redis', () => {
  it('sees a brute force split across both nodes whole, and reports it once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = node(clusters.sharing(prefix, clock), clock);
    const b = node(clusters.sharing(prefix, clock), clock);
    for (let i = 0; i < 16; i++) {
      a.detectors.observeDeny(authFailure('203.0.113.77'));
      b.detectors.observeDeny(authFailure('203.0.113.77'));
    }
    await Promise.all([a.detectors.flush(), b.detectors.flush()]);
    // Neither node alone saw 30 failures; together they did.
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual(['brute_force.client 203.0.113.77']);
  });
});
