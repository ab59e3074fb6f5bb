import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../src/state/crypto/master-key.js';
import { SecretStore } from '../../src/state/crypto/secrets.js';
import type { Db } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';

/** Named secrets, encrypted at rest under the key ring and bound to their row. */

/** The error a call failed with; `text` is everything it shows (message and stack). */
async function failure(
  fn: () => unknown,
): Promise<{ code: unknown; message: string; text: string }> {
  try {
    await fn();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return {
      code: (err as { code?: unknown }).code,
      message: e.message,
      text: `${e.name} ${e.message} ${String(e.stack)} ${JSON.stringify(err)}`,
    };
  }
  throw new Error('expected a failure');
}

/** A value no test could produce by accident, so finding it anywhere is a leak. */
function distinctive(label: string): string {
  return `${label}-${randomBytes(12).toString('hex')}`;
}

describe.each(BACKENDS)('secret store on %s', (backend) => {
  let databases: TestDatabase[] = [];
  async function fresh(
    master = MasterKey.fromBytes(randomBytes(32)),
  ): Promise<{ database: TestDatabase; db: Db; store: SecretStore; master: MasterKey }> {
    const database = await createTestDatabase(backend);
    databases.push(database);
    const db = await database.open();
    await migrate(db, MIGRATIONS);
    return { database, db, store: new SecretStore(db, await KeyRing.open(db, master)), master };
  }
  afterEach(async () => {
    await Promise.all(databases.map((d) => d.cleanup()));
    databases = [];
  });

  it('keeps, replaces, lists and deletes secrets', async () => {
    const { store } = await fresh();

    await store.put('upstream/billing:password', 'first');
    await store.put('webhook.alerts', 'ünïcødé 🔑 value');
    await store.put('oauth_client', '');
    await store.put('upstream/billing:password', 'second');

    expect(await store.get('upstream/billing:password')).toBe('second');
    expect(await store.get('webhook.alerts')).toBe('ünïcødé 🔑 value');
    expect(await store.get('oauth_client')).toBe('');
    expect(await store.get('missing')).toBeUndefined();
    expect(await store.list()).toEqual([
      'oauth_client',
      'upstream/billing:password',
      'webhook.alerts',
    ]);
    expect(await store.delete('oauth_client')).toBe(true);
    expect(await store.delete('oauth_client')).toBe(false);
    expect(await store.get('oauth_client')).toBeUndefined();
    expect(await store.list()).toEqual(['upstream/billing:password', 'webhook.alerts']);
  });

  it('keeps a large value', async () => {
    const { store } = await fresh();
    const value = randomBytes(48_000).toString('base64');

    await store.put('signing-key', value);

    expect(await store.get('signing-key')).toBe(value);
  });

  it('stores only ciphertext: no column of any row holds the value', async () => {
    const { db, store } = await fresh();
    const value = distinctive('sk_live');

    await store.put('billing', value);

    const rows = await db.query('SELECT name, ciphertext, updated_at FROM secrets');
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(value);
    expect(String(rows[0]?.ciphertext)).toMatch(/^pcl1\./);
  });

  it('refuses a ciphertext copied into another secret’s row, without showing either value', async () => {
    const { db, store } = await fresh();
    const billing = distinctive('billing');
    const webhook = distinctive('webhook');
    await store.put('billing', billing);
    await store.put('webhook', webhook);

    await db.run(
      'UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE name = $1) WHERE name = $2',
      ['billing', 'webhook'],
    );
    const err = await failure(() => store.get('webhook'));

    expect(err.code).toBe('PCL_DECRYPT_FAILED');
    expect(err.message).toContain('webhook');
    expect(err.text).not.toContain(billing);
    expect(err.text).not.toContain(webhook);
    expect(await store.get('billing')).toBe(billing);
  });

  it('refuses a row renamed to another secret’s name', async () => {
    const { db, store } = await fresh();
    await store.put('old-name', distinctive('v'));

    await db.run('UPDATE secrets SET name = $1 WHERE name = $2', ['new-name', 'old-name']);

    expect((await failure(() => store.get('new-name'))).code).toBe('PCL_DECRYPT_FAILED');
  });

  it('refuses an altered ciphertext with the same error as a moved one', async () => {
    const { db, store } = await fresh();
    await store.put('a', distinctive('a'));
    await store.put('b', distinctive('b'));
    const rows = await db.query<{ ciphertext: string }>(
      'SELECT ciphertext FROM secrets WHERE name = $1',
      ['a'],
    );
    const ciphertext = rows[0]?.ciphertext ?? '';
    const altered = `${ciphertext.slice(0, -3)}${ciphertext.endsWith('AAA') ? 'BAA' : 'AAA'}`;
    await db.run('UPDATE secrets SET ciphertext = $1 WHERE name = $2', [altered, 'a']);
    await db.run('UPDATE secrets SET ciphertext = $1 WHERE name = $2', [ciphertext, 'b']);

    const alteredErr = await failure(() => store.get('a'));
    const movedErr = await failure(() => store.get('b'));

    expect(alteredErr.code).toBe('PCL_DECRYPT_FAILED');
    expect(alteredErr.message.replace('secret a:', '')).toBe(
      movedErr.message.replace('secret b:', ''),
    );
  });

  it('reads a secret another node wrote, with the same master key', async () => {
    const { database, store, master } = await fresh();
    const value = distinctive('shared');
    await store.put('shared', value);

    const otherDb = await database.open();
    const other = new SecretStore(otherDb, await KeyRing.open(otherDb, master));

    expect(await other.get('shared')).toBe(value);
  });

  it('reads every secret after the data key is rotated', async () => {
    const { db, master } = await fresh();
    const ring = await KeyRing.open(db, master);
    const store = new SecretStore(db, ring);
    const before = distinctive('before');
    await store.put('before', before);

    await ring.rotateDataKey();
    const after = distinctive('after');
    await store.put('after', after);

    expect(await store.get('before')).toBe(before);
    expect(await store.get('after')).toBe(after);
  });

  const BAD_NAMES: [string, unknown][] = [
    ['empty', ''],
    ['too long', 'a'.repeat(129)],
    ['starting with a dot', '.hidden'],
    ['starting with a slash', '/etc'],
    ['with a space', 'my secret'],
    ['with a newline (log injection)', 'name\nlevel=info msg=forged'],
    ['with a NUL', 'name\u0000'],
    ['with a quote', "name'--"],
    ['with non-ASCII', 'naïve'],
    ['not a string', 42],
  ];

  it.each(BAD_NAMES)('refuses a secret name %s, without echoing it', async (_, name) => {
    const { store } = await fresh();

    for (const call of [
      () => store.put(name as string, 'value'),
      () => store.get(name as string),
      () => store.delete(name as string),
    ]) {
      const err = await failure(call);
      expect(err.code).toBe('PCL_SECRET_NAME_INVALID');
      if (typeof name === 'string' && name.length > 3) expect(err.text).not.toContain(name);
    }
    expect(await store.list()).toEqual([]);
  });

  it('accepts a name of 128 characters', async () => {
    const { store } = await fresh();
    const name = `a${'b'.repeat(127)}`;

    await store.put(name, 'v');

    expect(await store.get(name)).toBe('v');
  });

  it('does not echo a value passed where the name belongs', async () => {
    const { store } = await fresh();
    const value = `${distinctive('oops')} with spaces`;

    const err = await failure(() => store.put(value, 'x'));

    expect(err.code).toBe('PCL_SECRET_NAME_INVALID');
    expect(err.text).not.toContain(value);
  });

  it('refuses to read with another master key', async () => {
    const { database, store } = await fresh();
    await store.put('billing', distinctive('v'));
    const otherDb = await database.open();

    const err = await failure(async () =>
      new SecretStore(
        otherDb,
        await KeyRing.open(otherDb, MasterKey.fromBytes(randomBytes(32))),
      ).get('billing'),
    );

    expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
  });
});

