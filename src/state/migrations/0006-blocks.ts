import type { Migration } from '../migrate.js';

/**
 * Blocks: a client IP (or range), a consumer or a credential refused on every node until the
 * block expires or is removed (docs/blocks.md).
 *
 * - `block_changes`: one row, one counter, taken by every write in its own transaction and
 *   stamped on the rows it changes (`change_seq`), as `authn_changes` does for consumers: a
 *   gateway that read every change up to N asks for `change_seq > N` and never misses one.
 * - `subject`: the canonical form (`203.0.113.7`, `2001:db8::/32`, a consumer id, `fp:` and 12
 *   hex digits of a credential): never a secret.
 * - Nothing is deleted: a removed block keeps who removed it and when, for `blocks list --all`
 *   and so that every node's copy can follow removals by `change_seq` alone.
 */
const TABLES = `
    CREATE TABLE block_changes (
      id SMALLINT PRIMARY KEY CHECK (id = 1),
      seq BIGINT NOT NULL
    );
    INSERT INTO block_changes (id, seq) VALUES (1, 0);
    CREATE TABLE blocks (
      id TEXT PRIMARY KEY,
      subject_kind TEXT NOT NULL CHECK (subject_kind IN ('ip', 'consumer', 'credential')),
      subject TEXT NOT NULL,
      reason TEXT NOT NULL,
      actor TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NULL,
      removed_at BIGINT NULL,
      removed_by TEXT NULL,
      change_seq BIGINT NOT NULL
    );
    CREATE INDEX blocks_change_seq ON blocks (change_seq);
    CREATE INDEX blocks_subject ON blocks (subject_kind, subject);
  `;

export const BLOCKS: Migration = {
  id: '0006_blocks',
  sqlite: TABLES,
  postgres: TABLES,
};
