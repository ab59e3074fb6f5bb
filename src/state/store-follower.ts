import type { Logger } from 'pino';
import type { ClusterState, Unsubscribe } from './cluster/cluster-state.js';

export interface StoreFollowerOptions {
  /** What is followed, for the log: `api keys`, `consumers`, `blocks`. */
  readonly name: string;
  /** Reads what changed in the store since the last pull and applies it; throws on failure. */
  readonly pull: () => Promise<void>;
  readonly cluster: ClusterState;
  /** The cluster state channel whose messages ask for a pull now. */
  readonly channel: string;
  /** The longest time between two pulls. */
  readonly intervalMs: number;
  readonly log: Logger;
}

/**
 * Keeps an in-memory copy up to date with the store, so that a request never waits on it: a
 * pull at least every `intervalMs`, and at once when a message arrives on `channel` (another
 * node or the CLI changed something). Pulls never overlap: a request for one while one runs
 * makes exactly one more run after it. A failing store is logged once per outage, and the copy
 * keeps serving what it last read.
 */
export class StoreFollower {
  readonly #opts: StoreFollowerOptions;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #closed = false;

  private constructor(opts: StoreFollowerOptions) {
    this.#opts = opts;
  }

  /**
   * Pulls once (rejecting when that fails: a gateway does not start on a copy it could not
   * read), then subscribes to the channel and starts the timer.
   */
  static async start(opts: StoreFollowerOptions): Promise<StoreFollower> {
    const follower = new StoreFollower(opts);
    await opts.pull();
    try {
      follower.#unsubscribe = await opts.cluster.subscribe(opts.channel, () => {
        void follower.refresh();
      });
    } catch (err) {
      // Polling alone still keeps the copy within intervalMs of the store.
      opts.log.warn(
        { event: 'store.follow_subscribe_failed', what: opts.name, err: messageOf(err) },
        'cannot subscribe to change messages; following the store by polling alone',
      );
    }
    follower.#timer = setInterval(() => void follower.refresh(), opts.intervalMs);
    follower.#timer.unref();
    return follower;
  }

  /** Pulls now (or once more after the pull in progress); resolves when done, never rejects. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pullOnce();
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pullOnce(): Promise<void> {
    const { log, name } = this.#opts;
    try {
      await this.#opts.pull();
      if (this.#failing) {
        this.#failing = false;
        log.info(
          { event: 'store.follow_recovered', what: name },
          `reading ${name} from the store again`,
        );
      }
    } catch (err) {
      if (this.#failing) return;
      this.#failing = true;
      log.warn(
        { event: 'store.follow_failed', what: name, err: messageOf(err) },
        `cannot read ${name} from the store; serving the last copy read`,
      );
    }
  }

  /** Stops the timer and the subscription, then waits for a pull in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    await this.#running;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
