import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterState } from '../../src/state/cluster/redis-cluster-state.js';
import type { Db } from '../../src/state/db.js';
import type { AuthOutcome } from '../../src/stages/authn/authenticator.js';
import { JtiRevocations, REVOKED_JTI_SET } from '../../src/stages/authn/jwt/jti-revocations.js';
import { portcullis, type CliRun } from '../support/cli.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { storeConfigFile } from '../support/events.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import {
  fakeClock,
  issuerConfig,
  jwks,
  jwtMethod,
  NOW_S,
  presentBearer,
  signed,
  silentLog,
  testKey,
  writeJwksFile,
  type FakeClock,
  type TestKey,
} from '../stages/authn/jwt-fixtures.js';

/**
 * `portcullis tokens revoke`, run as an operator runs it: the revocation reaches a gateway's
 * JWT method through a real Redis within a second, lasts until --until, and is recorded.
 */

let key: TestKey;
let keysFile: string;

beforeAll(async () => {
  key = await testKey('rsa-1', 'RS256');
  keysFile = writeJwksFile(jwks(key));
});

/** A config with the issuer `corp` of the test tokens, and `state.cluster` when given. */
function configFile(database: TestDatabase, cluster: Record<string, unknown> | undefined): string {
  return storeConfigFile(database, mkdtempSync(join(tmpdir(), 'pcl-tokens-')), {
    auth: { methods: ['jwt:corp'] },
    sections: {
      defaults: { authz: { anyAuthenticated: true } },
      authn: {
        issuers: {
          corp: {
            issuer: 'https://idp.example.com/',
            keysFile,
            audiences: ['https://api.example.com'],
          },
        },
      },
    },
    state: cluster === undefined ? {} : { cluster },
  });
}

