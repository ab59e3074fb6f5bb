import pg from 'pg';
import type { Db, InsertValue, SqlValue } from '../db.js';
import { checkInsert, copyFromStdinSql } from '../insert-statement.js';
import { StoreError, redactParams, withoutQuotedValue } from '../store-error.js';
import { copyRows } from './copy-in.js';
import { TransactionGuard } from '../transaction-guard.js';

// Read back what SQLite gives for the same column, so store code runs unchanged on both:
// int8 (COUNT, BIGINT ids, epoch milliseconds) and NUMERIC (SUM of BIGINT) as numbers (every
// value the store keeps fits in 2^53), and booleans (EXISTS, comparisons) as 0/1.
const BOOL = 16;
const INT8 = 20;
const NUMERIC = 1700;
const parsers: Record<number, (v: string) => unknown> = {
  [BOOL]: (v) => (v === 't' ? 1 : 0),
  [INT8]: (v) => Number(v),
  [NUMERIC]: (v) => Number(v),
};
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format: 'text' | 'binary' = 'text') =>
    (format === 'text' ? parsers[oid] : undefined) ??
    (pg.types.getTypeParser(oid, format) as unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The server is down, unreachable, refusing this node or shutting down: the operator's problem,
 * not the statement's. 08xxx connection exceptions except 08P01 (a protocol violation, such as
 * a wrong parameter count), 28xxx authentication, 3D000 no such database, 53xxx out of
 * resources (too many connections), 57P0x shutdown.
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9]{3}|28|3D000|53|57P0)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
]);
// node-postgres's own errors carry no code.
const UNAVAILABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

function wrap(err: unknown, params: readonly SqlValue[]): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { message?: unknown; code?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  let message = typeof e.message === 'string' ? e.message : 'postgres error';
  // Data exceptions quote the offending value: it may be a secret passed as a parameter.
  if (code.startsWith('22')) message = withoutQuotedValue(message);
  message = redactParams(message, params);
  const unavailable =
    UNAVAILABLE_SQLSTATE.test(code) ||
    UNAVAILABLE_ERRNO.has(code) ||
    UNAVAILABLE_MESSAGE.test(message);
  return new StoreError(
    unavailable ? 'PCL_STORE_UNAVAILABLE' : 'PCL_STORE_QUERY_FAILED',
    `postgres: ${message}${code !== '' ? ` (${code})` : ''}`,
  );
}

/** SQLite has no boolean: both backends store 0/1 (SMALLINT here), so both bind 0/1. */
function bindable(params: readonly SqlValue[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

async function send<R>(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly SqlValue[] | undefined,
  pick: (r: pg.QueryResult) => R,
): Promise<R> {
  try {
    // No parameters: the simple protocol, which accepts several statements (migrations).
    const result =
      params === undefined ? await client.query(sql) : await client.query(sql, bindable(params));
    return pick(result);
  } catch (err) {
    throw wrap(err, params ?? []);
  }
}

/**
 * One `COPY ... FROM STDIN`: the server parses each row's text straight into the table, with no
 * statement to plan and no parameters to unpack (measured at 2.8 µs of server CPU a row, against
 * 4.5 for an INSERT of unnest() arrays and 7 for json_to_recordset), and it is one statement,
 * all or nothing, whatever the number of rows.
 */
async function insertRows(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly InsertValue[])[],
): Promise<number> {
  checkInsert(table, columns, rows);
  if (rows.length === 0) return 0;
  try {
    return await copyRows(client, copyFromStdinSql(table, columns), rows);
  } catch (err) {
    // Redacted value by value: an error message may quote one of them.
    throw wrap(err, rows.flat());
  }
}

/** A client taken from the pool for several statements, and how to give it back. */
interface Checkout {
  readonly client: pg.PoolClient;
  /** Back to the pool; with an error, or after the connection was lost, destroyed instead. */
  readonly release: (broken?: Error) => void;
}

/**
 * Takes a client for several statements. node-postgres emits 'error' on a client whose
 * connection drops (the server restarted, an administrator ended the backend), and the pool
 * listens for it only while the client is idle: taken out, a client without a listener of ours
 * would crash the process. The statement in progress fails with the same error, and the next
 * one on a lost connection fails at once; the client is destroyed on release, never reused.
 */
async function checkout(pool: pg.Pool): Promise<Checkout> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw wrap(err, []);
  }
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  return {
    client,
    release: (broken) => {
      client.removeListener('error', onError);
      client.release(broken ?? lost);
    },
  };
}

