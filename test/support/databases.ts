import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { Db } from '../../src/state/db.js';
import { PostgresDb } from '../../src/state/postgres/postgres-db.js';
import { SqliteDb } from '../../src/state/sqlite/sqlite-db.js';

/**
 * Real databases for tests: one suite runs against both store backends, never against a mock.
 *
 * - `sqlite`: a fresh file in its own temp folder (removed by `cleanup`). The SQLite worker
 *   loads from dist/, so run `npm run build` first (`npm test` does).
 * - `postgres`: the server at `DATABASE_URL` (outside CI only, the default is
 *   `postgres://postgres@127.0.0.1:5432/test`; in CI a missing DATABASE_URL throws, so the run
 *   fails instead of skipping). Each TestDatabase gets its own schema `pcl_t_<random>` and every
 *   connection it opens has `search_path` set to that schema through the URL's `options`, so
 *   test files running in parallel never see each other's tables. `cleanup` drops the schema.
 *   An unreachable server fails the test with a message that says so.
 *
 * The usual shape, one suite over both backends:
 *
 * ```ts
 * describe.each(BACKENDS)('%s store', (backend) => {
 *   const t = useTestDatabase(backend); // beforeAll: create + open; afterAll: cleanup
 *   it('keeps a row', async () => {
 *     await t.db.exec('CREATE TABLE k (v TEXT)');
 *     ...
 *   });
 * });
 * ```
 *
 * or, with full control of the lifecycle: `const tdb = await createTestDatabase('postgres')`,
 * `await tdb.open()` as often as needed (each call a new Db on the same data: a second node, a
 * reopen after close), `await tdb.cleanup()` at the end.
 */

export type Backend = 'sqlite' | 'postgres';

/** Both backends, in a stable order: for `describe.each(BACKENDS)`. */
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

export interface TestDatabase {
  readonly name: Backend;
  /**
   * Where the data is, in the form the config takes: the SQLite file's path, or the PostgreSQL
   * URL with this database's `search_path` (it may hold a password: never print it).
   */
  readonly location: string;
  /** A `state.store` config section pointing at this database (for configs written by tests). */
  readonly storeConfig: StoreConfigSection;
  /** Opens a new Db on this database. Each call is a new connection (pool or worker). */
  open(): Promise<Db>;
  /** Closes every Db `open` returned that is still open, then removes the file or schema. */
  cleanup(): Promise<void>;
}

export type StoreConfigSection =
  | { readonly backend: 'sqlite'; readonly sqlite: { readonly path: string } }
  | { readonly backend: 'postgres'; readonly postgres: { readonly url: string } };

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The server tests use; throws in CI when DATABASE_URL is missing (CI fails, never skips). */
export function postgresUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== '') return url;
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    throw new Error(
      'DATABASE_URL is not set: in CI the store tests must run against a real PostgreSQL server',
    );
  }
  return DEFAULT_URL;
}

/** The URL without its password, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** Adds `-c search_path=<schema>` to the URL's `options`, keeping any options it already has. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  const existing = u.searchParams.get('options');
  const options = `${existing === null ? '' : `${existing} `}-c search_path=${schema}`;
  u.searchParams.delete('options');
  const rest = u.search === '' ? '?' : `${u.search}&`;
  u.search = '';
  return `${u.toString()}${rest}options=${encodeURIComponent(options)}`;
}

/** Creates one fresh database of the given backend. */
export async function createTestDatabase(name: Backend): Promise<TestDatabase> {
  return name === 'sqlite' ? createSqlite() : createPostgres();
}

/** One fresh database per backend, SQLite first. */
export async function testDatabases(): Promise<TestDatabase[]> {
  const out: TestDatabase[] = [];
  try {
    for (const name of BACKENDS) out.push(await createTestDatabase(name));
    return out;
  } catch (err) {
    await Promise.all(out.map((d) => d.cleanup()));
    throw err;
  }
}

/**
 * Registers beforeAll/afterAll in the current describe block: a fresh database and one open Db
 * on it for the block's tests. `db` and `database` throw if read before beforeAll ran.
 */
export function useTestDatabase(name: Backend): {
  readonly db: Db;
  readonly database: TestDatabase;
} {
  let database: TestDatabase | undefined;
  let db: Db | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(name);
    db = await database.open();
  });
  afterAll(async () => {
    await database?.cleanup();
  });
  return {
    get db(): Db {
      if (db === undefined) throw new Error(`the ${name} test database is not open yet`);
      return db;
    },
    get database(): TestDatabase {
      if (database === undefined) throw new Error(`the ${name} test database is not created yet`);
      return database;
    },
  };
}

/** Tracks the Dbs a TestDatabase opened, so cleanup can close the ones tests left open. */
function tracker(): { track(db: Db): Db; closeAll(): Promise<void> } {
  const open = new Set<Db>();
  return {
    track(db) {
      open.add(db);
      const close = db.close.bind(db);
      // Close once through the original, and forget it: cleanup will not close it again.
      Object.defineProperty(db, 'close', {
        value: async () => {
          open.delete(db);
          await close();
        },
      });
      return db;
    },
    async closeAll() {
      const all = [...open];
      open.clear();
      await Promise.all(all.map((db) => db.close().catch(() => undefined)));
    },
  };
}

function createSqlite(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-sqlite-'));
  const path = join(dir, 'store.db');
  const dbs = tracker();
  return Promise.resolve({
    name: 'sqlite',
    location: path,
    storeConfig: { backend: 'sqlite', sqlite: { path } },
    open: () => Promise.resolve(dbs.track(new SqliteDb(path))),
    async cleanup() {
      await dbs.closeAll();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** One short-lived admin connection: creates or drops the schema. */
async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `PostgreSQL at ${shown(url)} is unreachable (${reason}): start it, or set DATABASE_URL to a server the tests may use`,
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function createPostgres(): Promise<TestDatabase> {
  const base = postgresUrl();
  // Only [a-z0-9_]: the name goes into SQL and the URL unquoted.
  const schema = `pcl_t_${randomBytes(8).toString('hex')}`;
  await admin(base, `CREATE SCHEMA ${schema}`);
  const url = withSearchPath(base, schema);
  const dbs = tracker();
  return {
    name: 'postgres',
    location: url,
    storeConfig: { backend: 'postgres', postgres: { url } },
    open: () => Promise.resolve(dbs.track(new PostgresDb(url, 4))),
    async cleanup() {
      await dbs.closeAll();
      await admin(base, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}
