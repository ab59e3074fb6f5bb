import { ConsumerStore } from '../state/consumers/consumer-store.js';
import { AdminSession } from './admin-session.js';
import { consumerJson, type ConsumerJson } from './consumer-json.js';
import { textTable } from './text-table.js';

/**
 * `portcullis consumers list [--json]`: every consumer, of the config file and of the store,
 * sorted by id. A store consumer with the id of a config consumer is not listed: the config's
 * wins (`consumers show` tells about both).
 */
export async function runConsumersList(opts: { config: string; json?: boolean }): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const fromConfig = session.config.consumers.map((c) => consumerJson(c, 'config'));
    const configIds = new Set(fromConfig.map((c) => c.id));
    const fromStore = (await new ConsumerStore(session.db).list())
      .filter((c) => !configIds.has(c.id))
      .map((c) => consumerJson(c, 'store'));
    const all: ConsumerJson[] = [...fromConfig, ...fromStore].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    await session.record({
      action: 'consumer.list',
      target: 'consumers',
      details: { count: all.length },
    });
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify(all)}\n`);
      return;
    }
    process.stdout.write(
      textTable(
        ['ID', 'SOURCE', 'STATE', 'SCOPES', 'ROLES', 'NAME'],
        all.map((c) => [
          c.id,
          c.source,
          c.disabled ? 'disabled' : 'enabled',
          c.scopes.join(',') || '-',
          c.roles.join(',') || '-',
          c.name ?? '',
        ]),
      ),
    );
  });
}
