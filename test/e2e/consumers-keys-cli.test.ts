import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import { RedisClusterState } from '../../src/state/cluster/redis-cluster-state.js';
import { REVOKED_API_KEYS_SET } from '../../src/state/consumers/change-announcements.js';
import type { Db } from '../../src/state/db.js';
import { parseApiKey } from '../../src/stages/authn/api-key/api-key-format.js';
import { portcullis, type CliRun } from '../support/cli.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually, storeConfigFile } from '../support/events.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';

/**
 * `portcullis consumers ...` and `portcullis keys create|list|revoke|rotate`, run as an
 * operator runs them, on both store backends: what they print, what they store, what the audit
 * trail says, and that the key itself is shown once and nowhere else.
 */

/** A config taking API keys, with one consumer declared in it; `state` beside the store. */
function configFile(database: TestDatabase, state: Record<string, unknown> = {}): string {
  return storeConfigFile(database, mkdtempSync(join(tmpdir(), 'pcl-admin-')), {
    auth: { methods: ['api-key'] },
    sections: {
      consumers: [{ id: 'from-config', scopes: ['cfg'] }],
      defaults: { authz: { anyAuthenticated: true } },
    },
    state,
  });
}

/** Everything the store holds, as text: where a leaked key would show. */
async function dump(db: Db): Promise<string> {
  const tables = ['consumers', 'api_keys', 'events', 'audit_log', 'secrets'];
  const out: unknown[] = [];
  for (const t of tables) out.push(await db.query(`SELECT * FROM ${t}`));
  return JSON.stringify(out, (_k, v: unknown) =>
    Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? String(v) : v,
  );
}

