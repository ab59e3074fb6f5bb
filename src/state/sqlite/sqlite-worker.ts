import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { InsertValue, SqlValue } from '../db.js';
import { valuesInsertSql } from '../insert-statement.js';
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

/**
 * Rows per INSERT of `insertMany`: measured at two thirds of the CPU per row of one statement
 * per row (the statement's own work, AUTOINCREMENT's bookkeeping among it, is shared by its
 * rows), and no better past 50. Bounded by SQLite's limit on a statement's parameters.
 */
const ROWS_PER_INSERT = 50;
const MAX_PARAMETERS = 32_766;

const inserts = new Map<
  string,
  { many: Database.Statement; one: Database.Statement; per: number }
>();

function insertStatements(table: string, columns: string[]) {
  const key = `${table}(${columns.join(',')})`;
  let s = inserts.get(key);
  if (s === undefined) {
    const per = Math.max(1, Math.min(ROWS_PER_INSERT, Math.floor(MAX_PARAMETERS / columns.length)));
    s = {
      many: db.prepare(valuesInsertSql(table, columns, per)),
      one: db.prepare(valuesInsertSql(table, columns, 1)),
      per,
    };
    if (inserts.size > 100) inserts.clear();
    inserts.set(key, s);
  }
  return s;
}

/**
 * Whole statements of `per` rows, bound straight from the row arrays, then one per row left; all
 * or nothing: in a transaction of its own (IMMEDIATE, like `begin`) unless one is open, inside
 * which it is a savepoint.
 */
const insertRows = db.transaction((table: string, columns: string[], rows: InsertValue[][]) => {
  const { many, one, per } = insertStatements(table, columns);
  let i = 0;
  for (; i + per <= rows.length; i += per) many.run(...rows.slice(i, i + per));
  for (; i < rows.length; i++) one.run(rows[i]);
  return rows.length;
});

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
    case 'insert':
      return {
        id: req.id,
        ok: true,
        changes: insertRows.immediate(req.table, req.columns, req.rows),
      };
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
      inserts.clear();
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
