/**
 * How many characters of a token's end index it: the last 43 characters of a JWS are its
 * signature's last 258 bits, which differ between any two tokens an issuer signed.
 */
const INDEX_CHARS = 43;

interface Slot<V> {
  /** The whole token: what decides whether a lookup is this entry. */
  readonly token: string;
  readonly value: V;
}

/** The index of a token: its end, or the whole of a shorter one. */
function indexOf(token: string): string {
  return token.length > INDEX_CHARS ? token.slice(-INDEX_CHARS) : token;
}

/**
 * A bounded map keyed by token text, evicting the least recently used: bounded twice, by entries
 * and by the characters of the tokens it keys on (a token can be up to `maxTokenBytes`).
 *
 * Indexed by the token's last characters, not by its whole text: each request brings its token
 * as a new string, and hashing all of it (an RS256 token is 600 characters and more) cost more
 * than the rest of a cache hit together. The index only finds a candidate: an entry answers a
 * lookup only when its whole token equals the one looked up, so a token that shares another's
 * end but differs anywhere else is a miss, never the other's entry. Two tokens with one end
 * share a slot, the later replacing the earlier: an issuer never signs two such tokens, so only
 * a crafted token gets there, and what it can do is make a genuine token be checked again.
 *
 * The jwt method keeps two: its verified tokens, so that the next request with the same token
 * costs a map lookup instead of an RSA or ECDSA verification (only what cannot change for the
 * token is trusted from there: time, revocation, the consumer and the key are re-checked on
 * every hit), and which tokens carry another issuer's `iss`, so that a route with several
 * issuers does not decode each token once per issuer listed before its own.
 */
export class TokenLru<V> {
  readonly #entries = new Map<string, Slot<V>>();
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
    return this.#entries.get(indexOf(token))?.token === token;
  }

  /** The entry, marked as the most recently used. */
  get(token: string): V | undefined {
    const key = indexOf(token);
    const slot = this.#entries.get(key);
    if (slot === undefined || slot.token !== token) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, slot);
    return slot.value;
  }

  set(token: string, value: V): void {
    const key = indexOf(token);
    this.#remove(key);
    this.#entries.set(key, { token, value });
    this.#chars += token.length;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#remove(oldest.value);
    }
  }

  delete(token: string): void {
    const key = indexOf(token);
    if (this.#entries.get(key)?.token === token) this.#remove(key);
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  #remove(key: string): void {
    const slot = this.#entries.get(key);
    if (slot === undefined) return;
    this.#entries.delete(key);
    this.#chars -= slot.token.length;
  }
}
