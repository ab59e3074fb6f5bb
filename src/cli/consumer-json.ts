import type { ConsumerConfig } from '../config/authn-schema.js';
import type { StoredConsumer } from '../state/consumers/consumer-store.js';

/** How the consumer commands print a consumer with `--json`: stable field names. */
export interface ConsumerJson {
  readonly id: string;
  readonly source: 'config' | 'store';
  readonly name: string | null;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly disabled: boolean;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

export function consumerJson(
  c: StoredConsumer | ConsumerConfig,
  source: 'config' | 'store',
): ConsumerJson {
  const stored = 'createdAt' in c ? c : undefined;
  return {
    id: c.id,
    source,
    name: c.name ?? null,
    scopes: c.scopes,
    roles: c.roles,
    metadata: c.metadata,
    disabled: c.disabled,
    createdAt: stored === undefined ? null : new Date(stored.createdAt).toISOString(),
    updatedAt: stored === undefined ? null : new Date(stored.updatedAt).toISOString(),
  };
}
