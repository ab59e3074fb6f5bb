import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { SqlValue } from '../db.js';
import { toPositional } from '../sql-placeholders.js';
import type { SqliteRequest, SqliteResponse, SqliteWorkerData } from './sqlite-protocol.js';

/**
 * Owns the SQLite connection in its own thread: writes (event batches, audit entries) never
 * block the event loop that serves requests. A failure to open the file throws here, at the top
 * level: the main thread sees the worker's `error` event and reports the store unavailable.
 */
const { path } = workerData as SqliteWorkerData;
if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
const db = new Database(path);
// WAL: readers never block the writer, and a kill -9 loses at most the uncommitted transaction.
// synchronous=NORMAL: a commit is durable against a crash of the process, not of the machine
// (power loss may lose the last transactions, never corrupt the file). See docs/storage.md.
// busy_timeout first: switching to WAL takes a lock another process opening the file may hold.
db.pragma('busy_timeout = 5000');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');

const statements = new Map<string, Database.Statement>();

function prepare(sql: string): Database.Statement {
  let stmt = statements.get(sql);
  if (stmt === undefined) {
    stmt = db.prepare(sql);
    if (statements.size > 500) statements.clear();
    statements.set(sql, stmt);
  }
  return stmt;
}

/** SQLite has no boolean: store 0/1 as PostgreSQL code would read back from SMALLINT. */
function bindable(params: SqlValue[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

const orders = new Map<string, number[]>();

/** The parameter index of each placeholder, in the order they appear in the statement. */
function placeholderOrder(sql: string): number[] {
  let order = orders.get(sql);
  if (order === undefined) {
    order = [...sql.matchAll(/\$([0-9]+)/g)].map((m) => Number(m[1]) - 1);
    if (orders.size > 100) orders.clear();
    orders.set(sql, order);
  }
  return order;
}

function handle(req: SqliteRequest): SqliteResponse {
  switch (req.op) {
    case 'query': {
      const q = toPositional(req.sql, req.params);
      const stmt = prepare(q.sql);
      // PostgreSQL answers a query that returns no rows (an INSERT without RETURNING) with
      // none; better-sqlite3 refuses all() on it. Same behaviour on both backends.
      if (!stmt.reader) {
        stmt.run(...bindable(q.params));
        return { id: req.id, ok: true, rows: [] };
      }
      const rows = stmt.all(...bindable(q.params)) as Record<string, unknown>[];
      return { id: req.id, ok: true, rows };
    }
    case 'run': {
      const q = toPositional(req.sql, req.params);
      const info = prepare(q.sql).run(...bindable(q.params));
      return { id: req.id, ok: true, changes: info.changes };
    }
    case 'batch': {
      const first = req.rows[0];
      if (first === undefined) return { id: req.id, ok: true, changes: 0 };
      // The placeholders are rewritten once (the first row checks the parameter count); every
      // row then binds its values in the same order.
      const order = placeholderOrder(req.sql);
      const stmt = prepare(toPositional(req.sql, first).sql);
      let changes = 0;
      for (const row of req.rows) {
        if (row.length !== first.length)
          throw new Error('every row of a batch needs the same parameters');
        changes += stmt.run(...bindable(order.map((i) => row[i] as SqlValue))).changes;
      }
      return { id: req.id, ok: true, changes };
    }
    case 'exec':
      db.exec(req.sql);
      return { id: req.id, ok: true };
    case 'begin':
      // IMMEDIATE takes the write lock now: another process on the same file waits
      // (busy_timeout) at BEGIN instead of failing at its first write.
      db.exec('BEGIN IMMEDIATE');
      return { id: req.id, ok: true };
    case 'commit':
      db.exec('COMMIT');
      return { id: req.id, ok: true };
    case 'rollback':
      if (db.inTransaction) db.exec('ROLLBACK');
      return { id: req.id, ok: true };
    case 'close':
      statements.clear();
      if (db.open) db.close();
      return { id: req.id, ok: true };
  }
}

parentPort?.on('message', (req: SqliteRequest) => {
  let res: SqliteResponse;
  try {
    res = handle(req);
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    res = {
      id: req.id,
      ok: false,
      message: typeof e.message === 'string' ? e.message : 'sqlite error',
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    };
  }
  parentPort?.postMessage(res);
});
