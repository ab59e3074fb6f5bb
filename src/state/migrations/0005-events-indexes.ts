import type { Migration } from '../migrate.js';

/**
 * Drops `events_time`: every read of the events table now goes through `events_kind_time`
 * (the purge and an export of one kind directly, an export of every kind as one cursor per kind,
 * merged), so the plain (time) index only cost each insert its upkeep (measured at about a
 * tenth of the CPU of writing an event row on SQLite, and of its PostgreSQL server time).
 */
export const EVENTS_INDEXES: Migration = {
  id: '0005_events_indexes',
  sqlite: 'DROP INDEX events_time;',
  postgres: 'DROP INDEX events_time;',
};
