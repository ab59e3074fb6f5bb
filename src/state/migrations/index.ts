import type { Migration } from '../migrate.js';
import { EVENTS } from './0001-events.js';
import { AUDIT_MIGRATION } from './0002-audit.js';
import { KEYS_AND_SECRETS } from './0003-keys-and-secrets.js';
import { CONSUMERS_AND_API_KEYS } from './0004-consumers.js';
import { EVENTS_INDEXES } from './0005-events-indexes.js';
import { BLOCKS } from './0006-blocks.js';
import { INCIDENTS } from './0007-incidents.js';
import { RESPONSE_ACTIONS } from './0008-response-actions.js';

/**
 * Every schema change of the store, in the order it applies. Each module owns its migration
 * file; a released migration is never edited, only followed by a new one.
 */
export const MIGRATIONS: readonly Migration[] = [
  EVENTS,
  AUDIT_MIGRATION,
  KEYS_AND_SECRETS,
  CONSUMERS_AND_API_KEYS,
  EVENTS_INDEXES,
  BLOCKS,
  INCIDENTS,
  RESPONSE_ACTIONS,
];
