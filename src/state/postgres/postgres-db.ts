import pg from 'pg';
import type { Db, SqlValue } from '../db.js';
import { StoreError } from '../store-error.js';

// int8 (COUNT, BIGINT ids, epoch milliseconds) as numbers: every value the store keeps fits.
const INT8 = 20;
const parseInt8 = (v: string): number => Number(v);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format: 'text' | 'binary' = 'text') =>
    oid === INT8
      ? parseInt8
      : (pg.types.getTypeParser(oid, format) as unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

function wrap(err: unknown): StoreError {
  const e = err as { message?: unknown; code?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'postgres error';
  const unavailable =
    typeof e.code === 'string' && /^(ECONNREFUSED|ENOTFOUND|57P0[0-9]|08)/.test(e.code);
  return new StoreError(
    unavailable ? 'PCL_STORE_UNAVAILABLE' : 'PCL_STORE_QUERY_FAILED',
    `postgres: ${message}`,
  );
}

function queryable(client: pg.Pool | pg.PoolClient): Db {
  return {
    dialect: 'postgres',
    query: async <T extends Record<string, unknown>>(
      sql: string,
      params: readonly SqlValue[] = [],
    ) => {
      try {
        return (await client.query<T>(sql, [...params])).rows;
      } catch (err) {
        throw wrap(err);
      }
    },
    run: async (sql: string, params: readonly SqlValue[] = []) => {
      try {
        return (await client.query(sql, [...params])).rowCount ?? 0;
      } catch (err) {
        throw wrap(err);
      }
    },
    exec: async (sql: string) => {
      try {
        await client.query(sql);
      } catch (err) {
        throw wrap(err);
      }
    },
    transaction: () =>
      Promise.reject(new StoreError('PCL_STORE_QUERY_FAILED', 'nested transaction')),
    close: () => Promise.resolve(),
  };
}

/** PostgreSQL through a node-postgres pool: for several gateway nodes sharing one state. */
export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #db: Db;

  constructor(url: string, poolSize = 10) {
    this.#pool = new pg.Pool({ connectionString: url, max: poolSize, types });
    // An idle client's error (the server restarted) must not crash the gateway.
    this.#pool.on('error', () => undefined);
    this.#db = queryable(this.#pool);
  }

  query<T extends Record<string, unknown>>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<T[]> {
    return this.#db.query<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#db.run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.#db.exec(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    try {
      await client.query('BEGIN');
      const result = await fn(queryable(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
