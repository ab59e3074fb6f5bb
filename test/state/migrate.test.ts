import { portcullis } from '../support/cli.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/state/db.js';
import { migrate, type Migration } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { StoreError } from '../../src/state/store-error.js';
import {
  BACKENDS,
  createTestDatabase,
  type Backend,
  type TestDatabase,
} from '../support/databases.js';
import { writeConfig } from '../support/gateway-process.js';

/** Versioned migrations on both backends, and `portcullis db migrate`. */

/** A migration with the same SQL for both dialects. */
function both(id: string, sql: string): Migration {
  return { id, sqlite: sql, postgres: sql };
}

// 002 depends on 001 (the table) and is not idempotent (a second run adds a second row):
// applied out of order or twice, it fails or shows.
const M1 = both('001-create-notes', 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
const M2 = both('002-seed-notes', "INSERT INTO notes (id, body) VALUES (1, 'first')");
const M3 = both('003-create-tags', 'CREATE TABLE tags (name TEXT PRIMARY KEY)');
const FAILING = both(
  '004-half-done',
  'CREATE TABLE half (x INTEGER); INSERT INTO notes (id, body) VALUES (2, NULL); INSERT INTO no_such_table VALUES (1)',
);

async function migrationError(p: Promise<unknown>): Promise<StoreError> {
  const err: unknown = await p.then(
    () => new Error('expected the migration to fail'),
    (e: unknown) => e,
  );
  if (!(err instanceof StoreError)) throw err;
  return err;
}

async function appliedIds(db: Db): Promise<string[]> {
  return (await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id')).map(
    (r) => r.id,
  );
}

async function tableExists(db: Db, table: string): Promise<boolean> {
  return db.query(`SELECT 1 FROM ${table}`).then(
    () => true,
    (err: unknown) => {
      if (err instanceof StoreError && err.code === 'PCL_STORE_QUERY_FAILED') return false;
      throw err;
    },
  );
}

describe.each(BACKENDS)('migrate on %s', (backend) => {
  const created: TestDatabase[] = [];
  /** A fresh, empty database for one test. */
  async function fresh(): Promise<{ database: TestDatabase; db: Db }> {
    const database = await createTestDatabase(backend);
    created.push(database);
    return { database, db: await database.open() };
  }
  afterEach(async () => {
    await Promise.all(created.splice(0).map((d) => d.cleanup()));
  });

  it('applies the migrations in order, once, and records each', async () => {
    const { db } = await fresh();

    expect(await migrate(db, [M1, M2])).toEqual([M1.id, M2.id]);

    expect(await appliedIds(db)).toEqual([M1.id, M2.id]);
    expect(await db.query('SELECT id, body FROM notes')).toEqual([{ id: 1, body: 'first' }]);
  });

  it('applies nothing on a second run', async () => {
    const { db } = await fresh();
    await migrate(db, [M1, M2]);

    expect(await migrate(db, [M1, M2])).toEqual([]);

    expect(await db.query('SELECT id FROM notes')).toEqual([{ id: 1 }]);
  });

  it('applies only the migrations added since the last run', async () => {
    const { db } = await fresh();
    await migrate(db, [M1, M2]);

    expect(await migrate(db, [M1, M2, M3])).toEqual([M3.id]);

    expect(await appliedIds(db)).toEqual([M1.id, M2.id, M3.id]);
    expect(await db.query('SELECT id FROM notes')).toEqual([{ id: 1 }]);
  });

  it.each<{ name: string; list: Migration[] }>([
    { name: 'out of order', list: [M2, M1] },
    { name: 'a repeated id', list: [M1, both(M1.id, 'SELECT 1')] },
    { name: 'an empty id', list: [both('', 'SELECT 1'), M1] },
  ])('refuses a list with $name before touching the database', async ({ list }) => {
    const { db } = await fresh();

    const err = await migrationError(migrate(db, list));

    expect(err.code).toBe('PCL_STORE_MIGRATION_FAILED');
    expect(err.message).toMatch(/unique and sorted/);
    expect(await tableExists(db, 'schema_migrations')).toBe(false);
    expect(await tableExists(db, 'notes')).toBe(false);
  });

  it('refuses a database migrated by a newer version, and applies nothing', async () => {
    const { db } = await fresh();
    await migrate(db, [M1, M2]);

    const err = await migrationError(migrate(db, [M1, M3]));

    expect(err.code).toBe('PCL_STORE_MIGRATION_FAILED');
    expect(err.message).toContain(M2.id);
    expect(err.message).toMatch(/newer Portcullis/);
    expect(await appliedIds(db)).toEqual([M1.id, M2.id]);
    expect(await tableExists(db, 'tags')).toBe(false);
  });

  it('rolls back every migration of a run when one fails: no table, no row, no record', async () => {
    const { db } = await fresh();

    const err = await migrationError(migrate(db, [M1, M2, M3, FAILING]));

    expect(err.code).toBe('PCL_STORE_MIGRATION_FAILED');
    expect(err.message).toMatch(new RegExp(`^migration ${FAILING.id} failed`));
    for (const table of ['notes', 'tags', 'half', 'schema_migrations']) {
      expect(await tableExists(db, table), table).toBe(false);
    }
  });

  it('keeps the earlier runs when a later run fails', async () => {
    const { db } = await fresh();
    await migrate(db, [M1, M2]);

    await migrationError(migrate(db, [M1, M2, M3, FAILING]));

    expect(await appliedIds(db)).toEqual([M1.id, M2.id]);
    expect(await tableExists(db, 'tags')).toBe(false);
    expect(await tableExists(db, 'half')).toBe(false);
    expect(await db.query('SELECT id FROM notes')).toEqual([{ id: 1 }]);
    // The failure is not remembered: fixed, the same migrations apply.
    expect(await migrate(db, [M1, M2, M3])).toEqual([M3.id]);
  });

  it('runs each dialect its own SQL', async () => {
    const { db } = await fresh();
    const split: Migration = {
      id: '001-split',
      sqlite: "CREATE TABLE which (d TEXT); INSERT INTO which VALUES ('sqlite')",
      postgres: "CREATE TABLE which (d TEXT); INSERT INTO which VALUES ('postgres')",
    };

    await migrate(db, [split]);

    expect(await db.query('SELECT d FROM which')).toEqual([{ d: backend }]);
  });

  it('applies each migration exactly once when several nodes migrate at the same time', async () => {
    const { database, db: first } = await fresh();
    const nodes = [first, ...(await Promise.all([1, 2, 3].map(() => database.open())))];

    const results = await Promise.all(nodes.map((db) => migrate(db, [M1, M2, M3])));

    // One node applied everything, every other found the database up to date.
    expect(results.flat().sort()).toEqual([M1.id, M2.id, M3.id]);
    expect(results.filter((r) => r.length === 0)).toHaveLength(nodes.length - 1);
    expect(await first.query('SELECT id FROM notes')).toEqual([{ id: 1 }]);
    expect(await appliedIds(first)).toEqual([M1.id, M2.id, M3.id]);
  });
});

/** A valid config whose only point is its `state.store` section. */
function configWith(store: unknown): string {
  return writeConfig(`listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  api:
    targets: [http://127.0.0.1:1]
routes:
  - name: r
    paths: [/r]
    methods: [GET]
    upstream: api
    auth: { public: true }
state:
  store: ${JSON.stringify(store)}
`);
}

// The real migrations of whatever modules exist today: only the shape of the output is fixed.
const FIRST_RUN = /^(up to date|(applied \S+\n)+\d+ migration\(s\) applied)\n$/;

describe.each(BACKENDS)('portcullis db migrate on %s (the built CLI)', (backend: Backend) => {
  let database: TestDatabase;
  let file: string;
  beforeAll(async () => {
    database = await createTestDatabase(backend);
    file = configWith(database.storeConfig);
  });
  afterAll(async () => {
    await database.cleanup();
  });

  it('migrates, then finds the store up to date', async () => {
    const first = await portcullis(['db', 'migrate', '-c', file]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(FIRST_RUN);

    const second = await portcullis(['db', 'migrate', '-c', file]);
    expect(second).toEqual({ code: 0, stdout: 'up to date\n', stderr: '' });
  });

  it('refuses a store migrated by a newer version: exit 1 and the code on stderr', async () => {
    const db = await database.open();
    try {
      await migrate(db, MIGRATIONS);
      await db.run('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [
        '9999-from-the-future',
        Date.now(),
      ]);
    } finally {
      await db.close();
    }

    const run = await portcullis(['db', 'migrate', '-c', file]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^PCL_STORE_MIGRATION_FAILED: .*9999-from-the-future.*\n$/);
  });
});

describe('portcullis db migrate with an unreachable store', () => {
  it('exits 1 with PCL_STORE_UNAVAILABLE, without the password', async () => {
    const file = configWith({
      backend: 'postgres',
      postgres: { url: 'postgres://portcullis:hunter2-not-shown@127.0.0.1:1/x' },
    });

    const run = await portcullis(['db', 'migrate', '-c', file]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^PCL_STORE_UNAVAILABLE: postgres: .+\n$/);
    expect(run.stderr).not.toContain('hunter2');
  });
});
