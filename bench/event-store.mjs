// The stores of the event-recording setups (portcullis-events-sqlite, portcullis-events-postgres):
// a PostgreSQL schema of their own for the run, and a look at what the gateway recorded.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isLocalServer } from './cpu-time.mjs';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The PostgreSQL server the benchmark may use: DATABASE_URL, or the local test server. */
export function postgresUrl() {
  const url = process.env.DATABASE_URL;
  return url === undefined || url === '' ? DEFAULT_URL : url;
}

/** The URL without its password, for messages. */
function shown(url) {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** The URL with `-c search_path=<schema>` added to its `options`. */
function withSearchPath(url, schema) {
  const u = new URL(url);
  const existing = u.searchParams.get('options');
  u.searchParams.set(
    'options',
    `${existing === null ? '' : `${existing} `}-c search_path=${schema}`,
  );
  return u.toString();
}

async function adminQuery(url, sql) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL at ${shown(url)} is unreachable (${err.message}): start it, set DATABASE_URL, or leave portcullis-events-postgres out with --only`,
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh schema for this run, so the benchmark never touches the database's own tables. */
export async function createBenchSchema() {
  const base = postgresUrl();
  // Only [a-z0-9_]: the name goes into SQL unquoted.
  const schema = `pcl_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(base, `CREATE SCHEMA ${schema}`);
  return {
    url: withSearchPath(base, schema),
    drop: () => adminQuery(base, `DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

const COUNT_SQL = `SELECT
    COUNT(*) AS rows,
    COALESCE(SUM(CASE WHEN kind = 'request' AND request_id IS NOT NULL THEN 1 ELSE 0 END), 0) AS requests,
    COALESCE(SUM(CASE WHEN kind = 'request' AND request_id IS NULL THEN count ELSE 0 END), 0) AS folded,
    COALESCE(SUM(CASE WHEN kind <> 'request' THEN 1 ELSE 0 END), 0) AS priority
  FROM events`;

/**
 * What the gateway recorded so far: rows, request events stored one by one, request events
 * folded into counts, security and admin events. null when there is no events table (the
 * gateway did not open the store).
 */
export async function countEvents(store) {
  let row;
  try {
    if (store.backend === 'sqlite') {
      const db = new Database(store.path, { readonly: true, fileMustExist: true });
      try {
        row = db.prepare(COUNT_SQL).get();
      } finally {
        db.close();
      }
    } else {
      const client = new pg.Client({ connectionString: store.url, connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        row = (await client.query(COUNT_SQL)).rows[0];
      } finally {
        await client.end();
      }
    }
  } catch {
    return null;
  }
  return {
    rows: Number(row.rows),
    requests: Number(row.requests),
    folded: Number(row.folded),
    priority: Number(row.priority),
  };
}

/** Waits until the store holds a request event: the proof that this setup records. */
export async function waitForRecording(store, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await countEvents(store);
    if (counts !== null && counts.requests + counts.folded > 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether the PostgreSQL server runs on this machine: then its CPU time can be read. */
export function postgresIsLocal() {
  return isLocalServer(postgresUrl());
}
