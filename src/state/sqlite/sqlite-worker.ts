import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { SqlValue } from '../db.js';
import { toPositional } from '../sql-placeholders.js';
import type { SqliteRequest, SqliteResponse, SqliteWorkerData } from './sqlite-protocol.js';

/**
 * Owns the SQLite connection in its own thread: writes (event batches, audit entries) never
 * block the event loop that serves requests.
 */
const { path } = workerData as SqliteWorkerData;
if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
const db = new Database(path);
// WAL: readers never block the writer, and a kill -9 loses at most the uncommitted transaction.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
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

function handle(req: SqliteRequest): SqliteResponse {
  switch (req.op) {
    case 'query': {
      const q = toPositional(req.sql, req.params);
      const rows = prepare(q.sql).all(...bindable(q.params)) as Record<string, unknown>[];
      return { id: req.id, ok: true, rows };
    }
    case 'run': {
      const q = toPositional(req.sql, req.params);
      const info = prepare(q.sql).run(...bindable(q.params));
      return { id: req.id, ok: true, changes: info.changes };
    }
    case 'exec':
      db.exec(req.sql);
      return { id: req.id, ok: true };
    case 'begin':
      db.exec('BEGIN IMMEDIATE');
      return { id: req.id, ok: true };
    case 'commit':
      db.exec('COMMIT');
      return { id: req.id, ok: true };
    case 'rollback':
      if (db.inTransaction) db.exec('ROLLBACK');
      return { id: req.id, ok: true };
    case 'close':
      db.close();
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
