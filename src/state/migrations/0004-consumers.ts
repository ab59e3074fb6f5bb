import type { Migration } from '../migrate.js';

/**
 * Consumers kept in the store (beside those of the config file) and their API keys.
 *
 * - `authn_changes`: one row, one counter. Every write to `consumers` or `api_keys` takes the
 *   next value in its own transaction and stamps the rows it changes with it (`change_seq`).
 *   The row lock the increment takes makes writers commit in counter order, so a gateway that
 *   read every change up to N and then asks for `change_seq > N` never misses one (a plain
 *   sequence would hand out numbers in start order and let a slow transaction commit late).
 * - `api_keys.hash`: HMAC-SHA-256 (lowercase hex) of the key under the server key in the secret
 *   store (`authn/api-key-hmac`). The key itself is never stored. `fingerprint` is the `fp:`
 *   form events carry. `consumer_id` has no foreign key: a key may belong to a consumer
 *   declared in the config file.
 * - Rotation: the new key names its predecessor (`rotated_from`); the predecessor keeps working
 *   until `rotated_until`, the end of the overlap.
 * - Nothing is deleted: consumers are disabled, keys revoked, so every node's copy can follow
 *   the changes by `change_seq` alone.
 */
// The same SQL on both backends: plain types only, hashes as hex text.
const TABLES = `
    CREATE TABLE authn_changes (
      id SMALLINT PRIMARY KEY CHECK (id = 1),
      seq BIGINT NOT NULL
    );
    INSERT INTO authn_changes (id, seq) VALUES (1, 0);
    CREATE TABLE consumers (
      id TEXT PRIMARY KEY,
      name TEXT NULL,
      scopes TEXT NOT NULL,
      roles TEXT NOT NULL,
      metadata TEXT NOT NULL,
      disabled SMALLINT NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      change_seq BIGINT NOT NULL
    );
    CREATE INDEX consumers_change_seq ON consumers (change_seq);
    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      consumer_id TEXT NOT NULL,
      hash TEXT NOT NULL UNIQUE,
      fingerprint TEXT NOT NULL,
      environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
      created_at BIGINT NOT NULL,
      expires_at BIGINT NULL,
      revoked_at BIGINT NULL,
      rotated_from TEXT NULL,
      rotated_until BIGINT NULL,
      change_seq BIGINT NOT NULL
    );
    CREATE INDEX api_keys_consumer ON api_keys (consumer_id);
    CREATE INDEX api_keys_change_seq ON api_keys (change_seq);
  `;

export const CONSUMERS_AND_API_KEYS: Migration = {
  id: '0004_consumers_and_api_keys',
  sqlite: TABLES,
  postgres: TABLES,
};
