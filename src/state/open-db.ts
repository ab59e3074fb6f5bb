import { isAbsolute, resolve } from 'node:path';
import type { StateConfig } from '../config/schema.js';
import type { Db } from './db.js';
import { PostgresDb } from './postgres/postgres-db.js';
import { SqliteDb } from './sqlite/sqlite-db.js';
import { StoreError } from './store-error.js';

/** Opens the configured backend; a relative SQLite path is relative to the config file's folder. */
export function openDb(state: StateConfig, configDir: string): Db {
  const store = state.store;
  if (store.backend === 'postgres') {
    if (store.postgres.url === undefined) {
      throw new StoreError(
        'PCL_STORE_UNAVAILABLE',
        'state.store.backend is postgres but state.store.postgres.url is not set (use ${DATABASE_URL})',
      );
    }
    return new PostgresDb(store.postgres.url, store.postgres.poolSize);
  }
  const path = store.sqlite.path;
  return new SqliteDb(path === ':memory:' || isAbsolute(path) ? path : resolve(configDir, path));
}
