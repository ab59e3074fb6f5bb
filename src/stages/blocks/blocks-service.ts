import type { Logger } from 'pino';
import type { Clock } from '../../gateway/stage.js';
import { BlockStore } from '../../state/blocks/block-store.js';
import type { ClusterState } from '../../state/cluster/cluster-state.js';
import type { Db } from '../../state/db.js';
import { StoreFollower } from '../../state/store-follower.js';
import { ActiveThrottles } from '../throttles/active-throttles.js';
import { ActiveBlocks } from './active-blocks.js';

/** "Read the blocks from the store now": sent by whoever adds or removes one. */
export const BLOCKS_CHANNEL = 'blocks';

/** Tells every node that blocks changed in the store. */
export async function announceBlocksChanged(cluster: ClusterState): Promise<void> {
  await cluster.publish(BLOCKS_CHANNEL, 'changed');
}

/** A pull reads at most this many changed blocks at a time, until it has read them all. */
const PAGE = 1000;
/** The longest a node goes without reading the store: a block holds everywhere within it. */
const FOLLOW_EVERY_MS = 500;

/**
 * This node's copy of the blocks in the store, kept within half a second of it (at once when a
 * change is announced through cluster state): what the gateway checks on every request.
 */
export class BlocksService {
  readonly #follower: StoreFollower;

  private constructor(
    readonly active: ActiveBlocks,
    /** The throttles in force: block records with `action: throttle` (docs/response.md). */
    readonly throttles: ActiveThrottles,
    follower: StoreFollower,
  ) {
    this.#follower = follower;
  }

  /** Reads every block once (rejecting when the store cannot be read), then follows. */
  static async open(deps: {
    readonly db: Db;
    readonly cluster: ClusterState;
    readonly clock: Clock;
    readonly log: Logger;
  }): Promise<BlocksService> {
    const store = new BlockStore(deps.db, () => deps.clock.now());
    const active = new ActiveBlocks(deps.clock);
    const throttles = new ActiveThrottles(deps.clock);
    let seen = 0;
    const follower = await StoreFollower.start({
      name: 'blocks',
      cluster: deps.cluster,
      channel: BLOCKS_CHANNEL,
      intervalMs: FOLLOW_EVERY_MS,
      log: deps.log,
      pull: async () => {
        for (;;) {
          const changed = await store.changedSince(seen, PAGE);
          active.apply(changed);
          throttles.apply(changed);
          const last = changed[changed.length - 1];
          if (last !== undefined) seen = last.changeSeq;
          if (changed.length < PAGE) return;
        }
      },
    });
    return new BlocksService(active, throttles, follower);
  }

  /** Reads the store now; for tests and after a local write. */
  refresh(): Promise<void> {
    return this.#follower.refresh();
  }

  async close(): Promise<void> {
    await this.#follower.close();
  }
}
