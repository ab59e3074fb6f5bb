import type { Migration } from '../migrate.js';

/**
 * Incidents (docs/response.md): the detections about one subject within a window, grouped so
 * that a human reads one story, with its timeline and the actions proposed for approval.
 *
 * - `incidents`: one row per story; `subject` is canonical (an IP, a consumer id, a credential
 *   fingerprint, a route name), never a secret.
 * - `incident_entries`: the timeline, in `seq` order per incident: detections, actions,
 *   proposals and the decisions on them. `details` is a small JSON object of counts and ids.
 * - `incident_proposals`: an action a playbook in `propose` mode asked for; nothing happens until
 *   a human approves it with `portcullis incidents approve`.
 */
const TABLES = `
    CREATE TABLE incidents (
      id TEXT PRIMARY KEY,
      subject_kind TEXT NOT NULL,
      subject TEXT NOT NULL,
      severity TEXT NOT NULL,
      opened_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      detections INTEGER NOT NULL
    );
    CREATE INDEX incidents_subject ON incidents (subject_kind, subject, updated_at);
    CREATE INDEX incidents_updated ON incidents (updated_at);
    CREATE TABLE incident_entries (
      incident_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      time BIGINT NOT NULL,
      type TEXT NOT NULL,
      summary TEXT NOT NULL,
      details TEXT NOT NULL,
      PRIMARY KEY (incident_id, seq)
    );
    CREATE TABLE incident_proposals (
      id TEXT PRIMARY KEY,
      incident_id TEXT NOT NULL,
      playbook TEXT NOT NULL,
      action TEXT NOT NULL CHECK (action IN ('block')),
      subject_kind TEXT NOT NULL CHECK (subject_kind IN ('ip', 'consumer', 'credential')),
      subject TEXT NOT NULL,
      block_seconds INTEGER NOT NULL,
      reason TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
      created_at BIGINT NOT NULL,
      decided_at BIGINT NULL,
      decided_by TEXT NULL,
      block_id TEXT NULL
    );
    CREATE INDEX incident_proposals_incident ON incident_proposals (incident_id);
  `;

export const INCIDENTS: Migration = {
  id: '0007_incidents',
  sqlite: TABLES,
  postgres: TABLES,
};
