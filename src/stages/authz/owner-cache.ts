import type { Clock } from '../../gateway/stage.js';
import { RecencyMap } from '../recency-map.js';

/** What the backend said about an object: its owner, or that it does not exist. */
export type OwnerAnswer = { readonly owner: string } | { readonly owner: undefined };

interface Entry {
  readonly answer: OwnerAnswer;
  readonly expires: number;
}

/** Longer ids are looked up but not kept: a flood of long ids must not fill memory. */
const MAX_KEY_CHARS = 256;

/**
 * The answers of an ownership lookup, by object id: bounded by entries (those not used lately
 * go first, recency-map.ts) and by age (`cacheSeconds`, read on the gateway's clock). Answers
 * that an object does not exist are kept too, so that enumerating ids does not become a flood
 * of lookups; failures are never kept.
 */
export class OwnerCache {
  readonly #entries: RecencyMap<string, Entry>;
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(maxEntries: number, ttlSeconds: number, clock: Clock) {
    this.#entries = new RecencyMap(maxEntries);
    this.#ttlMs = ttlSeconds * 1000;
    this.#clock = clock;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(id: string): OwnerAnswer | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (this.#clock.now() >= entry.expires) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.answer;
  }

  set(id: string, answer: OwnerAnswer): void {
    if (this.#ttlMs === 0 || id.length > MAX_KEY_CHARS) return;
    this.#entries.set(id, { answer, expires: this.#clock.now() + this.#ttlMs });
  }
}
