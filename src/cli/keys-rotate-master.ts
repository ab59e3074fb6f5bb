import { CryptoError } from '../state/crypto/crypto-error.js';
import { loadMasterKey, MASTER_KEY_ENV } from '../state/crypto/master-key.js';
import { rotateMaster } from '../state/crypto/rotate-master.js';
import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import { StoreError } from '../state/store-error.js';
import { gatewayMasterKey, stderrKeyLog } from './gateway-master-key.js';
import { loadConfigOrExit } from './load-config.js';

/**
 * `portcullis keys rotate-master -c FILE --new-key-file F`: re-wraps every data key under the
 * key in F, in one transaction, while gateways keep running on the keys they hold in memory.
 * The current key comes from where the gateway takes it (PORTCULLIS_MASTER_KEY or
 * `state.encryption.masterKeyFile`); dev mode does not apply. Exit 0 once done, 1 with
 * `CODE: message` when refused (nothing changed).
 */
export async function runRotateMaster(configFile: string, newKeyFile: string): Promise<void> {
  const { config, configDir } = loadConfigOrExit(configFile);
  try {
    const current = gatewayMasterKey(config, configDir);
    // Only the file: the environment holds the current key.
    const next = loadMasterKey({
      env: {},
      file: newKeyFile,
      fileLabel: '--new-key-file',
      devMode: false,
      log: stderrKeyLog,
    });
    const db = openDb(config.state, configDir);
    try {
      await migrate(db, MIGRATIONS);
      const result = await rotateMaster(db, current, next);
      process.stdout.write(
        `re-wrapped ${result.rewrapped} data key(s) from master key ${current.id} to ${next.id}` +
          (result.alreadyNew > 0 ? ` (${result.alreadyNew} already under ${next.id})` : '') +
          (result.lost > 0 ? ` (${result.lost} of a dev-mode key left as they are)` : '') +
          '\n' +
          `new master key id: ${next.id}\n` +
          `next: point ${MASTER_KEY_ENV} or state.encryption.masterKeyFile at the new key and restart each gateway; ` +
          `running gateways keep working until then. Then retire the old key ${current.id}: nothing in the store refers to it any more.\n`,
      );
    } finally {
      await db.close().catch(() => undefined);
    }
    process.exitCode = 0;
  } catch (err) {
    if (!(err instanceof CryptoError) && !(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  }
}
