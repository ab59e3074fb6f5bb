import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Clusters, deny, detectorNode, fakeClock, kinds } from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

/** The router's refusal of `path` asked for by `ip`. */
const notFound = (ip: string, path: string) =>
  deny(ip, {
    reason: 'route.not_found',
    status: 404,
    stage: 'route',
    route: undefined,
    method: 'GET',
    path,
  });

const WORDLIST = ['/.env', '/.git/config', '/admin', '/actuator/health', '/wp-login.php'];
const scan = (i: number) => `${WORDLIST[i % WORDLIST.length]}/${i}`;

describe.each(['memory', 'redis'] as const)('probing on %s cluster state', (kind) => {
  it.each([
    ['39 distinct undeclared paths', 39, scan, []],
    ['40 distinct undeclared paths', 40, scan, ['probing.client 203.0.113.50']],
    ['one missing path asked for 500 times', 500, () => '/favicon.ico', []],
    ['a handful of missing paths, again and again', 500, (i: number) => `/static/${i % 8}.png`, []],
  ])('%s from one client IP: reports %j', async (_name, n, path, want) => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < n; i++) {
      detectors.observeDeny(notFound('203.0.113.50', path(i)));
      if (i % 10 === 9) await detectors.flush();
    }
    await detectors.flush();
    expect(kinds(found)).toEqual(want);
  });

  it('reports the client IP with the distinct paths as evidence, once per window', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 200; i++) {
      detectors.observeDeny(notFound('2001:db8::5', scan(i)));
      if (i % 50 === 49) {
        await detectors.flush();
        clock.t += 1000;
      }
    }
    expect(found).toMatchObject([
      { kind: 'probing.client', severity: 'medium', subject: { kind: 'ip', value: '2001:db8::5' } },
    ]);
    expect(found[0]?.evidence.distinctPaths).toBeGreaterThanOrEqual(40);
  });

  it('does not count refusals other than an undeclared path', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 100; i++) {
      // A declared path with a wrong method, and an upstream's 404 for a declared route.
      detectors.observeDeny(
        deny('203.0.113.51', {
          reason: 'route.method_not_allowed',
          status: 405,
          stage: 'route',
          path: scan(i),
        }),
      );
    }
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('forgets paths older than the window', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 30; i++) detectors.observeDeny(notFound('203.0.113.52', scan(i)));
    await detectors.flush();
    clock.t += 310_000;
    for (let i = 30; i < 60; i++) detectors.observeDeny(notFound('203.0.113.52', scan(i)));
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('sees a scan that straddles a window edge', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 25; i++) detectors.observeDeny(notFound('203.0.113.53', scan(i)));
    await detectors.flush();
    clock.t += 100_000;
    for (let i = 25; i < 50; i++) detectors.observeDeny(notFound('203.0.113.53', scan(i)));
    await detectors.flush();
    expect(kinds(found)).toEqual(['probing.client 203.0.113.53']);
  });
});

describe('probing on two nodes sharing Redis', () => {
  it('counts the paths a client asked of both nodes once each, and reports it once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    // 25 paths each, 10 of them asked of both: 40 distinct in all, under 40 on either node.
    for (let i = 0; i < 25; i++) a.detectors.observeDeny(notFound('203.0.113.54', scan(i)));
    for (let i = 15; i < 40; i++) b.detectors.observeDeny(notFound('203.0.113.54', scan(i)));
    await a.detectors.flush();
    await b.detectors.flush();
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual(['probing.client 203.0.113.54']);
  });
});
