import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerConfig } from '../../../src/config/authn-schema.js';
import { MemoryClusterState } from '../../../src/state/cluster/memory-cluster-state.js';
import { announceConsumersChanged } from '../../../src/state/consumers/change-announcements.js';
import { ConsumerStore } from '../../../src/state/consumers/consumer-store.js';
import { migrate } from '../../../src/state/migrate.js';
import { MIGRATIONS } from '../../../src/state/migrations/index.js';
import { ConsumerDirectory } from '../../../src/stages/authn/consumer-directory.js';
import { BACKENDS, useTestDatabase } from '../../support/databases.js';
import { eventually } from '../../support/events.js';

/** Consumers of the config and of the store, as authentication looks them up. */

const silent = pino({ level: 'silent' });

function configConsumer(id: string, over: Partial<ConsumerConfig> = {}): ConsumerConfig {
  return {
    id,
    scopes: [],
    roles: [],
    metadata: {},
    disabled: false,
    mtls: { subjects: [], sans: [] },
    ...over,
  };
}

describe.each(BACKENDS)('the consumer directory on %s', (backend) => {
  const t = useTestDatabase(backend);
  const cluster = new MemoryClusterState({
    clock: { now: Date.now, monotonic: () => 0 },
    log: silent,
  });
  let directory: ConsumerDirectory;
  let consumers: ConsumerStore;

  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
    consumers = new ConsumerStore(t.db);
    await consumers.create({
      id: 'acme',
      name: 'Acme',
      scopes: ['orders:read'],
      roles: ['partner'],
      metadata: { tenant: 't-9' },
    });
    await consumers.create({ id: 'shared', scopes: ['store-scope'], roles: [], metadata: {} });
    directory = await ConsumerDirectory.open({
      db: t.db,
      cluster,
      log: silent,
      pollIntervalMs: 60_000,
    });
  });
  afterAll(async () => {
    await directory.close();
    await cluster.close();
  });

  it('answers store consumers and config consumers from memory', () => {
    const lookup = directory.withConfig([configConsumer('cfg', { name: 'From config' })]);
    expect(lookup.get('acme')).toEqual({
      id: 'acme',
      name: 'Acme',
      scopes: ['orders:read'],
      roles: ['partner'],
      metadata: { tenant: 't-9' },
      disabled: false,
      source: 'store',
    });
    expect(lookup.get('cfg')).toMatchObject({ id: 'cfg', name: 'From config', source: 'config' });
    expect(lookup.get('nobody')).toBeUndefined();
  });

  it('lets a config consumer win over a store consumer with the same id', () => {
    const lookup = directory.withConfig([
      configConsumer('shared', { scopes: ['config-scope'], disabled: true }),
    ]);
    expect(lookup.get('shared')).toMatchObject({
      scopes: ['config-scope'],
      disabled: true,
      source: 'config',
    });
    expect(directory.storeConsumer('shared')?.scopes).toEqual(['store-scope']);
  });

  it('gives each config generation its own view: a reload replaces the config consumers', () => {
    const before = directory.withConfig([configConsumer('old')]);
    const after = directory.withConfig([configConsumer('new')]);
    expect(before.get('old')).toBeDefined();
    expect(before.get('new')).toBeUndefined();
    expect(after.get('old')).toBeUndefined();
    expect(after.get('new')).toBeDefined();
  });

  it('sees a consumer disabled in the store once the change is announced', async () => {
    const lookup = directory.withConfig([]);
    expect(lookup.get('acme')?.disabled).toBe(false);
    await consumers.setDisabled('acme', true);
    await announceConsumersChanged(cluster);
    await eventually(() => lookup.get('acme')?.disabled === true, 1000);
    await consumers.setDisabled('acme', false);
    await directory.refresh();
    expect(lookup.get('acme')?.disabled).toBe(false);
  });

  it('sees a consumer added to the store, and hands out records that cannot be changed', async () => {
    await consumers.create({ id: 'late', scopes: ['a'], roles: [], metadata: {} });
    await directory.refresh();
    const record = directory.withConfig([]).get('late');
    expect(record?.scopes).toEqual(['a']);
    expect(Object.isFrozen(record)).toBe(true);
    expect(Object.isFrozen(record?.scopes)).toBe(true);
  });
});
