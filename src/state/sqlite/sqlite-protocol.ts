import type { InsertValue, SqlValue } from '../db.js';

/** Messages between the main thread and the SQLite worker. */
export type SqliteRequest =
  | { id: number; op: 'query' | 'run'; sql: string; params: SqlValue[] }
  | { id: number; op: 'insert'; table: string; columns: string[]; rows: InsertValue[][] }
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'begin' | 'commit' | 'rollback' | 'close' };

/**
 * A Buffer crosses the thread boundary as a plain Uint8Array (structured clone): the receiving
 * side turns it back into a Buffer.
 */
export type SqliteResponse =
  | { id: number; ok: true; rows?: Record<string, unknown>[]; changes?: number }
  | { id: number; ok: false; message: string; code?: string };

export interface SqliteWorkerData {
  readonly path: string;
}
