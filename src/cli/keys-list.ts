import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { AdminSession } from './admin-session.js';
import { API_KEY_COLUMNS, apiKeyJson, apiKeyRow } from './api-key-json.js';
import { textTable } from './text-table.js';

/**
 * `portcullis keys list [--consumer ID] [--json]`: key ids, consumers, fingerprints and states,
 * oldest first. Never a key or its hash: neither is anywhere to be shown.
 */
export async function runKeysList(opts: {
  config: string;
  consumer?: string;
  json?: boolean;
}): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const now = session.clock.now();
    const keys = (await new ApiKeyStore(session.db).list(opts.consumer)).map((k) =>
      apiKeyJson(k, now),
    );
    await session.record({
      action: 'credential.list',
      target: opts.consumer === undefined ? 'keys' : `consumer:${opts.consumer}`,
      details: { count: keys.length },
    });
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify(keys)}\n`
        : textTable(API_KEY_COLUMNS, keys.map(apiKeyRow)),
    );
  });
}
