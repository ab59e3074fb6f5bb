import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { CryptoError } from '../crypto/crypto-error.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { SecretStore } from '../crypto/secrets.js';
import type { Db } from '../db.js';
import { nextChange } from '../change-counter.js';

/** The secret that holds the server key API keys are hashed under (encrypted at rest). */
export const API_KEY_HMAC_SECRET = 'authn/api-key-hmac';

const KEY_BYTES = 32;

/**
 * The keyed hash of API keys: HMAC-SHA-256 under a 32-byte server key kept only in the secret
 * store. A copy of the database alone (a backup, a read-only replica) then cannot be used to
 * test guessed keys offline, as a plain SHA-256 would allow. The key is held in a KeyObject:
 * it never appears in an inspected object or a log line.
 */
export class ApiKeyHmac {
  readonly #key: KeyObject;

  private constructor(key: Buffer) {
    this.#key = createSecretKey(key);
  }

  /**
   * The server key from the secret store, created (32 random bytes) by the first process that
   * needs it. Two processes starting at once on an empty store agree on one key: creation takes
   * the authn change counter's row lock, and the second finds the first one's key.
   */
  static async load(db: Db, ring: KeyRing, now: () => number = Date.now): Promise<ApiKeyHmac> {
    const secrets = new SecretStore(db, ring, now);
    let value = await readKey(secrets, ring);
    if (value === undefined) {
      await db.transaction(async (tx) => {
        await nextChange(tx, 'authn_changes');
        const existing = await tx.query('SELECT name FROM secrets WHERE name = $1', [
          API_KEY_HMAC_SECRET,
        ]);
        if (existing.length > 0) return;
        // Encrypting needs no store access: the ring holds the data key in memory.
        await new SecretStore(tx, ring, now).put(
          API_KEY_HMAC_SECRET,
          randomBytes(KEY_BYTES).toString('base64'),
        );
      });
      value = await secrets.get(API_KEY_HMAC_SECRET);
    }
    const key = value === undefined ? Buffer.alloc(0) : Buffer.from(value, 'base64');
    if (key.length !== KEY_BYTES) {
      throw new CryptoError(
        'PCL_DECRYPT_FAILED',
        `secret ${API_KEY_HMAC_SECRET} does not hold a ${KEY_BYTES}-byte key: the store was altered; every API key must be reissued if it is replaced`,
      );
    }
    return new ApiKeyHmac(key);
  }

  /** HMAC-SHA-256 of `apiKey`: 32 bytes. */
  digest(apiKey: string): Buffer {
    return createHmac('sha256', this.#key).update(apiKey, 'utf8').digest();
  }
}

/**
 * The stored server key; undefined when there is none. Under a dev-mode master key
 * (state.encryption.devMode) the key written by an earlier process is lost with that process's
 * master key, as every dev-mode secret is: it reads as absent, and a new one replaces it (the API
 * keys issued under the old one stop working, which dev mode announces at every start).
 */
async function readKey(secrets: SecretStore, ring: KeyRing): Promise<string | undefined> {
  try {
    return await secrets.get(API_KEY_HMAC_SECRET);
  } catch (err) {
    const lostDevKey =
      err instanceof CryptoError &&
      err.code === 'PCL_DECRYPT_FAILED' &&
      ring.masterKeyId.startsWith('dev-');
    if (!lostDevKey) throw err;
    await secrets.delete(API_KEY_HMAC_SECRET);
    return undefined;
  }
}
