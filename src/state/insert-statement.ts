import type { InsertValue } from './db.js';
import { StoreError } from './store-error.js';

/**
 * The statements of `Db.insertMany`. Table and column names go into the SQL text, so they must
 * be plain identifiers: they are the code's own constants, never input, and anything else is a
 * bug refused before a statement is built.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless the names are plain identifiers and every row has a value for each column. */
export function checkInsert(
  table: string,
  columns: readonly string[],
  rows: readonly (readonly InsertValue[])[],
): void {
  const bad = [table, ...columns].find((name) => !IDENTIFIER.test(name));
  if (bad !== undefined || columns.length === 0) {
    throw new StoreError(
      'PCL_STORE_QUERY_FAILED',
      `insertMany: "${bad ?? table}" needs a table and columns named by plain identifiers`,
    );
  }
  for (const row of rows) {
    if (row.length !== columns.length) {
      throw new StoreError(
        'PCL_STORE_QUERY_FAILED',
        `insertMany: a row of ${row.length} values for ${columns.length} columns of ${table}`,
      );
    }
  }
}

/** SQLite: `INSERT INTO t (a, b) VALUES (?, ?), (?, ?)` with `rows` tuples. */
export function valuesInsertSql(table: string, names: readonly string[], rows: number): string {
  const tuple = `(${names.map(() => '?').join(', ')})`;
  return `INSERT INTO ${table} (${names.join(', ')}) VALUES ${Array<string>(rows).fill(tuple).join(', ')}`;
}

/** PostgreSQL: the rows follow as COPY data (`copy-in.ts`): one statement, one round trip. */
export function copyFromStdinSql(table: string, columns: readonly string[]): string {
  return `COPY ${table} (${columns.join(', ')}) FROM STDIN`;
}