/** PostgreSQL through a node-postgres pool: for several gateway nodes sharing one state. */
export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  /** Set inside a transaction's function, to catch calls that bypass its connection. */
  readonly #inTransaction = new TransactionGuard();
  #closing: Promise<void> | undefined;

  constructor(url: string, poolSize = 10) {
    this.#pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      types,
      // An unreachable server fails the call instead of hanging it.
      connectionTimeoutMillis: 10_000,
    });
    // An idle client's error (the server restarted) must not crash the gateway.
    this.#pool.on('error', () => undefined);
  }

  #check(): StoreError | undefined {
    if (this.#closing !== undefined) {
      return new StoreError('PCL_STORE_UNAVAILABLE', 'postgres: store closed');
    }
    if (this.#inTransaction.inside()) {
      // Outside the transaction it would not see the transaction's writes, could wait on its
      // locks, and with the pool exhausted would wait for itself: refused, as on SQLite.
      return new StoreError(
        'PCL_STORE_QUERY_FAILED',
        'postgres: a call on the Db inside its own transaction: use the tx the function was given',
      );
    }
    return undefined;
  }

  query<T extends Record<string, unknown>>(
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<T[]> {
    const refused = this.#check();
    if (refused !== undefined) return Promise.reject(refused);
    return send(this.#pool, sql, params, (r) => r.rows as T[]);
  }

  /** One COPY is all or nothing by itself: no transaction needed. */
  async insertMany(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly InsertValue[])[],
  ): Promise<number> {
    const refused = this.#check();
    if (refused !== undefined) throw refused;
    const { client, release } = await checkout(this.#pool);
    try {
      return await insertRows(client, table, columns, rows);
    } finally {
      // A connection that broke meanwhile is not queryable any more: the pool discards it.
      release();
    }
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const refused = this.#check();
    if (refused !== undefined) return Promise.reject(refused);
    return send(this.#pool, sql, params, (r) => r.rowCount ?? 0);
  }

  exec(sql: string): Promise<void> {
    const refused = this.#check();
    if (refused !== undefined) return Promise.reject(refused);
    return send(this.#pool, sql, undefined, () => undefined);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const refused = this.#check();
    if (refused !== undefined) throw refused;
    const { client, release } = await checkout(this.#pool);
    const state = { active: true };
    // A client whose ROLLBACK failed is in an unknown state: destroyed, not reused.
    let broken: Error | undefined;
    try {
      await send(client, 'BEGIN', undefined, () => undefined);
      const result = await this.#inTransaction.run(state, () => fn(transactionDb(client, state)));
      state.active = false;
      await send(client, 'COMMIT', undefined, () => undefined);
      return result;
    } catch (err) {
      state.active = false;
      // The original error is the one worth reporting.
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error('rollback failed');
      });
      throw err;
    } finally {
      release(broken);
    }
  }

  /** Waits for the calls in flight, then closes every connection. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.end();
    return this.#closing;
  }
}

/**
 * One transaction's connection. Once the transaction has ended it refuses every call: the
 * client is back in the pool by then, maybe inside another caller's transaction.
 */
function transactionDb(client: pg.PoolClient, state: { active: boolean }): Db {
  const ended = (): Promise<never> =>
    Promise.reject(
      new StoreError('PCL_STORE_QUERY_FAILED', 'postgres: the transaction has already ended'),
    );
  return {
    dialect: 'postgres',
    query: <T extends Record<string, unknown>>(sql: string, params: readonly SqlValue[] = []) =>
      state.active ? send(client, sql, params, (r) => r.rows as T[]) : ended(),
    run: (sql: string, params: readonly SqlValue[] = []) =>
      state.active ? send(client, sql, params, (r) => r.rowCount ?? 0) : ended(),
    insertMany: (
      table: string,
      columns: readonly string[],
      rows: readonly (readonly InsertValue[])[],
    ) => (state.active ? insertRows(client, table, columns, rows) : ended()),
    exec: (sql: string) => (state.active ? send(client, sql, undefined, () => undefined) : ended()),
    transaction: () =>
      Promise.reject(
        new StoreError('PCL_STORE_QUERY_FAILED', 'postgres: nested transactions are not supported'),
      ),
    close: () => Promise.resolve(),
  };
}
