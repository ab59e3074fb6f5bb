import { AuditError } from '../state/audit/audit-error.js';
import { auditKeyFile } from '../state/audit/audit-log.js';
import {
  loadCheckpointVerifyKeys,
  type CheckpointVerifyKey,
} from '../state/audit/checkpoint-key.js';
import { verifyAuditLog } from '../state/audit/verify.js';
import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import type { Db } from '../state/db.js';
import { StoreError } from '../state/store-error.js';
import { loadConfigOrExit } from './load-config.js';

// Not an exception: the command's finding, with a code the operator can look up.
const CHAIN_BROKEN = 'PCL_AUDIT_CHAIN_BROKEN';

/**
 * `portcullis audit-log verify -c FILE`: walks the audit chain and checks its signed checkpoints.
 * Exit 0 when the log is intact, 1 when it is broken (naming the first broken entry) or cannot be
 * checked (config, key or store).
 */
export async function runAuditVerify(configFile: string): Promise<void> {
  const { config, configDir } = loadConfigOrExit(configFile);
  let keys: CheckpointVerifyKey[] = [];
  try {
    const file = auditKeyFile(config.state, configDir);
    if (file !== undefined) keys = loadCheckpointVerifyKeys(file);
  } catch (err) {
    if (!(err instanceof AuditError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }

  let db: Db;
  try {
    db = openDb(config.state, configDir);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  try {
    await migrate(db, MIGRATIONS);
    const result = await verifyAuditLog(db, keys);
    if (result.ok) {
      for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(
        `audit log OK: ${result.entries} entries, ${result.checkpoints} checkpoints\n`,
      );
      process.exitCode = 0;
    } else {
      process.stdout.write(`audit log BROKEN at entry ${result.index}: ${result.problem}\n`);
      process.stderr.write(`${CHAIN_BROKEN}: ${result.detail}; see docs/audit.md\n`);
      process.exitCode = 1;
    }
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}
