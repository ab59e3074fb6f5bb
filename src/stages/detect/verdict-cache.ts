import type { RuleId } from './rule-catalogue.js';
import type { Source } from './subject.js';

/**
 * What the rule families found in a value, remembered across requests: the same User-Agent,
 * Accept-Language, cookie names and member names come back on request after request, and each
 * is inspected once. What is kept is every rule the scanners fired, of every paranoia level and
 * before exclusions: each request replays them through its route's own level and exclusions at
 * its own location, so a cached value is judged exactly as a fresh one.
 *
 * Bounded: values of at most MAX_CACHED_LENGTH characters, at most MAX_ENTRIES of them, in two
 * generations (a value found in the old one moves to the young one; when the young one is full,
 * it becomes the old one and the oldest is dropped), so the cache holds the values in use and
 * costs O(1) per look-up. A value is copied in, so it never keeps a larger string (the query or
 * a header it was cut from) alive.
 */
export const MAX_CACHED_LENGTH = 256;
export const MAX_ENTRIES = 1024;

/**
 * Where a cached value came from: a part of the request, or `form`, a query value as sent
 * (form-encoded), so that a value seen before is not even decoded again.
 */
export type Space = Source | 'form';
const SPACES: readonly Space[] = ['path', 'query', 'header', 'cookie', 'body', 'form'];

/** What scanning a value found: every rule fired, and the value's length once decoded. */
export interface Scan {
  readonly hits: readonly RuleId[];
  readonly length: number;
}

type Generation = Record<Space, Map<string, Scan>>;

function generation(): Generation {
  const g = {} as Generation;
  for (const s of SPACES) g[s] = new Map();
  return g;
}

/** A copy of `s` that shares no memory with the string it was sliced from. */
function ownCopy(s: string): string {
  return ` ${s}`.slice(1);
}

export class VerdictCache {
  #young = generation();
  #old = generation();
  #youngSize = 0;
  #oldSize = 0;

  /** What scanning `value` from `source` found, or undefined when not known. */
  get(source: Space, value: string): Scan | undefined {
    const young = this.#young[source].get(value);
    if (young !== undefined) return young;
    const old = this.#old[source].get(value);
    if (old !== undefined) {
      this.#old[source].delete(value);
      this.#oldSize--;
      this.#put(source, value, old);
    }
    return old;
  }

  /** Remembers what a value fired; a value too long to be worth keeping is not kept. */
  set(source: Space, value: string, scan: Scan): void {
    if (value.length > MAX_CACHED_LENGTH) return;
    this.#put(source, ownCopy(value), scan);
  }

  /** How many values are remembered (at most MAX_ENTRIES). */
  get size(): number {
    return this.#youngSize + this.#oldSize;
  }

  #put(source: Space, value: string, scan: Scan): void {
    if (this.#youngSize >= MAX_ENTRIES / 2) {
      this.#old = this.#young;
      this.#oldSize = this.#youngSize;
      this.#young = generation();
      this.#youngSize = 0;
    }
    const map = this.#young[source];
    if (!map.has(value)) this.#youngSize++;
    map.set(value, scan);
  }
}
