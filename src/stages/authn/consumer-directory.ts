import type { Logger } from 'pino';
import type { ConsumerConfig } from '../../config/authn-schema.js';
import type { ClusterState } from '../../state/cluster/cluster-state.js';
import { CONSUMERS_CHANNEL } from '../../state/consumers/change-announcements.js';
import { ConsumerStore } from '../../state/consumers/consumer-store.js';
import type { Db } from '../../state/db.js';
import type { ConsumerLookup, ConsumerRecord } from './authenticator.js';
import { consumerRecord } from './consumer-record.js';
import { StoreFollower } from '../../state/store-follower.js';

export interface ConsumerDirectoryDeps {
  readonly db: Db;
  readonly cluster: ClusterState;
  readonly log: Logger;
  /** The longest time between two reads of the store (default 500 ms). */
  readonly pollIntervalMs?: number;
}

const PAGE = 1000;

/**
 * The consumers of one config generation: those the config declares, then those of the store.
 * A config consumer wins over a store consumer with the same id: the file an operator reviews
 * and versions says who that consumer is (and whether it is disabled), whatever the store says.
 */
class ConfiguredConsumers implements ConsumerLookup {
  readonly #config: ReadonlyMap<string, ConsumerRecord>;
  readonly #directory: ConsumerDirectory;

  constructor(config: readonly ConsumerConfig[], directory: ConsumerDirectory) {
    this.#config = new Map(config.map((c) => [c.id, consumerRecord(c, 'config')]));
    this.#directory = directory;
  }

  get(id: string): ConsumerRecord | undefined {
    return this.#config.get(id) ?? this.#directory.storeConsumer(id);
  }
}

/**
 * Every consumer kept in the store, in memory and kept in sync with it (a read at least every
 * 500 ms, and at once when the CLI or another node announces a change), so that a lookup never
 * waits on the store. Opened once at gateway start; each config generation gets its view with
 * `withConfig`.
 */
export class ConsumerDirectory {
  readonly #store = new Map<string, ConsumerRecord>();
  #seen = 0;
  #follower: StoreFollower | undefined;

  private constructor() {}

  /** Loads every store consumer and starts following the store; rejects when it cannot read it. */
  static async open(deps: ConsumerDirectoryDeps): Promise<ConsumerDirectory> {
    const directory = new ConsumerDirectory();
    const store = new ConsumerStore(deps.db);
    directory.#follower = await StoreFollower.start({
      name: 'consumers',
      pull: () => directory.#pull(store),
      cluster: deps.cluster,
      channel: CONSUMERS_CHANNEL,
      intervalMs: deps.pollIntervalMs ?? 500,
      log: deps.log,
    });
    return directory;
  }

  async #pull(store: ConsumerStore): Promise<void> {
    for (;;) {
      const rows = await store.changedSince(this.#seen, PAGE);
      for (const row of rows) {
        this.#store.set(row.id, consumerRecord(row, 'store'));
        this.#seen = row.changeSeq;
      }
      if (rows.length < PAGE) return;
    }
  }

  /**
   * The lookup of one config generation (synchronous: call it when building that generation):
   * `consumers` (config.consumers) first, then the store's.
   */
  withConfig(consumers: readonly ConsumerConfig[]): ConsumerLookup {
    return new ConfiguredConsumers(consumers, this);
  }

  /** A consumer of the store only (ignoring the config). */
  storeConsumer(id: string): ConsumerRecord | undefined {
    return this.#store.get(id);
  }

  /** Reads the store now; resolves once this node's copy has every change made before. */
  refresh(): Promise<void> {
    return this.#follower?.refresh() ?? Promise.resolve();
  }

  /** Stops following the store; the copy keeps answering. */
  async close(): Promise<void> {
    await this.#follower?.close();
  }
}
