import type { Migration } from '../migrate.js';

/**
 * Encryption at rest: the data keys, each wrapped under a master key that is never stored, and
 * the named secrets encrypted under them (`pcl1.<keyId>.<iv>.<ciphertext>`; docs/security.md).
 */
export const KEYS_AND_SECRETS: Migration = {
  id: '0003_keys_and_secrets',
  sqlite: `
    CREATE TABLE data_keys (
      id TEXT PRIMARY KEY,
      wrapped BLOB NOT NULL,
      master_key_id TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      retired_at BIGINT NULL
    );
    CREATE TABLE secrets (
      name TEXT PRIMARY KEY,
      ciphertext TEXT NOT NULL,
      updated_at BIGINT NOT NULL
    );
  `,
  postgres: `
    CREATE TABLE data_keys (
      id TEXT PRIMARY KEY,
      wrapped BYTEA NOT NULL,
      master_key_id TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      retired_at BIGINT NULL
    );
    CREATE TABLE secrets (
      name TEXT PRIMARY KEY,
      ciphertext TEXT NOT NULL,
      updated_at BIGINT NOT NULL
    );
  `,
};
