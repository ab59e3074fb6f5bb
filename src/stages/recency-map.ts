interface Entry<V> {
  readonly value: V;
  /** Asked for since it was inserted or last given its second chance. */
  used: boolean;
}

/**
 * A map bounded by entries that evicts the ones not asked for lately: the second-chance
 * (CLOCK) approximation of least-recently-used that the caches of the request path share.
 *
 * A hit only marks its entry. Moving it to the end of the Map on every hit, as an exact LRU
 * does, costs a delete and an insert (and the Map's rehash of the holes they leave): some
 * hundreds of nanoseconds on every request that hits, against a few for the mark. Eviction pays
 * instead, once per insert at most: from the oldest end, a marked entry loses its mark and goes
 * to the back, and the first unmarked one goes. Every entry goes back at most once per pass, so
 * an insert costs O(1) amortized, and an entry asked for since the last pass is never the one
 * evicted while one that was not remains.
 */
export class RecencyMap<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, marked as used. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.value;
  }

  /** The value, without marking it. */
  peek(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /**
   * Inserts or replaces `key` (a replaced entry is new again), evicting first down to the bound,
   * so that the newcomer is never the one to go; `evicted` hears of every entry that goes, the
   * replaced one included.
   */
  set(key: K, value: V, evicted?: (key: K, value: V) => void): void {
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      evicted?.(key, old.value);
    }
    while (this.#entries.size >= this.#maxEntries) {
      const gone = this.evictOne();
      if (gone === undefined) break;
      evicted?.(gone[0], gone[1]);
    }
    if (this.#maxEntries > 0) this.#entries.set(key, { value, used: false });
  }

  /** Removes `key`; its value, if it was there. */
  delete(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    return entry.value;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Evicts the entry the policy picks (for a cache with a bound of its own, such as bytes). */
  evictOne(): [K, V] | undefined {
    for (;;) {
      const first = this.#entries.entries().next();
      if (first.done === true) return undefined;
      const [key, entry] = first.value;
      this.#entries.delete(key);
      if (!entry.used) return [key, entry.value];
      // Its second chance: to the back, unmarked.
      entry.used = false;
      this.#entries.set(key, entry);
    }
  }
}