async function revokeEvents(
  db: Db,
): Promise<{ consumer: string; details: Record<string, unknown> }[]> {
  const rows = await db.query<{ consumer: unknown; details: unknown }>(
    "SELECT consumer, details FROM events WHERE kind = 'admin' AND action = 'credential.revoke'",
  );
  return rows.map((r) => ({
    consumer: String(r.consumer),
    details: (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as Record<
      string,
      unknown
    >,
  }));
}

describe.each(BACKENDS)('portcullis tokens revoke on %s', (backend) => {
  const prefix = `pcltest:${randomUUID()}:`;
  let database: TestDatabase;
  let db: Db;
  let gatewayNode: RedisClusterState;
  let clock: FakeClock;
  let check: (token: string) => AuthOutcome | Promise<AuthOutcome>;
  let file: string;
  const cli = (...args: string[]): Promise<CliRun> =>
    portcullis(['tokens', 'revoke', ...args, '-c', file]);

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = await database.open();
    file = configFile(database, { redisUrl: REDIS_URL, keyPrefix: prefix });
    // A gateway node: the jwt method on a mirror of the revocation set kept by a real Redis.
    clock = fakeClock(Date.now());
    gatewayNode = new RedisClusterState(
      { url: REDIS_URL, keyPrefix: prefix },
      { clock, log: silentLog },
    );
    await gatewayNode.ready();
    const authenticator = jwtMethod('corp', issuerConfig({ keysFile }), {
      clock,
      revocations: await JtiRevocations.open(gatewayNode),
    });
    check = (token) => presentBearer(authenticator, token, clock);
  });

  afterAll(async () => {
    await gatewayNode.close();
    await database.cleanup();
    await deleteRedisKeys(prefix);
  });

  it('makes a running gateway refuse the token within a second, and records who did it', async () => {
    const now = Math.floor(clock.now() / 1000);
    const jti = `jti-${randomUUID()}`;
    const token = await signed(key, { jti, iat: now - 10, nbf: now - 10, exp: now + 3600 });
    // Verified and cached first: the revocation must reach cached tokens too.
    expect((await check(token)).ok).toBe(true);

    const run = await cli('--issuer', 'corp', '--jti', jti, '--until', String(now + 3600));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const until = new Date((now + 3600) * 1000).toISOString();
    expect(run.stdout).toBe(
      `jti ${jti} of issuer corp revoked until ${until}: every gateway refuses the token within a second\n`,
    );

    const started = Date.now();
    for (;;) {
      const outcome = await check(token);
      if (!outcome.ok) {
        expect(outcome.denial.reason).toBe('authn.jwt.revoked');
        break;
      }
      expect(Date.now() - started).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }

    const events = await revokeEvents(db);
    expect(events).toHaveLength(1);
    expect(events[0]?.consumer).toMatch(/^cli(:|$)/);
    expect(events[0]?.details).toMatchObject({ target: 'jwt:corp', issuer: 'corp', jti, until });
    const [audit] = await db.query<{ action: unknown; target: unknown }>(
      "SELECT action, target FROM audit_log WHERE action = 'credential.revoke'",
    );
    expect(audit).toMatchObject({ action: 'credential.revoke', target: 'jwt:corp' });

    // The revocation ends when the token would have expired anyway.
    expect(gatewayNode.has(REVOKED_JTI_SET, `corp:${jti}`)).toBe(true);
    clock.set((now + 3601) * 1000);
    expect(gatewayNode.has(REVOKED_JTI_SET, `corp:${jti}`)).toBe(false);
    clock.set(Date.now());
  });

  it('takes --until as an ISO 8601 time with a zone', async () => {
    const jti = `jti-${randomUUID()}`;
    const until = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    const run = await cli('--issuer', 'corp', '--jti', jti, '--until', until, '--json');
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ issuer: 'corp', jti, revoked: true });
  });

  it.each([
    [
      'an issuer the config does not name',
      ['--issuer', 'nope', '--jti', 'j', '--until', '9999999999'],
      /^PCL_ADMIN_NOT_FOUND: no issuer "nope" in authn.issuers; known: corp\n$/,
    ],
    [
      'a time already past',
      ['--issuer', 'corp', '--jti', 'j', '--until', String(NOW_S - 10)],
      /^PCL_ADMIN_INVALID: --until .* is past/,
    ],
    [
      'a time that is not one',
      ['--issuer', 'corp', '--jti', 'j', '--until', 'tomorrow'],
      /^PCL_ADMIN_INVALID: --until "tomorrow"/,
    ],
    [
      'a time of day without its zone',
      ['--issuer', 'corp', '--jti', 'j', '--until', '2099-01-01T10:00'],
      /^PCL_ADMIN_INVALID: --until/,
    ],
    [
      'a jti with a control character',
      ['--issuer', 'corp', '--jti', 'a\u0001b', '--until', '9999999999'],
      /^PCL_ADMIN_INVALID: --jti/,
    ],
    [
      'a jti longer than any token carries',
      ['--issuer', 'corp', '--jti', 'j'.repeat(257), '--until', '9999999999'],
      /^PCL_ADMIN_INVALID: --jti/,
    ],
  ])('refuses %s, revoking and recording nothing', async (_name, args, message) => {
    const before = (await revokeEvents(db)).length;
    const run = await cli(...args);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    expect(await revokeEvents(db)).toHaveLength(before);
    expect(gatewayNode.has(REVOKED_JTI_SET, 'corp:j')).toBe(false);
  });
});

describe('portcullis tokens revoke without a reachable Redis', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await database.cleanup();
  });

  it.each([
    ['no Redis configured', undefined, /^PCL_ADMIN_INVALID: state.cluster.redisUrl is not set/],
    [
      'Redis down',
      { redisUrl: 'redis://127.0.0.1:1', keyPrefix: 'pcltest:down:' },
      /^PCL_CLUSTER_UNAVAILABLE: /,
    ],
  ])('refuses with %s, recording nothing', async (_name, cluster, message) => {
    const file = configFile(database, cluster);
    const run = await portcullis([
      'tokens',
      'revoke',
      '--issuer',
      'corp',
      '--jti',
      'j',
      '--until',
      '9999999999',
      '-c',
      file,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    const db = await database.open();
    expect(await revokeEvents(db)).toEqual([]);
    await db.close();
  });
});
