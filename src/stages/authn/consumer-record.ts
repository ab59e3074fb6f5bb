import type { ConsumerFields } from '../../state/consumers/consumer-fields.js';
import type { ConsumerRecord } from './authenticator.js';

/**
 * The record authentication looks up for a consumer of the config or the store: frozen, so that
 * every request it is shared with sees the same one.
 */
export function consumerRecord(
  c: ConsumerFields & { readonly disabled: boolean },
  source: ConsumerRecord['source'],
): ConsumerRecord {
  return Object.freeze({
    id: c.id,
    name: c.name,
    scopes: Object.freeze([...c.scopes]),
    roles: Object.freeze([...c.roles]),
    metadata: Object.freeze({ ...c.metadata }),
    disabled: c.disabled,
    source,
  });
}
