/**
 * The one SQL interface every store module writes to. Statements use PostgreSQL's numbered
 * placeholders (`$1`, `$2`); the SQLite backend accepts the same text. Every call is async so
 * that the same code runs on both backends; SQLite runs in a worker thread, never blocking the
 * event loop that serves requests.
 */
export type SqlValue = string | number | bigint | boolean | Buffer | null;

/** A value of `insertMany`. */
export type InsertValue = string | number | null;

export interface Db {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows as plain objects keyed by column name. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<T[]>;
  /** For INSERT/UPDATE/DELETE: how many rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Inserts many rows into one table in as few statements as the backend allows (event
   * batches): multi-row `VALUES` lists on SQLite, one `COPY ... FROM STDIN` on PostgreSQL. Each
   * row has a value for each column, in order. All or nothing: in a transaction of its own, or
   * part of the transaction it is called in. Returns how many rows were inserted.
   */
  insertMany(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly InsertValue[])[],
  ): Promise<number>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Other calls on this Db wait until the transaction ends.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
