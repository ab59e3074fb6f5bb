import { announceConsumersChanged } from '../state/consumers/change-announcements.js';
import { consumerFieldsProblem, type ConsumerFields } from '../state/consumers/consumer-fields.js';
import { ConsumerStore } from '../state/consumers/consumer-store.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';
import { consumerJson } from './consumer-json.js';

export interface ConsumersAddOptions {
  readonly config: string;
  readonly name?: string;
  readonly scope: readonly string[];
  readonly role: readonly string[];
  readonly metadata: readonly string[];
  readonly json?: boolean;
}

/** `key=value` pairs; a key given twice is refused rather than silently overwritten. */
function metadataOf(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new AdminError('PCL_ADMIN_INVALID', '--metadata takes key=value');
    const key = pair.slice(0, eq);
    if (Object.hasOwn(out, key)) {
      throw new AdminError('PCL_ADMIN_INVALID', `--metadata ${key} is given twice`);
    }
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

/**
 * `portcullis consumers add ID [--name N] [--scope S]... [--role R]... [--metadata k=v]...`:
 * stores a new consumer, records `consumer.create`, and tells running gateways. Refused when
 * the id is taken in the store or declared in the config file (whose consumer would win).
 */
export async function runConsumersAdd(id: string, opts: ConsumersAddOptions): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const fields: ConsumerFields = {
      id,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      scopes: opts.scope,
      roles: opts.role,
      metadata: metadataOf(opts.metadata),
    };
    const problem = consumerFieldsProblem(fields);
    if (problem !== undefined) throw new AdminError('PCL_ADMIN_INVALID', problem);
    if (session.config.consumers.some((c) => c.id === id)) {
      throw new AdminError(
        'PCL_ADMIN_CONFLICT',
        `consumer ${id} is declared in the config file, which wins over the store: edit the file instead`,
      );
    }
    const created = await new ConsumerStore(session.db, () => session.clock.now()).create(fields);
    if (created === undefined) {
      throw new AdminError('PCL_ADMIN_CONFLICT', `consumer ${id} already exists`);
    }
    await session.record({
      action: 'consumer.create',
      target: `consumer:${id}`,
      details: { scopes: created.scopes.length, roles: created.roles.length },
    });
    await session.announce(announceConsumersChanged);
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify(consumerJson(created, 'store'))}\n`
        : `consumer ${id} created\n`,
    );
  });
}
