import type { ClusterState } from '../cluster/cluster-state.js';

/**
 * How a change to consumers or API keys reaches every running gateway at once, on top of the
 * store itself (which every gateway polls at least every 500 ms): a message that makes each
 * node read the store now, and, for a revoked key, a mirrored set every node checks on each
 * request, so that the revocation holds within one second even on a node whose store reads lag.
 */

/** Revoked key ids (public ids, not secrets), each until the key would have expired. */
export const REVOKED_API_KEYS_SET = 'authn.api-keys.revoked';
/** "Read the API keys from the store now." */
export const API_KEYS_CHANNEL = 'authn.api-keys';
/** "Read the consumers from the store now." */
export const CONSUMERS_CHANNEL = 'authn.consumers';

/** Tells every node that API keys changed in the store. */
export async function announceApiKeysChanged(cluster: ClusterState): Promise<void> {
  await cluster.publish(API_KEYS_CHANNEL, 'changed');
}

/** Tells every node that consumers changed in the store. */
export async function announceConsumersChanged(cluster: ClusterState): Promise<void> {
  await cluster.publish(CONSUMERS_CHANNEL, 'changed');
}

/**
 * Marks the key revoked on every node, until it would have expired anyway (for ever when it
 * never expires: the store keeps the revocation too, and a node restarting reads it there),
 * then tells every node to read the store.
 */
export async function announceRevocation(
  cluster: ClusterState,
  key: { readonly id: string; readonly expiresAt: number | undefined },
  now: number,
): Promise<void> {
  if (key.expiresAt === undefined) {
    await cluster.markSet(REVOKED_API_KEYS_SET, key.id);
  } else if (key.expiresAt > now) {
    await cluster.markSet(REVOKED_API_KEYS_SET, key.id, key.expiresAt - now);
  }
  await announceApiKeysChanged(cluster);
}
