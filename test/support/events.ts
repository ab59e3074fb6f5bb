import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventsConfig } from '../../src/state/events/event-writer.js';
import type { TestDatabase } from './databases.js';

/** `state.events` with its defaults spelled out; a test overrides what it is about. */
export function eventsConfig(overrides: Partial<EventsConfig> = {}): EventsConfig {
  return {
    queueSize: 10_000,
    batchSize: 500,
    flushIntervalMs: 50,
    onWriteFailure: 'alarm',
    recordRequests: true,
    retention: { requestDays: 7, securityDays: 365, adminDays: 0 },
    ...overrides,
  };
}

/** Waits until `check` holds, polling every 20 ms; throws after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What a test adds to the minimal config of `storeConfigFile`. */
export interface StoreConfigExtras {
  /** The one route's `auth` (default: public). */
  readonly auth?: Record<string, unknown>;
  /** More top-level sections: `authn`, `consumers`... */
  readonly sections?: Record<string, unknown>;
  /** More of `state` beside the store: `cluster`... */
  readonly state?: Record<string, unknown>;
}

/** A minimal valid config whose store is the test database, for the CLI commands on it. */
export function storeConfigFile(
  database: TestDatabase,
  dir: string,
  extras: StoreConfigExtras = {},
): string {
  const file = join(dir, 'portcullis.yaml');
  // JSON is YAML: no quoting rules to get wrong for the URL.
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      upstreams: { api: { targets: ['http://127.0.0.1:9'] } },
      routes: [
        {
          name: 'r',
          paths: ['/r'],
          methods: ['GET'],
          upstream: 'api',
          auth: extras.auth ?? { public: true },
        },
      ],
      ...extras.sections,
      state: { store: database.storeConfig, ...extras.state },
    }),
  );
  return file;
}
