import type { Db } from './db.js';
import { StoreError } from './store-error.js';

/** One versioned schema change, written for both backends. Ids sort in the order they apply. */
export interface Migration {
  readonly id: string;
  readonly sqlite: string;
  readonly postgres: string;
}

// Any fixed number: several nodes starting at once take turns migrating. The lock is per
// database (not per schema): deployments sharing a database only take turns, which is harmless.
const MIGRATION_LOCK = 7_343_012;

/**
 * Applies the migrations this database has not seen, in one transaction, and returns their ids
 * (empty when it was up to date). All or nothing: a failing migration leaves no trace, not even
 * the migrations before it. A database migrated by a newer Portcullis (ids this code does not
 * know) is refused: older code could misread the newer schema.
 */
export async function migrate(db: Db, migrations: readonly Migration[]): Promise<string[]> {
  const ids = migrations.map((m) => m.id);
  const unsorted = ids.findIndex((id, i) => id === '' || (i > 0 && id <= (ids[i - 1] as string)));
  if (unsorted !== -1) {
    throw new StoreError(
      'PCL_STORE_MIGRATION_FAILED',
      `migration ids must be non-empty, unique and sorted: "${ids[unsorted]}" comes after "${ids[unsorted - 1] ?? ''}"`,
    );
  }
  return db.transaction(async (tx) => {
    // First the lock, then everything else: two nodes creating schema_migrations at the same
    // time would otherwise collide in PostgreSQL's catalog (CREATE ... IF NOT EXISTS races).
    // SQLite needs no lock: the transaction began IMMEDIATE and holds the file's write lock.
    if (tx.dialect === 'postgres')
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)',
    );
    const done = new Set(
      (await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id),
    );
    const known = new Set(ids);
    const unknown = [...done].filter((id) => !known.has(id)).sort();
    if (unknown.length > 0) {
      throw new StoreError(
        'PCL_STORE_MIGRATION_FAILED',
        `the database has migrations this version does not know (${unknown.join(', ')}): it was migrated by a newer Portcullis; run that version or newer`,
      );
    }
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      try {
        await tx.exec(tx.dialect === 'sqlite' ? m.sqlite : m.postgres);
      } catch (err) {
        // A lost connection stays what it is: the operator fixes the server, not the migration.
        if (err instanceof StoreError && err.code === 'PCL_STORE_UNAVAILABLE') throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new StoreError(
          'PCL_STORE_MIGRATION_FAILED',
          `migration ${m.id} failed, nothing was applied: ${reason}`,
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
