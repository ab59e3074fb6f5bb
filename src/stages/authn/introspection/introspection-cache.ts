import { createHash } from 'node:crypto';
import { RecencyMap } from '../../recency-map.js';

/** An active introspection answer, stored at `storedAt`, never served at or after `until`. */
interface Entry {
  readonly answer: Readonly<Record<string, unknown>>;
  readonly storedAt: number;
  readonly until: number;
}

/** Per endpoint: enough for the active tokens of a busy API, bounded whatever the traffic. */
export const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * The active answers of one introspection endpoint for one client id. Only active answers are
 * kept: an inactive or failed one is never stored, so it can never be served as active. Keys are
 * the SHA-256 of endpoint, client id and token: a dump of the cache holds no usable token, and
 * an answer of one authorization server can never be found under another's key. Bounded: the
 * entries not used lately go first (recency-map.ts).
 */
export class IntrospectionCache {
  readonly #prefix: string;
  readonly #entries: RecencyMap<string, Entry>;

  constructor(endpoint: string, clientId: string, maxEntries = DEFAULT_MAX_ENTRIES) {
    // NUL cannot occur in a URL or in the client id as configured: the fields cannot run into
    // each other.
    this.#prefix = `${endpoint}\u0000${clientId}\u0000`;
    this.#entries = new RecencyMap(maxEntries);
  }

  /** The key a token is cached under. */
  keyOf(token: string): string {
    return createHash('sha256').update(this.#prefix).update(token).digest('base64url');
  }

  /**
   * The answer while it is fresh at `now`: before its `until` and younger than `maxAgeMs` (the
   * current `cacheSeconds`, which a reload may have lowered). A stale entry is dropped.
   */
  get(key: string, now: number, maxAgeMs: number): Readonly<Record<string, unknown>> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.until || now - entry.storedAt >= maxAgeMs || now < entry.storedAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.answer;
  }

  /** Keeps an active answer until `until`; nothing is kept when that is not after `now`. */
  set(key: string, answer: Readonly<Record<string, unknown>>, until: number, now: number): void {
    if (!(until > now)) return;
    this.#entries.set(key, { answer, storedAt: now, until });
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The caches of every introspection endpoint, kept across config reloads (a reload must not
 * send every token back to the authorization server). One cache per endpoint URL and client id,
 * never shared between two of them.
 */
export class IntrospectionCaches {
  readonly #caches = new Map<string, IntrospectionCache>();
  readonly #maxEntries: number;

  constructor(maxEntriesPerEndpoint = DEFAULT_MAX_ENTRIES) {
    this.#maxEntries = maxEntriesPerEndpoint;
  }

  for(endpoint: string, clientId: string): IntrospectionCache {
    const id = JSON.stringify([endpoint, clientId]);
    let cache = this.#caches.get(id);
    if (cache === undefined) {
      cache = new IntrospectionCache(endpoint, clientId, this.#maxEntries);
      this.#caches.set(id, cache);
    }
    return cache;
  }
}
