/**
 * Tokens whose signature and claims were verified, so that the next request with the same token
 * costs a map lookup instead of an RSA or ECDSA verification. Bounded twice: by entries and by
 * the characters of the tokens it keys on (a token can be up to `maxTokenBytes`), evicting the
 * least recently used. Keyed by the token itself: hashing it first would cost more than the
 * lookup it replaces, and the map only ever holds tokens that verified.
 *
 * Only what cannot change for a given token is trusted from here: the caller re-checks time,
 * revocation, the consumer and that the key is still published on every hit.
 */
export class VerifiedTokenCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #chars = 0;

  constructor(maxEntries = 10_000, maxChars = 32 * 1024 * 1024) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(token: string): boolean {
    return this.#entries.has(token);
  }

  /** The entry, marked as the most recently used. */
  get(token: string): V | undefined {
    const v = this.#entries.get(token);
    if (v !== undefined) {
      this.#entries.delete(token);
      this.#entries.set(token, v);
    }
    return v;
  }

  set(token: string, value: V): void {
    this.delete(token);
    this.#entries.set(token, value);
    this.#chars += token.length;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
  }

  delete(token: string): void {
    if (this.#entries.delete(token)) this.#chars -= token.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }
}
