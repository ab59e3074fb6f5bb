import type { Migration } from '../migrate.js';

/**
 * Every schema change of the store, in the order it applies. Each module owns its migration
 * file; a released migration is never edited, only followed by a new one.
 */
export const MIGRATIONS: readonly Migration[] = [];
