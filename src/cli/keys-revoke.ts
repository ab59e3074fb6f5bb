import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { announceRevocation } from '../state/consumers/change-announcements.js';
import { API_KEY_ID_PATTERN } from '../stages/authn/api-key/api-key-format.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';

/**
 * `portcullis keys revoke KEYID [--json]`: the key is refused from now on, for good
 * (`authn.api_key.revoked`). Stored first; then marked in cluster state, which every gateway
 * checks on each request and sees within a second (Redis); gateways without Redis read it from
 * the store within a second. Records `credential.revoke`. Revoking a revoked key changes nothing
 * and succeeds.
 */
export async function runKeysRevoke(
  keyId: string,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    if (!API_KEY_ID_PATTERN.test(keyId)) {
      throw new AdminError(
        'PCL_ADMIN_INVALID',
        'a key id is key_ and 12 letters or digits (portcullis keys list shows them); never pass the key itself',
      );
    }
    const result = await new ApiKeyStore(session.db, () => session.clock.now()).revoke(keyId);
    if (result === undefined) throw new AdminError('PCL_ADMIN_NOT_FOUND', `no key ${keyId}`);
    const { key, changed } = result;
    // Announced even when already revoked: a node that missed the first mark gets it now.
    await session.announce((cluster) => announceRevocation(cluster, key, session.clock.now()));
    await session.record({
      action: 'credential.revoke',
      target: `key:${key.id}`,
      details: { consumer: key.consumerId, fingerprint: key.fingerprint, changed },
    });
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify({ id: key.id, consumer: key.consumerId, fingerprint: key.fingerprint, revoked: true, changed })}\n`
        : `${key.id} (${key.fingerprint}, consumer ${key.consumerId}) ${changed ? 'revoked' : 'was already revoked'}\n`,
    );
  });
}
