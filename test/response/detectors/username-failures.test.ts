import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { LoginFailureEvent } from '../../../src/gateway/events.js';
import { usernameDigest } from '../../../src/stages/login-failures/login-failures.js';
import { Clusters, detectorNode, fakeClock, kinds } from '../detector-harness.js';

const clusters = new Clusters();
afterEach(() => clusters.closeAll());
afterAll(() => clusters.deleteKeys());

const VICTIM = usernameDigest('victim@example.com');

const refused = (clientIp: string, username = VICTIM): LoginFailureEvent => ({
  requestId: randomUUID(),
  route: 'login',
  clientIp,
  username,
  status: 401,
});

describe.each(['memory', 'redis'] as const)('per-username failures on %s cluster state', (kind) => {
  it.each([
    [9, []],
    [10, [`brute_force.username ${VICTIM}`]],
    [100, [`brute_force.username ${VICTIM}`]],
  ])(
    'after %i refused logins for one account, each from another address, reports %j',
    async (n, want) => {
      const clock = fakeClock();
      const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
      for (let i = 0; i < n; i++) {
        detectors.observeLoginFailure(refused(`203.0.113.${i % 250}`));
        if (i % 4 === 3) await detectors.flush();
      }
      await detectors.flush();
      expect(kinds(found)).toEqual(want);
      // No single address came near the per-client threshold.
      expect(found.filter((d) => d.kind === 'brute_force.client')).toEqual([]);
    },
  );

  it('names the username by digest, the route, and the failures, at high severity', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 12; i++) detectors.observeLoginFailure(refused(`198.51.100.${i}`));
    await detectors.flush();
    expect(found).toMatchObject([
      {
        kind: 'brute_force.username',
        severity: 'high',
        subject: { kind: 'username', value: VICTIM },
        route: 'login',
        evidence: { failures: 12 },
      },
    ]);
    expect(JSON.stringify(found)).not.toContain('victim');
  });

  it('does not add up the failures of different accounts (a user who mistypes)', async () => {
    const clock = fakeClock();
    const { detectors, found } = detectorNode(clusters.open(kind, clock), clock);
    for (let i = 0; i < 500; i++) {
      detectors.observeLoginFailure(refused('192.0.2.1', usernameDigest(`user${i % 100}`)));
    }
    await detectors.flush();
    expect(found.filter((d) => d.kind === 'brute_force.username')).toEqual([]);
  });

  it('follows perUsername, and counts nothing with brute-force detection off', async () => {
    const clock = fakeClock();
    const strict = detectorNode(clusters.open(kind, clock), clock, {
      bruteForce: { perUsername: 3 },
    });
    const off = detectorNode(clusters.open(kind, clock), clock, {
      bruteForce: { enabled: false },
    });
    for (let i = 0; i < 5; i++) {
      strict.detectors.observeLoginFailure(refused(`203.0.113.${i}`));
      off.detectors.observeLoginFailure(refused(`203.0.113.${i}`));
    }
    await Promise.all([strict.detectors.flush(), off.detectors.flush()]);
    expect(kinds(strict.found)).toEqual([`brute_force.username ${VICTIM}`]);
    expect(off.found).toEqual([]);
  });
});

describe('per-username failures on two nodes sharing Redis', () => {
  it('sums the failures both nodes saw for one account, and reports it once', async () => {
    const clock = fakeClock();
    const prefix = `${clusters.prefix}two:`;
    const a = detectorNode(clusters.sharing(prefix, clock), clock);
    const b = detectorNode(clusters.sharing(prefix, clock), clock);
    for (let i = 0; i < 5; i++) {
      a.detectors.observeLoginFailure(refused(`203.0.113.${i}`));
      b.detectors.observeLoginFailure(refused(`198.51.100.${i}`));
    }
    await Promise.all([a.detectors.flush(), b.detectors.flush()]);
    expect([...kinds(a.found), ...kinds(b.found)]).toEqual([`brute_force.username ${VICTIM}`]);
  });
});
