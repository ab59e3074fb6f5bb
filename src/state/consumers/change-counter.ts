import type { Db } from '../db.js';
import { StoreError } from '../store-error.js';

/**
 * The next change marker of consumers and API keys, taken inside the caller's transaction
 * (`tx`). The UPDATE locks the counter's one row until the transaction ends, so writers commit
 * in marker order: a reader that has seen every change up to N and asks for `change_seq > N`
 * can never miss a change committed later with a smaller marker.
 */
export async function nextChange(tx: Db): Promise<number> {
  const [row] = await tx.query<{ seq: unknown }>(
    'UPDATE authn_changes SET seq = seq + 1 WHERE id = 1 RETURNING seq',
  );
  if (row === undefined) {
    throw new StoreError(
      'PCL_STORE_QUERY_FAILED',
      'authn_changes has no row: the store was altered after migration 0004_consumers_and_api_keys',
    );
  }
  return Number(row.seq);
}
