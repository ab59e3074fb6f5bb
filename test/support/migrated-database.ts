import type { Db } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { createTestDatabase, type Backend, type TestDatabase } from './databases.js';

/**
 * A fresh test database of `backend` with every migration applied, and the Db that applied
 * them. The database is added to `cleanup` first, so that it is removed even when a migration
 * fails.
 */
export async function migratedTestDatabase(
  backend: Backend,
  cleanup: TestDatabase[],
): Promise<{ database: TestDatabase; db: Db }> {
  const database = await createTestDatabase(backend);
  cleanup.push(database);
  const db = await database.open();
  await migrate(db, MIGRATIONS);
  return { database, db };
}