describe('secret store on sqlite, on disk', () => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.cleanup();
    database = undefined;
  });

  /** The database file and its write-ahead log, as bytes. */
  function onDisk(path: string): Buffer {
    return Buffer.concat(
      [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p)),
    );
  }

  it('never writes a secret value to the database file or its WAL', async () => {
    database = await createTestDatabase('sqlite');
    const db = await database.open();
    await migrate(db, MIGRATIONS);
    const store = new SecretStore(db, await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32))));
    const value = distinctive('sk_live_plaintext');
    const name = distinctive('name');

    await store.put(name, value);
    await store.put(`${name}-2`, value);
    await store.put(name, `${value}-replaced`);
    const bytes = onDisk(database.location);

    // The committed rows are in what was read: the names are stored in clear.
    expect(bytes.includes(Buffer.from(name))).toBe(true);
    expect(bytes.includes(Buffer.from(value))).toBe(false);
    expect(bytes.includes(Buffer.from(value, 'utf16le'))).toBe(false);
    expect(bytes.includes(Buffer.from(value.slice(0, 24)))).toBe(false);

    await db.close();
    const closed = onDisk(database.location);
    expect(closed.includes(Buffer.from(name))).toBe(true);
    expect(closed.includes(Buffer.from(value))).toBe(false);
  });
});
