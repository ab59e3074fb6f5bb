import type { Db } from './db.js';
import { StoreError } from './store-error.js';

/** One versioned schema change, written for both backends. Ids sort in the order they apply. */
export interface Migration {
  readonly id: string;
  readonly sqlite: string;
  readonly postgres: string;
}

// Any fixed number: several nodes starting at once take turns migrating.
const MIGRATION_LOCK = 7_343_012;

/**
 * Applies the migrations this database has not seen, in one transaction, and returns their ids.
 * A database migrated by a newer Portcullis (ids this code does not know) is refused.
 */
export async function migrate(db: Db, migrations: readonly Migration[]): Promise<string[]> {
  const ids = migrations.map((m) => m.id);
  if (ids.some((id, i) => i > 0 && id <= (ids[i - 1] as string))) {
    throw new StoreError('PCL_STORE_MIGRATION_FAILED', 'migration ids must be unique and sorted');
  }
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)',
  );
  return db.transaction(async (tx) => {
    if (tx.dialect === 'postgres')
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    const done = new Set(
      (await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id),
    );
    const unknown = [...done].filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      throw new StoreError(
        'PCL_STORE_MIGRATION_FAILED',
        `the database has migrations this version does not know (${unknown.join(', ')}): it was migrated by a newer Portcullis`,
      );
    }
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      try {
        await tx.exec(tx.dialect === 'sqlite' ? m.sqlite : m.postgres);
      } catch (err) {
        throw new StoreError(
          'PCL_STORE_MIGRATION_FAILED',
          `migration ${m.id} failed: ${(err as Error).message}`,
        );
      }
      await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [
        m.id,
        Date.now(),
      ]);
      applied.push(m.id);
    }
    return applied;
  });
}
