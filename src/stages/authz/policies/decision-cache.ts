import { RecencyMap } from '../../recency-map.js';

/**
 * Decisions of the Cedar policies by their exact input: the entities of the request as the
 * JSON Cedar is given (principal and resource with every attribute a policy reads, the route
 * naming the action). Cedar is deterministic and the gateway passes no context, so the same
 * JSON gets the same decision, the same deciding policies included, for as long as the policy
 * set is the same: each policy engine (one per policy and schema text) has its own cache.
 *
 * Bounded by entries (those not used lately go first: recency-map.ts) and by key length: a
 * request with a long body field is evaluated, not kept. Errors are never kept: they are
 * logged per request.
 */
export class DecisionCache<T> {
  readonly #entries: RecencyMap<string, T>;
  readonly #maxEntries: number;
  readonly #maxKeyChars: number;

  constructor(maxEntries: number, maxKeyChars: number) {
    this.#entries = new RecencyMap(maxEntries);
    this.#maxEntries = maxEntries;
    this.#maxKeyChars = maxKeyChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): T | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: T): void {
    if (key.length > this.#maxKeyChars || this.#maxEntries === 0) return;
    this.#entries.set(key, value);
  }
}
