import type { KeySet } from './key-set.js';

/**
 * Where an issuer's keys come from: a file read at build, or its JWKS URL (directly or through
 * OpenID Connect discovery) fetched and cached. The hot path reads `current()` synchronously;
 * only a token naming a key the set lacks, or a set that was never loaded or is past its cache
 * time, waits on `refresh()`.
 */
export interface JwtKeySource {
  /** For logs: `keysFile`, `jwksUrl`, `discovery`. */
  readonly kind: string;
  /** The keys to verify with now, or undefined while none were ever loaded. */
  current(): KeySet | undefined;
  /** True when the keys are older than the cache time (or were never loaded). */
  stale(): boolean;
  /**
   * Asks for fresh keys. At most one fetch per `minRefreshSeconds` (concurrent callers share
   * it), so a flood of tokens with random kids cannot become a flood of fetches. Resolves with
   * the keys to use: the new set, or the old one when the issuer cannot be reached. Never
   * rejects.
   */
  refresh(): Promise<KeySet | undefined>;
}
