import type { Config } from '../config/schema.js';
import { loadMasterKey, type MasterKey, type MasterKeyLog } from '../state/crypto/master-key.js';

/** What loading a master key warns about (a key file others can read), for the operator. */
export const stderrKeyLog: MasterKeyLog = {
  warn: (_fields, message) => {
    process.stderr.write(`warning: ${message}\n`);
  },
};

/**
 * The master key the gateways of `config` use (PORTCULLIS_MASTER_KEY or
 * `state.encryption.masterKeyFile`). Never a dev-mode key: a throwaway key could not read what
 * the gateways stored under theirs. Throws a CryptoError when there is none.
 */
export function gatewayMasterKey(config: Config, configDir: string): MasterKey {
  return loadMasterKey({
    env: process.env,
    file: config.state.encryption.masterKeyFile,
    baseDir: configDir,
    devMode: false,
    log: stderrKeyLog,
  });
}
