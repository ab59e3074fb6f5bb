import type { Db } from '../db.js';
import { CryptoError } from './crypto-error.js';
import type { KeyRing } from './key-ring.js';

// Names are what config and logs refer to; they are not secret. A tight alphabet keeps them
// printable in every message and free of anything a shell or a log parser would read differently.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;

/**
 * Named secrets (upstream credentials, webhook secrets, OAuth client secrets, signing keys),
 * stored only as ciphertext bound to their row: a ciphertext copied under another name does not
 * decrypt. Values are never logged, and no error carries one.
 */
export class SecretStore {
  readonly #db: Db;
  readonly #ring: KeyRing;
  readonly #now: () => number;

  constructor(db: Db, ring: KeyRing, now: () => number = Date.now) {
    this.#db = db;
    this.#ring = ring;
    this.#now = now;
  }

  /** Stores or replaces the secret `name`. */
  async put(name: string, value: string): Promise<void> {
    checkName(name);
    if (typeof value !== 'string') throw new TypeError('a secret value is a string');
    const ciphertext = this.#ring.encrypt(value, ad(name));
    await this.#db.run(
      `INSERT INTO secrets (name, ciphertext, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      [name, ciphertext, this.#now()],
    );
  }

  /**
   * Stores `value` as `name` only if no secret has that name; true when this call stored it.
   * Processes that each generate a value on first use (a signing key) race here, and every one
   * of them then reads the single winner.
   */
  async putIfAbsent(name: string, value: string): Promise<boolean> {
    checkName(name);
    if (typeof value !== 'string') throw new TypeError('a secret value is a string');
    const ciphertext = this.#ring.encrypt(value, ad(name));
    const inserted = await this.#db.run(
      `INSERT INTO secrets (name, ciphertext, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO NOTHING`,
      [name, ciphertext, this.#now()],
    );
    return inserted > 0;
  }

  /** The value, or undefined when there is no such secret; PCL_DECRYPT_FAILED when it does not decrypt. */
  async get(name: string): Promise<string | undefined> {
    checkName(name);
    const rows = await this.#db.query<{ ciphertext: unknown }>(
      'SELECT ciphertext FROM secrets WHERE name = $1',
      [name],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    try {
      const plaintext = await this.#ring.decrypt(String(row.ciphertext), ad(name));
      return plaintext.toString('utf8');
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      throw new CryptoError('PCL_DECRYPT_FAILED', `secret ${name}: ${err.message}`);
    }
  }

  /** Whether there was such a secret. */
  async delete(name: string): Promise<boolean> {
    checkName(name);
    return (await this.#db.run('DELETE FROM secrets WHERE name = $1', [name])) > 0;
  }

  /** The names, sorted; never the values. */
  async list(): Promise<string[]> {
    const rows = await this.#db.query<{ name: unknown }>('SELECT name FROM secrets');
    // Sorted here: PostgreSQL's collation and SQLite's byte order disagree.
    return rows.map((r) => String(r.name)).sort();
  }
}

function ad(name: string): { table: string; row: string; column: string } {
  return { table: 'secrets', row: name, column: 'ciphertext' };
}

function checkName(name: unknown): asserts name is string {
  // The name is not echoed: a value passed where the name belongs must not reach a log.
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new CryptoError(
      'PCL_SECRET_NAME_INVALID',
      'a secret name is 1 to 128 characters: letters, digits and _ . : / -, starting with a letter or digit',
    );
  }
}