function json<T>(run: CliRun): T {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

interface KeyJson {
  id: string;
  consumer: string;
  fingerprint: string;
  state: string;
  expiresAt: string | null;
  rotatedFrom: string | null;
  rotatedUntil: string | null;
  key?: string;
}

describe.each(BACKENDS)('the consumer and key commands on %s', (backend) => {
  let database: TestDatabase;
  let db: Db;
  let file: string;
  const cli = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    file = configFile(database);
    db = await database.open();
  });
  afterAll(async () => {
    await database.cleanup();
  });

  it('adds, lists, shows, disables and enables consumers, recording each action', async () => {
    const add = await cli(
      'consumers',
      'add',
      'acme',
      '--name',
      'Acme',
      '--scope',
      'orders:read',
      '--scope',
      'orders:write',
      '--role',
      'partner',
      '--metadata',
      'tenant=t-1',
    );
    expect(add).toMatchObject({ code: 0, stdout: 'consumer acme created\n', stderr: '' });

    const list = json<{ id: string; source: string; disabled: boolean }[]>(
      await cli('consumers', 'list', '--json'),
    );
    expect(list.map((c) => [c.id, c.source, c.disabled])).toEqual([
      ['acme', 'store', false],
      ['from-config', 'config', false],
    ]);
    const shown = json<Record<string, unknown>>(await cli('consumers', 'show', 'acme', '--json'));
    expect(shown).toMatchObject({
      id: 'acme',
      name: 'Acme',
      scopes: ['orders:read', 'orders:write'],
      roles: ['partner'],
      metadata: { tenant: 't-1' },
      keys: [],
    });

    expect((await cli('consumers', 'disable', 'acme')).stdout).toBe('consumer acme disabled\n');
    expect((await cli('consumers', 'disable', 'acme')).stdout).toBe(
      'consumer acme was already disabled\n',
    );
    expect((await cli('consumers', 'enable', 'acme')).stdout).toBe('consumer acme enabled\n');

    const audit = await db.query<{ actor: string; action: string; target: string }>(
      'SELECT actor, action, target FROM audit_log ORDER BY seq',
    );
    expect(audit.map((a) => [a.action, a.target])).toEqual([
      ['consumer.create', 'consumer:acme'],
      ['consumer.list', 'consumers'],
      ['consumer.show', 'consumer:acme'],
      ['consumer.disable', 'consumer:acme'],
      ['consumer.disable', 'consumer:acme'],
      ['consumer.enable', 'consumer:acme'],
    ]);
    for (const a of audit) expect(a.actor).toMatch(/^cli(:.+)?$/);
    const events = await db.query<{ kind: string; action: string }>(
      "SELECT kind, action FROM events WHERE kind = 'admin' ORDER BY id",
    );
    expect(events.map((e) => e.action)).toEqual(audit.map((a) => a.action));
  });

  it.each([
    ['a taken id', ['consumers', 'add', 'acme'], 'PCL_ADMIN_CONFLICT'],
    ['an id the config declares', ['consumers', 'add', 'from-config'], 'PCL_ADMIN_CONFLICT'],
    ['an id with a space', ['consumers', 'add', 'a b'], 'PCL_ADMIN_INVALID'],
    ['a scope with a space', ['consumers', 'add', 'x', '--scope', 'a b'], 'PCL_ADMIN_INVALID'],
    ['metadata without =', ['consumers', 'add', 'x', '--metadata', 'tenant'], 'PCL_ADMIN_INVALID'],
    [
      'metadata given twice',
      ['consumers', 'add', 'x', '--metadata', 'a=1', '--metadata', 'a=2'],
      'PCL_ADMIN_INVALID',
    ],
    ['an unknown consumer shown', ['consumers', 'show', 'nobody'], 'PCL_ADMIN_NOT_FOUND'],
    ['an unknown consumer disabled', ['consumers', 'disable', 'nobody'], 'PCL_ADMIN_NOT_FOUND'],
    ['a config consumer disabled', ['consumers', 'disable', 'from-config'], 'PCL_ADMIN_CONFLICT'],
    [
      'a key for an unknown consumer',
      ['keys', 'create', '--consumer', 'nobody'],
      'PCL_ADMIN_NOT_FOUND',
    ],
    [
      'a revocation of an unknown key',
      ['keys', 'revoke', 'key_000000000000'],
      'PCL_ADMIN_NOT_FOUND',
    ],
    ['a key passed where its id belongs', ['keys', 'revoke', 'pcl_live_abc'], 'PCL_ADMIN_INVALID'],
    ['a rotation of an unknown key', ['keys', 'rotate', 'key_000000000000'], 'PCL_ADMIN_NOT_FOUND'],
  ])('refuses %s with its code and exit 1, changing nothing', async (_label, args, code) => {
    const before = await dump(db);
    const run = await cli(...args);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^${code}: .+\\n$`));
    expect(await dump(db)).toBe(before);
  });

  it('prints a new key once, stores only its HMAC and fingerprint, and never shows it again', async () => {
    const created = await cli('keys', 'create', '--consumer', 'acme', '--expires-in', '90d');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(created.stdout).toBe(`${key}\n`);
    expect(parseApiKey(key)).toEqual({ ok: true, environment: 'live' });
    const fp = `fp:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
    expect(created.stderr).toContain(fp);
    expect(created.stderr).not.toContain(key);

    const listed = json<KeyJson[]>(await cli('keys', 'list', '--consumer', 'acme', '--json'));
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ consumer: 'acme', fingerprint: fp, state: 'active' });
    const days = (Date.parse(listed[0]?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);

    const [row] = await db.query<{ hash: string }>('SELECT hash FROM api_keys');
    expect(row?.hash).toMatch(/^[0-9a-f]{64}$/);
    // Keyed: not the plain SHA-256 a database copy could test guesses against.
    expect(row?.hash).not.toBe(createHash('sha256').update(key).digest('hex'));

    for (const run of [
      await cli('keys', 'list'),
      await cli('keys', 'list', '--json'),
      await cli('consumers', 'show', 'acme'),
      await cli('consumers', 'show', 'acme', '--json'),
    ]) {
      expect(run.code).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(key);
      expect(run.stdout + run.stderr).not.toContain(row?.hash);
      expect(run.stdout).toContain(fp);
    }
    const stored = await dump(db);
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(9, 40));
    const [entry] = await db.query<{ target: string; details: string }>(
      "SELECT target, details FROM audit_log WHERE action = 'credential.create'",
    );
    expect(entry?.target).toBe('consumer:acme');
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({
      fingerprint: fp,
      keyId: listed[0]?.id,
    });
  });

  it('creates keys for a consumer of the config file, with the JSON holding the key once', async () => {
    const created = json<KeyJson>(
      await cli('keys', 'create', '--consumer', 'from-config', '--json'),
    );
    expect(created).toMatchObject({ consumer: 'from-config', state: 'active', expiresAt: null });
    expect(parseApiKey(created.key ?? '').ok).toBe(true);
  });

  it('rotates a key: the successor names it, the old key overlaps, and a rotated key is not rotated twice', async () => {
    const old = json<KeyJson>(
      await cli('keys', 'create', '--consumer', 'acme', '--expires-in', '30d', '--json'),
    );
    const t = Date.now();
    const rotated = await cli('keys', 'rotate', old.id, '--overlap', '2h');
    expect(rotated.code).toBe(0);
    const next = rotated.stdout.trim();
    expect(parseApiKey(next).ok).toBe(true);
    expect(rotated.stderr).toContain(`${old.id} keeps working until`);
    const keys = json<KeyJson[]>(await cli('keys', 'list', '--consumer', 'acme', '--json'));
    const before = keys.find((k) => k.id === old.id);
    const after = keys.find((k) => k.rotatedFrom === old.id);
    expect(before?.state).toBe('overlap');
    const until = Date.parse(before?.rotatedUntil ?? '');
    expect(until - t).toBeGreaterThan(2 * 3_600_000 - 60_000);
    expect(until - t).toBeLessThanOrEqual(2 * 3_600_000 + 60_000);
    expect(after?.state).toBe('active');
    // The successor inherits the lifetime of the key it replaces.
    const life = Date.parse(after?.expiresAt ?? '') - Date.now();
    expect(life / 86_400_000).toBeGreaterThan(29.9);

    const again = await cli('keys', 'rotate', old.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `PCL_ADMIN_CONFLICT: key ${old.id} cannot be rotated: it was already rotated: rotate its successor ${after?.id}\n`,
    );
    const [entry] = await db.query<{ target: string; details: string }>(
      "SELECT target, details FROM audit_log WHERE action = 'credential.rotate'",
    );
    expect(entry?.target).toBe(`key:${old.id}`);
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({
      keyId: after?.id,
      fingerprint: after?.fingerprint,
      previousFingerprint: old.fingerprint,
    });
    expect(await dump(db)).not.toContain(next);
  });

  it('revokes a key for good; revoking it again changes nothing; a revoked key is not rotated', async () => {
    const k = json<KeyJson>(await cli('keys', 'create', '--consumer', 'acme', '--json'));
    const revoked = await cli('keys', 'revoke', k.id);
    expect(revoked).toMatchObject({
      code: 0,
      stdout: `${k.id} (${k.fingerprint}, consumer acme) revoked\n`,
      stderr: '',
    });
    expect((await cli('keys', 'revoke', k.id)).stdout).toContain('was already revoked');
    const rotate = await cli('keys', 'rotate', k.id);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toMatch(/^PCL_ADMIN_CONFLICT: .*revoked/);
    const listed = json<KeyJson[]>(await cli('keys', 'list', '--json'));
    expect(listed.find((x) => x.id === k.id)?.state).toBe('revoked');
    const entries = await db.query<{ target: string; details: string }>(
      "SELECT target, details FROM audit_log WHERE action = 'credential.revoke' ORDER BY seq",
    );
    expect(entries.map((e) => e.target)).toEqual([`key:${k.id}`, `key:${k.id}`]);
    expect(JSON.parse(entries[0]?.details ?? '{}')).toMatchObject({
      fingerprint: k.fingerprint,
      changed: true,
    });
  });

  it('checks the audit chain it wrote', async () => {
    const run = await cli('audit-log', 'verify');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^audit log OK/);
  });
});

