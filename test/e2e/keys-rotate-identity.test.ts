import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/gateway/stage.js';
import {
  IDENTITY_KEY_REFRESH_MS,
  IdentitySigningKeys,
} from '../../src/stages/authn/identity-signing-key.js';
import { KeyRing } from '../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../src/state/crypto/master-key.js';
import { SecretStore } from '../../src/state/crypto/secrets.js';
import type { Db } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { portcullis } from '../support/cli.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { storeConfigFile } from '../support/events.js';
import { gatewayEnv, TEST_MASTER_KEY } from '../support/gateway-process.js';

const privatePem = (keys: IdentitySigningKeys) =>
  keys.current.privateKey
    .export({ format: 'pem', type: 'pkcs8' })
    .toString()
    .replace(/-----[A-Z ]+-----|\s/g, '');

describe.each(BACKENDS)('portcullis keys rotate-identity on %s', (backend) => {
  let database: TestDatabase;
  let db: Db;
  let dir: string;
  let config: string;
  let keys: IdentitySigningKeys;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    dir = mkdtempSync(join(tmpdir(), 'pcl-rotate-identity-'));
    config = storeConfigFile(database, dir);
    db = await database.open();
    await migrate(db, MIGRATIONS);
    // A running gateway, as far as its identity keys go: same store, same master key.
    const master = MasterKey.fromBytes(Buffer.from(TEST_MASTER_KEY, 'base64'));
    keys = await IdentitySigningKeys.open({
      secrets: new SecretStore(db, await KeyRing.open(db, master)),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      refreshMs: 0,
    });
  });
  afterAll(async () => {
    keys.close();
    await database.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a new key current, keeps the old one published, and records an admin event', async () => {
    const before = keys.current.kid;
    const oldPem = privatePem(keys);
    const startedAt = Date.now();

    const run = await portcullis(['keys', 'rotate-identity', '-c', config]);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const kid = /signed with key ([A-Za-z0-9_-]{43})\n/.exec(run.stdout)?.[1];
    expect(kid).toBeDefined();
    expect(kid).not.toBe(before);
    expect(run.stdout).toContain(`the previous key ${before} stays in the JWKS until `);
    expect(run.stdout).toContain(
      `running gateways switch within ${IDENTITY_KEY_REFRESH_MS / 1000} s`,
    );

    // The running gateway switches at its next refresh; both keys are published.
    await keys.refresh();
    expect(keys.current.kid).toBe(kid);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([kid, before]);
    for (const text of [run.stdout, run.stderr]) {
      expect(text).not.toContain(oldPem);
      expect(text).not.toContain(privatePem(keys));
    }

    const events = await db.query<{
      action: string;
      consumer: string;
      details: string;
      time: unknown;
    }>("SELECT action, consumer, details, time FROM events WHERE kind = 'admin'");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'authn.identity_key.rotate', consumer: 'cli' });
    const details = JSON.parse(events[0]?.details ?? '{}') as Record<string, unknown>;
    expect(details).toMatchObject({ kid, retired: before });
    // One token lifetime (60 s by default) plus the refresh interval and 60 s of clock skew.
    const until = Date.parse(String(details.publishedUntil));
    expect(until - Number(events[0]?.time)).toBe(60_000 + IDENTITY_KEY_REFRESH_MS + 60_000);
    expect(Number(events[0]?.time)).toBeGreaterThanOrEqual(startedAt);

    const audit = await db.query<{ action: string; actor: string }>(
      'SELECT action, actor FROM audit_log',
    );
    expect(audit).toContainEqual({ action: 'authn.identity_key.rotate', actor: 'cli' });
  });

  it('refuses without the master key, and changes nothing', async () => {
    const kid = keys.current.kid;
    const env = gatewayEnv();
    delete env.PORTCULLIS_MASTER_KEY;

    const run = await portcullis(['keys', 'rotate-identity', '-c', config], { env });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^PCL_MASTER_KEY_MISSING: /);
    await keys.refresh();
    expect(keys.current.kid).toBe(kid);
  });

  it('refuses with another master key (the store does not decrypt), and changes nothing', async () => {
    const kid = keys.current.kid;
    const env = gatewayEnv({ PORTCULLIS_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') });

    const run = await portcullis(['keys', 'rotate-identity', '-c', config], { env });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^PCL_MASTER_KEY_MISMATCH: /);
    await keys.refresh();
    expect(keys.current.kid).toBe(kid);
  });
});
