/**
 * Decisions of the Cedar policies by their exact input: the entities of the request as the
 * JSON Cedar is given (principal and resource with every attribute a policy reads, the route
 * naming the action). Cedar is deterministic and the gateway passes no context, so the same
 * JSON gets the same decision, the same deciding policies included, for as long as the policy
 * set is the same: each policy engine (one per policy and schema text) has its own cache.
 *
 * Bounded by entries (the least recently used goes first) and by key length: a request with a
 * long body field is evaluated, not kept. Errors are never kept: they are logged per request.
 */
export class DecisionCache<T> {
  readonly #entries = new Map<string, T>();
  readonly #maxEntries: number;
  readonly #maxKeyChars: number;

  constructor(maxEntries: number, maxKeyChars: number) {
    this.#maxEntries = maxEntries;
    this.#maxKeyChars = maxKeyChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): T | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    // Most recently used last: the Map's order is the eviction order.
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: string, value: T): void {
    if (key.length > this.#maxKeyChars || this.#maxEntries === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}