describe('keys revoke with Redis', () => {
  const prefix = `pcltest:${randomUUID()}:`;
  let database: TestDatabase;
  let cluster: RedisClusterState;
  const clock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    cluster = new RedisClusterState(
      { url: REDIS_URL, keyPrefix: prefix },
      { clock, log: pino({ level: 'silent' }) },
    );
    await cluster.ready();
    await cluster.mirrorSet(REVOKED_API_KEYS_SET);
  });
  afterAll(async () => {
    await cluster.close();
    await database.cleanup();
    await deleteRedisKeys(prefix);
  });

  it('marks the key revoked in cluster state, until it would have expired, where every gateway sees it', async () => {
    const file = configFile(database, { cluster: { redisUrl: REDIS_URL, keyPrefix: prefix } });
    const run = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);
    expect((await run('consumers', 'add', 'acme')).code).toBe(0);
    const k = json<KeyJson>(
      await run('keys', 'create', '--consumer', 'acme', '--expires-in', '1h', '--json'),
    );
    expect(cluster.has(REVOKED_API_KEYS_SET, k.id)).toBe(false);
    const revoked = await run('keys', 'revoke', k.id);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    await eventually(() => cluster.has(REVOKED_API_KEYS_SET, k.id), 1000);
    const admin = new Redis(REDIS_URL);
    const expiry = Number(await admin.zscore(`${prefix}s:{${REVOKED_API_KEYS_SET}}`, k.id));
    await admin.quit();
    expect(Math.abs(expiry - Date.parse(k.expiresAt ?? ''))).toBeLessThan(5);
  });

  it('still revokes in the store, with a warning, when Redis cannot be reached', async () => {
    const file = configFile(database, {
      cluster: { redisUrl: 'redis://127.0.0.1:1', keyPrefix: prefix },
    });
    const run = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);
    const k = json<KeyJson>(
      await run('keys', 'create', '--consumer', 'acme', '--json').then((r) => ({
        ...r,
        stderr: '',
      })),
    );
    const revoked = await run('keys', 'revoke', k.id);
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toMatch(/^warning: cluster state \(Redis\) cannot be reached/);
    const db = await database.open();
    const [row] = await db.query<{ revoked_at: unknown }>(
      'SELECT revoked_at FROM api_keys WHERE id = $1',
      [k.id],
    );
    await db.close();
    expect(row?.revoked_at).not.toBeNull();
  });
});
