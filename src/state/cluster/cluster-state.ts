/**
 * Cluster state: the small, fast state that every gateway node shares (counters, short-lived
 * values, replicated sets of blocked or revoked things) and the invalidation messages nodes send
 * each other. With Redis it is shared by every node; without, it lives in this process (one
 * node). Both implementations behave the same; see docs/cluster-state.md.
 *
 * Names of keys, sets and channels are namespaced by `state.cluster.keyPrefix`; callers never
 * add the prefix themselves.
 *
 * Secrets: this layer stores and publishes what it is given as is, and every node holds the
 * members of a mirrored set in memory. A caller whose member or value would be a secret (a
 * revoked API key, a token) passes a fingerprint of it (a keyed hash), never the secret.
 */

/** A change to a mirrored set, as this node's mirror saw it. */
export interface SetChange {
  readonly set: string;
  readonly member: string;
  /** Whether `has(set, member)` now answers true. */
  readonly present: boolean;
  /** Epoch milliseconds when the member expires; undefined when it never does (or is gone). */
  readonly expiresAt: number | undefined;
  /**
   * `write`: a markSet/unmarkSet on this or another node; `resync`: the mirror was repaired
   * from the shared copy (a message was missed); `expiry`: the member's TTL ran out.
   */
  readonly cause: 'write' | 'resync' | 'expiry';
}

export type SetChangeListener = (change: SetChange) => void;
export type MessageHandler = (message: string) => void;
export type HealthListener = (healthy: boolean) => void;
/** Removes the listener or handler it was returned for; calling it twice is harmless. */
export type Unsubscribe = () => void;

export interface ClusterState {
  readonly kind: 'memory' | 'redis';

  /**
   * True while the shared state can be reached: commands succeed and changes from other nodes
   * arrive. Always true in process (until closed). While false, `has` answers from the last
   * known mirror and commands fail with PCL_CLUSTER_UNAVAILABLE.
   */
  readonly healthy: boolean;

  /** Called with false when the shared state is lost and with true when it returns. */
  onHealthChange(listener: HealthListener): Unsubscribe;

  /**
   * Resolves once connected and every mirrored set has been loaded; rejects with
   * PCL_CLUSTER_UNAVAILABLE when that does not happen in time (the instance keeps retrying).
   */
  ready(): Promise<void>;

  /**
   * Adds `by` (an integer) to the counter at `key` and returns the new value, atomically across
   * every node, in one round trip. The first increment of a key (or of a key that has no
   * expiry) sets its expiry to `ttlMs`; later increments do not extend it (fixed windows).
   */
  increment(key: string, by: number, ttlMs: number): Promise<number>;

  /** The value at `key`, or undefined when there is none (or it expired). */
  get(key: string): Promise<string | undefined>;

  /** Sets a small (at most 64 KiB) value; without `ttlMs` it never expires. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;

  /**
   * Adds `members` to the distinct count at `key` and returns how many distinct members `key`
   * and the keys in `alsoCount` hold together (their union), atomically across every node, in
   * one round trip. The first add of a key sets its expiry to `ttlMs` (never extended), as with
   * `increment`. With Redis a distinct count is a HyperLogLog (PFADD / PFCOUNT): at most 12 KiB
   * per key whatever it holds, exact for small counts and within about 1% beyond. In process it
   * is an exact set of at most 65 536 members per key (further ones are not counted). A key
   * holds a distinct count or a counter/value, never both; `delete` removes either.
   */
  addDistinct(
    key: string,
    members: readonly string[],
    ttlMs: number,
    alsoCount?: readonly string[],
  ): Promise<number>;

  /** Deletes the value or counter at `key`; resolves true when there was one. */
  delete(key: string): Promise<boolean>;

  /**
   * Starts keeping a local mirror of the set `name` on this node (idempotent) and resolves once
   * it is loaded. A set must be mirrored before `has` or `onChange` may name it: declare the
   * sets a stage reads when it is built, not on the first request. On rejection the set stays
   * declared and is loaded as soon as the shared state can be reached.
   */
  mirrorSet(name: string): Promise<void>;

  /**
   * Adds `member` to the set `name` on every node, with its own expiry (`ttlMs`; none = never
   * expires). Marking a member again replaces its expiry: the last write wins. `member` is a
   * fingerprint when the thing it stands for is a secret.
   */
  markSet(name: string, member: string, ttlMs?: number): Promise<void>;

  /** Removes `member` from the set `name` on every node. */
  unmarkSet(name: string, member: string): Promise<void>;

  /**
   * Whether `member` is in the mirrored set `name`, answered synchronously from this node's
   * mirror: the hot path never waits on Redis. A change made on any node is seen here within
   * one second while the shared state is healthy. Throws when `name` was never mirrored.
   */
  has(name: string, member: string): boolean;

  /** Calls `listener` for every change this node's mirror of `name` sees. */
  onChange(name: string, listener: SetChangeListener): Unsubscribe;

  /**
   * Sends `message` to every subscriber of `channel` on every node, this one included
   * (invalidations: "drop your cache of X"). Delivery is at most once: a node that is
   * disconnected misses it, so a receiver must not depend on it for correctness beyond a cache.
   */
  publish(channel: string, message: string): Promise<void>;

  /** Resolves, once the subscription is active, with the function that ends it. */
  subscribe(channel: string, handler: MessageHandler): Promise<Unsubscribe>;

  /** Stops timers and connections. Later commands reject with PCL_CLUSTER_UNAVAILABLE. */
  close(): Promise<void>;
}
