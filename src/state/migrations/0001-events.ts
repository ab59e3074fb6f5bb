import type { Migration } from '../migrate.js';

/**
 * The events table: request, security and admin events, written in batches by the event
 * pipeline (src/state/events/). `count` is 1 for an event, more for a row of folded request
 * events; `details` is a small JSON object. Two indexes, both appended to in time order (cheap
 * to keep up at full load): (time) for the export, (kind, time) for the purge and an export of
 * one kind. No index on request_id: a random key costs every insert; add one if a reader needs it.
 */
export const EVENTS: Migration = {
  id: '0001_events',
  sqlite: `
    CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      time BIGINT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('request', 'security', 'admin')),
      action TEXT NOT NULL,
      decision TEXT NOT NULL,
      reason TEXT,
      request_id TEXT,
      route TEXT,
      method TEXT,
      path TEXT,
      status INTEGER,
      client_ip TEXT,
      consumer TEXT,
      stage TEXT,
      count INTEGER NOT NULL DEFAULT 1,
      details TEXT
    );
    CREATE INDEX events_time ON events (time);
    CREATE INDEX events_kind_time ON events (kind, time);
  `,
  postgres: `
    CREATE TABLE events (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      time BIGINT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('request', 'security', 'admin')),
      action TEXT NOT NULL,
      decision TEXT NOT NULL,
      reason TEXT,
      request_id TEXT,
      route TEXT,
      method TEXT,
      path TEXT,
      status INTEGER,
      client_ip TEXT,
      consumer TEXT,
      stage TEXT,
      count INTEGER NOT NULL DEFAULT 1,
      details TEXT
    );
    CREATE INDEX events_time ON events (time);
    CREATE INDEX events_kind_time ON events (kind, time);
  `,
};
