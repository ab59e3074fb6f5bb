import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { answered, Clusters, detectorNode, fakeClock, kinds } from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

const KEY = 'fp:0a1b2c3d4e5f';

/** A request `credential` (alice's) got through with, from `clientIp`. */
const used = (clientIp: string, credential = KEY) =>
  answered({ clientIp, credential, consumer: 'alice' });

describe.each(['memory', 'redis'] as const)('credential sharing on %s cluster state', (kind) => {
  it.each([
    ['19 addresses', 19, (i: number) => `203.0.113.${i}`, []],
    ['20 addresses', 20, (i: number) => `203.0.113.${i}`, [`credential_sharing.credential ${KEY}`]],
    [
      'one IPv6 host rotating its privacy addresses',
      100,
      (i: number) => `2001:db8:0:1::${i.toString(16)}`,
      [],
    ],
    [
      '20 IPv6 subscribers',
      20,
      (i: number) => `2001:db8:${i.toString(16)}::1`,
      [`credential_sharing.credential ${KEY}`],
    ],
  ])('one credential used from %s: reports %j', async (_name, n, ip, want) => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < n; i++) detectors.observeDone(used(ip(i)));
      await detectors.flush();
      clock.t += 10_000;
    }
    expect(kinds(found)).toEqual(want);
  });

  it('names the credential as subject and its consumer, with the distinct addresses as evidence', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 30; i++) detectors.observeDone(used(`198.51.100.${i}`));
    await detectors.flush();
    expect(found).toMatchObject([
      {
        kind: 'credential_sharing.credential',
        severity: 'medium',
        subject: { kind: 'credential', value: KEY },
        consumer: 'alice',
        evidence: { distinctIps: 30 },
      },
    ]);
  });

  it('does not add up the addresses of different credentials, nor count requests without one', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 200; i++) {
      detectors.observeDone(
        used(`198.51.100.${i}`, `fp:${(i % 50).toString(16).padStart(12, '0')}`),
      );
      detectors.observeDone(answered({ clientIp: `192.0.2.${i}` }));
    }
    await detectors.flush();
    expect(found).toEqual([]);
  });

  it('forgets addresses older than the window', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 15; i++) detectors.observeDone(used(`203.0.113.${i}`));
    await detectors.flush();
    clock.t += 610_000;
    for (let i = 15; i < 30; i++) detectors.observeDone(used(`203.0.113.${i}`));
    await detectors.flush();
    expect(found).toEqual([]);
  });
});

describe('credential sharing on two nodes sharing Redis', () => {
  it('counts the addresses seen by both nodes once each, and reports it once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    // 12 addresses on each node, 4 of them on both: 20 in all.
    for (let i = 0; i < 12; i++) a.detectors.observeDone(used(`203.0.113.${i}`));
    for (let i = 8; i < 20; i++) b.detectors.observeDone(used(`203.0.113.${i}`));
    await a.detectors.flush();
    await b.detectors.flush();
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual([
      `credential_sharing.credential ${KEY}`,
    ]);
  });
});
