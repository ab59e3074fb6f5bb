import type { Migration } from '../migrate.js';

/**
 * The response actions beyond `block` (docs/response.md): throttles, revocations, and the audit
 * entry of every block's expiry.
 *
 * - `blocks.action`: `block` (refused with 403) or `throttle` (held to `throttle_limit` requests
 *   per `throttle_window_seconds`, refused beyond with 429). A throttle is a block of another
 *   kind: it reaches every node, expires and is removed exactly like one.
 * - `blocks.incident_id`: the incident whose playbook (or approved proposal) made it, so that its
 *   expiry joins that incident's timeline.
 * - `blocks.expiry_recorded_at`: when a node claimed the block's expiry to record it. The claim
 *   is one `UPDATE ... WHERE expiry_recorded_at IS NULL ... RETURNING`: whichever node runs it
 *   first records the expiry, every other node's update finds nothing, so an expiry is recorded
 *   exactly once. The partial index keeps the sweep's lookup to the blocks still to report.
 *   Blocks that expired before this migration are reported too, once, at the first sweeps
 *   after it (500 a second; the event's `details.expiresAt` says when each one ended).
 * - `api_keys_fingerprint`: a `revoke` names a key by its fingerprint, as detections do.
 * - `incident_proposals`: `action` may now be `throttle` or `revoke`, with the throttle's rate.
 *   SQLite cannot change a CHECK constraint, so its table is rebuilt with the same rows.
 */
const BLOCK_COLUMNS = `
    ALTER TABLE blocks ADD COLUMN action TEXT NOT NULL DEFAULT 'block'
      CHECK (action IN ('block', 'throttle'));
    ALTER TABLE blocks ADD COLUMN throttle_limit INTEGER NULL;
    ALTER TABLE blocks ADD COLUMN throttle_window_seconds INTEGER NULL;
    ALTER TABLE blocks ADD COLUMN incident_id TEXT NULL;
    ALTER TABLE blocks ADD COLUMN expiry_recorded_at BIGINT NULL;
    CREATE INDEX blocks_expiry_unrecorded ON blocks (expires_at)
      WHERE expiry_recorded_at IS NULL AND removed_at IS NULL AND expires_at IS NOT NULL;
    CREATE INDEX api_keys_fingerprint ON api_keys (fingerprint);
  `;

const PROPOSAL_COLUMNS =
  'id, incident_id, playbook, action, subject_kind, subject, block_seconds, reason, status, created_at, decided_at, decided_by, block_id';

const SQLITE = `${BLOCK_COLUMNS}
    CREATE TABLE incident_proposals_0008 (
      id TEXT PRIMARY KEY,
      incident_id TEXT NOT NULL,
      playbook TEXT NOT NULL,
      action TEXT NOT NULL CHECK (action IN ('block', 'throttle', 'revoke')),
      subject_kind TEXT NOT NULL CHECK (subject_kind IN ('ip', 'consumer', 'credential')),
      subject TEXT NOT NULL,
      block_seconds INTEGER NOT NULL,
      reason TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
      created_at BIGINT NOT NULL,
      decided_at BIGINT NULL,
      decided_by TEXT NULL,
      block_id TEXT NULL,
      throttle_limit INTEGER NULL,
      throttle_window_seconds INTEGER NULL
    );
    INSERT INTO incident_proposals_0008 (${PROPOSAL_COLUMNS})
      SELECT ${PROPOSAL_COLUMNS} FROM incident_proposals;
    DROP TABLE incident_proposals;
    ALTER TABLE incident_proposals_0008 RENAME TO incident_proposals;
    CREATE INDEX incident_proposals_incident ON incident_proposals (incident_id);
  `;

const POSTGRES = `${BLOCK_COLUMNS}
    ALTER TABLE incident_proposals DROP CONSTRAINT incident_proposals_action_check;
    ALTER TABLE incident_proposals ADD CONSTRAINT incident_proposals_action_check
      CHECK (action IN ('block', 'throttle', 'revoke'));
    ALTER TABLE incident_proposals ADD COLUMN throttle_limit INTEGER NULL;
    ALTER TABLE incident_proposals ADD COLUMN throttle_window_seconds INTEGER NULL;
  `;

export const RESPONSE_ACTIONS: Migration = {
  id: '0008_response_actions',
  sqlite: SQLITE,
  postgres: POSTGRES,
};
