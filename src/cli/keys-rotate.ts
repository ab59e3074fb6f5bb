import { newApiKey } from '../state/consumers/new-api-key.js';
import { ApiKeyHmac } from '../state/consumers/api-key-hmac.js';
import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { announceApiKeysChanged } from '../state/consumers/change-announcements.js';
import { API_KEY_ID_PATTERN } from '../stages/authn/api-key/api-key-format.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { apiKeyJson } from './api-key-json.js';

export interface KeysRotateOptions {
  readonly config: string;
  /** Milliseconds the old key keeps working; authn.apiKeys.rotationOverlapSeconds by default. */
  readonly overlap?: number;
  /** The new key's lifetime; by default the old key's (none when it had none). */
  readonly expiresIn?: number;
  readonly json?: boolean;
}

/**
 * `portcullis keys rotate KEYID [--overlap 24h] [--expires-in 90d] [--json]`: issues a
 * successor for the same consumer, printed once like `keys create`; the old key keeps working
 * until the overlap ends (`authn.api_key.rotated` after), so clients can switch without an
 * outage. Only a key in force can be rotated. Records `credential.rotate`.
 */
export async function runKeysRotate(keyId: string, opts: KeysRotateOptions): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    if (!API_KEY_ID_PATTERN.test(keyId)) {
      throw new AdminError(
        'PCL_ADMIN_INVALID',
        'a key id is key_ and 12 letters or digits (portcullis keys list shows them); never pass the key itself',
      );
    }
    const now = session.clock.now();
    const store = new ApiKeyStore(session.db, () => now);
    const old = await store.get(keyId);
    if (old === undefined) throw new AdminError('PCL_ADMIN_NOT_FOUND', `no key ${keyId}`);
    const overlapMs = opts.overlap ?? session.config.authn.apiKeys.rotationOverlapSeconds * 1000;
    const expiresAt =
      opts.expiresIn !== undefined
        ? now + opts.expiresIn
        : old.expiresAt === undefined
          ? undefined
          : now + (old.expiresAt - old.createdAt);
    const hmac = await ApiKeyHmac.load(session.db, await session.keyRing(), () => now);
    const environment = session.config.authn.apiKeys.environment;
    const { key, row } = newApiKey(hmac, old.consumerId, environment, expiresAt);
    const result = await store.rotate(keyId, row, now + overlapMs);
    if (result.outcome === 'missing')
      throw new AdminError('PCL_ADMIN_NOT_FOUND', `no key ${keyId}`);
    if (result.outcome !== 'ok') {
      const successor = (await store.list(old.consumerId)).find((k) => k.rotatedFrom === keyId);
      const why = {
        revoked: 'it is revoked: create a new key instead (portcullis keys create)',
        expired: 'it has expired: create a new key instead (portcullis keys create)',
        rotated: `it was already rotated${successor === undefined ? '' : `: rotate its successor ${successor.id}`}`,
      }[result.outcome];
      throw new AdminError('PCL_ADMIN_CONFLICT', `key ${keyId} cannot be rotated: ${why}`);
    }
    const { previous, next } = result;
    await session.record({
      action: 'credential.rotate',
      target: `key:${previous.id}`,
      details: {
        consumer: previous.consumerId,
        previousFingerprint: previous.fingerprint,
        keyId: next.id,
        fingerprint: next.fingerprint,
        overlapUntil: previous.rotatedUntil ?? null,
        expiresAt: next.expiresAt ?? null,
      },
    });
    await session.announce(announceApiKeysChanged);
    const until = new Date(now + overlapMs).toISOString();
    if (opts.json === true) {
      process.stdout.write(
        `${JSON.stringify({ ...apiKeyJson(next, now), key, previous: apiKeyJson(previous, now) })}\n`,
      );
      return;
    }
    process.stderr.write(
      `rotated ${previous.id} to ${next.id} for consumer ${next.consumerId} (${next.fingerprint}); ${previous.id} keeps working until ${until}. The new key follows, shown this once only\n`,
    );
    process.stdout.write(`${key}\n`);
  });
}
