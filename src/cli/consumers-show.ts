import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { ConsumerStore } from '../state/consumers/consumer-store.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { API_KEY_COLUMNS, apiKeyJson, apiKeyRow } from './api-key-json.js';
import { consumerJson } from './consumer-json.js';
import { printable, textTable } from './text-table.js';

/**
 * `portcullis consumers show ID [--json]`: the consumer as authentication sees it (the config
 * file's when it declares the id, the store's otherwise) and its API keys (ids, fingerprints and
 * states; never a key or its hash).
 */
export async function runConsumersShow(
  id: string,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const declared = session.config.consumers.find((c) => c.id === id);
    const stored = await new ConsumerStore(session.db).get(id);
    const effective =
      declared !== undefined
        ? consumerJson(declared, 'config')
        : stored === undefined
          ? undefined
          : consumerJson(stored, 'store');
    if (effective === undefined) {
      throw new AdminError('PCL_ADMIN_NOT_FOUND', `no consumer ${id} in the config or the store`);
    }
    const now = session.clock.now();
    const keys = (await new ApiKeyStore(session.db).list(id)).map((k) => apiKeyJson(k, now));
    await session.record({ action: 'consumer.show', target: `consumer:${id}` });
    const shadowed = declared !== undefined && stored !== undefined;
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify({ ...effective, shadowsStore: shadowed, keys })}\n`);
      return;
    }
    const lines = [
      `id:        ${effective.id}`,
      `source:    ${effective.source}${shadowed ? ' (a store consumer with this id is ignored: the config wins)' : ''}`,
      `name:      ${effective.name ?? '-'}`,
      `state:     ${effective.disabled ? 'disabled' : 'enabled'}`,
      `scopes:    ${effective.scopes.join(' ') || '-'}`,
      `roles:     ${effective.roles.join(' ') || '-'}`,
      ...Object.entries(effective.metadata).map(([k, v]) => `metadata:  ${k}=${v}`),
    ];
    process.stdout.write(
      `${lines.map(printable).join('\n')}\n` +
        (keys.length === 0
          ? 'keys:      none\n'
          : `\n${textTable(API_KEY_COLUMNS, keys.map(apiKeyRow))}`),
    );
  });
}
