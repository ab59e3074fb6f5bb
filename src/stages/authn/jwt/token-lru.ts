/**
 * A bounded map keyed by token text, evicting the least recently used: bounded twice, by entries
 * and by the characters of the tokens it keys on (a token can be up to `maxTokenBytes`). Keyed
 * by the token itself: hashing it first would cost more than the lookup it replaces.
 *
 * The jwt method keeps two: its verified tokens, so that the next request with the same token
 * costs a map lookup instead of an RSA or ECDSA verification (only what cannot change for the
 * token is trusted from there: time, revocation, the consumer and the key are re-checked on
 * every hit), and which tokens carry another issuer's `iss`, so that a route with several
 * issuers does not decode each token once per issuer listed before its own.
 */
export class TokenLru<V> {
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
