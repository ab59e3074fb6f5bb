import { RecencyMap } from '../../recency-map.js';

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
 * A bounded map keyed by token text, evicting the tokens not used lately (recency-map.ts):
 * bounded twice, by entries and by the characters of the tokens it keys on (a token can be up
 * to `maxTokenBytes`).
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
  readonly #entries: RecencyMap<string, Slot<V>>;
  readonly #maxChars: number;
  #chars = 0;
  readonly #forget = (_key: string, slot: Slot<V>): void => {
    this.#chars -= slot.token.length;
  };

  constructor(maxEntries = 10_000, maxChars = 32 * 1024 * 1024) {
    this.#entries = new RecencyMap(maxEntries);
    this.#maxChars = maxChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(token: string): boolean {
    return this.#entries.peek(indexOf(token))?.token === token;
  }

  /** The entry, marked as used. */
  get(token: string): V | undefined {
    const slot = this.#entries.get(indexOf(token));
    return slot === undefined || slot.token !== token ? undefined : slot.value;
  }

  set(token: string, value: V): void {
    this.#chars += token.length;
    this.#entries.set(indexOf(token), { token, value }, this.#forget);
    while (this.#chars > this.#maxChars) {
      const gone = this.#entries.evictOne();
      if (gone === undefined) break;
      this.#forget(gone[0], gone[1]);
    }
  }

  delete(token: string): void {
    const key = indexOf(token);
    if (this.#entries.peek(key)?.token !== token) return;
    const slot = this.#entries.delete(key);
    if (slot !== undefined) this.#forget(key, slot);
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }
}
