import { AuditError } from '../state/audit/audit-error.js';
import { AuditLog } from '../state/audit/audit-log.js';
import { CryptoError } from '../state/crypto/crypto-error.js';
import { KeyRing } from '../state/crypto/key-ring.js';
import { SecretStore } from '../state/crypto/secrets.js';
import { adminEvent } from '../state/events/event.js';
import { insertEvents } from '../state/events/events-table.js';
import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import { StoreError } from '../state/store-error.js';
import {
  IDENTITY_KEY_REFRESH_MS,
  IdentityKeyError,
  previousKeyRetentionMs,
  rotateIdentitySigningKey,
} from '../stages/authn/identity-signing-key.js';
import { gatewayMasterKey } from './gateway-master-key.js';
import { loadConfigOrExit } from './load-config.js';

/**
 * `portcullis keys rotate-identity -c FILE`: a new key signs the identity tokens the upstream
 * receives; the old one stays in the JWKS for one token lifetime plus a margin, so tokens in
 * flight still verify. Running gateways switch within IDENTITY_KEY_REFRESH_MS. Recorded as an
 * admin event. Exit 0 once done, 1 with `CODE: message` when refused.
 */
export async function runRotateIdentity(configFile: string): Promise<void> {
  const { config, configDir } = loadConfigOrExit(configFile);
  try {
    const master = gatewayMasterKey(config, configDir);
    const db = openDb(config.state, configDir);
    try {
      await migrate(db, MIGRATIONS);
      const now = Date.now();
      const secrets = new SecretStore(db, await KeyRing.open(db, master));
      const ttl = config.authn.upstream.token.ttlSeconds;
      const rotation = await rotateIdentitySigningKey(secrets, now, previousKeyRetentionMs(ttl));
      const until = new Date(rotation.publishUntil).toISOString();
      const event = adminEvent(
        {
          action: 'authn.identity_key.rotate',
          decision: 'ok',
          actor: 'cli',
          details: {
            kid: rotation.kid,
            retired: rotation.retired ?? null,
            publishedUntil: until,
          },
        },
        now,
      );
      await insertEvents(db, [event]);
      await AuditLog.fromConfig(db, config.state, configDir).append(event);
      process.stdout.write(
        `identity tokens are now signed with key ${rotation.kid}\n` +
          (rotation.retired === undefined
            ? 'there was no key before it\n'
            : `the previous key ${rotation.retired} stays in the JWKS until ${until}\n`) +
          `running gateways switch within ${IDENTITY_KEY_REFRESH_MS / 1000} s; nothing to restart\n`,
      );
    } finally {
      await db.close().catch(() => undefined);
    }
    process.exitCode = 0;
  } catch (err) {
    if (
      !(err instanceof CryptoError) &&
      !(err instanceof StoreError) &&
      !(err instanceof AuditError) &&
      !(err instanceof IdentityKeyError)
    )
      throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  }
}
