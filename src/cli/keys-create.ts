import { newApiKey } from '../state/consumers/new-api-key.js';
import { ApiKeyHmac } from '../state/consumers/api-key-hmac.js';
import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { announceApiKeysChanged } from '../state/consumers/change-announcements.js';
import { ConsumerStore } from '../state/consumers/consumer-store.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { apiKeyJson } from './api-key-json.js';

export interface KeysCreateOptions {
  readonly config: string;
  readonly consumer: string;
  /** Milliseconds from now; no expiry when left out. */
  readonly expiresIn?: number;
  readonly json?: boolean;
}

/**
 * `portcullis keys create --consumer ID [--expires-in 90d] [--json]`: issues a key for a
 * consumer of the config or the store. The key is printed once, alone on stdout (or as `key` in
 * the JSON), after it is stored and recorded; nothing ever shows it again: the store keeps only
 * its HMAC and fingerprint. Records `credential.create` with the key id and fingerprint.
 */
export async function runKeysCreate(opts: KeysCreateOptions): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const id = opts.consumer;
    const declared = session.config.consumers.find((c) => c.id === id);
    const consumer = declared ?? (await new ConsumerStore(session.db).get(id));
    if (consumer === undefined) {
      throw new AdminError(
        'PCL_ADMIN_NOT_FOUND',
        `no consumer ${id} in the config or the store: add it first (portcullis consumers add)`,
      );
    }
    const now = session.clock.now();
    const hmac = await ApiKeyHmac.load(session.db, await session.keyRing(), () => now);
    const { key, row } = newApiKey(
      hmac,
      id,
      session.config.authn.apiKeys.environment,
      opts.expiresIn === undefined ? undefined : now + opts.expiresIn,
    );
    const stored = await new ApiKeyStore(session.db, () => now).create(row);
    await session.record({
      action: 'credential.create',
      target: `consumer:${id}`,
      details: {
        keyId: stored.id,
        fingerprint: stored.fingerprint,
        expiresAt: stored.expiresAt ?? null,
      },
    });
    await session.announce(announceApiKeysChanged);
    if (consumer.disabled)
      session.warn(`consumer ${id} is disabled: the key is refused until it is enabled`);
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify({ ...apiKeyJson(stored, now), key })}\n`);
      return;
    }
    process.stderr.write(
      `created ${stored.id} for consumer ${id} (${stored.fingerprint}, expires ${stored.expiresAt === undefined ? 'never' : new Date(stored.expiresAt).toISOString()}); the key follows, shown this once only\n`,
    );
    process.stdout.write(`${key}\n`);
  });
}
