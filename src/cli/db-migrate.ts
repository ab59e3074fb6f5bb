import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import { StoreError } from '../state/store-error.js';
import { loadConfigOrExit } from './load-config.js';

/**
 * `portcullis db migrate -c FILE`: applies the migrations the configured store has not seen and
 * exits; exit 0 when the store is up to date, 1 with `CODE: message` when it cannot be.
 */
export async function runDbMigrate(file: string): Promise<void> {
  const { config, configDir } = loadConfigOrExit(file);
  try {
    const db = openDb(config.state, configDir);
    try {
      const applied = await migrate(db, MIGRATIONS);
      process.stdout.write(
        applied.length === 0
          ? 'up to date\n'
          : applied.map((id) => `applied ${id}\n`).join('') +
              `${applied.length} migration(s) applied\n`,
      );
    } finally {
      await db.close().catch(() => undefined);
    }
    process.exitCode = 0;
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  }
}
