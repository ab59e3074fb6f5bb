import type { Db } from './db.js';
import { StoreError } from './store-error.js';

/**
 * The one-row counters that order the writes of a table every gateway follows: `authn_changes`
 * (consumers and API keys, migration 0004) and `block_changes` (blocks, migration 0006).
 */
const COUNTERS = {
  authn_changes: '0004_consumers_and_api_keys',
  block_changes: '0006_blocks',
} as const;

export type ChangeCounter = keyof typeof COUNTERS;

/**
 * The next change marker of `counter`, taken inside the caller's transaction (`tx`). The UPDATE
 * locks the counter's one row until the transaction ends, so writers commit in marker order: a
 * reader that has seen every change up to N and asks for `change_seq > N` can never miss a
 * change committed later with a smaller marker.
 */
export async function nextChange(tx: Db, counter: ChangeCounter): Promise<number> {
  const [row] = await tx.query<{ seq: unknown }>(
    `UPDATE ${counter} SET seq = seq + 1 WHERE id = 1 RETURNING seq`,
  );
  if (row === undefined) {
    throw new StoreError(
      'PCL_STORE_QUERY_FAILED',
      `${counter} has no row: the store was altered after migration ${COUNTERS[counter]}`,
    );
  }
  return Number(row.seq);
}
