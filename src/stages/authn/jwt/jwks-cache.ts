import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { IssuerConfig } from '../../../config/authn-schema.js';
import type { Clock } from '../../../gateway/stage.js';
import { fetchJsonDocument, keyFetchAgent } from './jwks-fetch.js';
import { KeySet, keysFromJwks } from './key-set.js';
import type { JwtKeySource } from './key-source.js';
import { checkKeyUrl, discoveryUrl, jwksUriFromDiscovery } from './oidc-discovery.js';

/**
 * While no key was ever loaded (the first fetch failed), retry at least this often: every
 * token of the issuer is refused with 503 meanwhile, so waiting a whole `minRefreshSeconds`
 * would stretch a blip into an outage. Still bounded: a down issuer sees one fetch per 5 s.
 */
const COLD_RETRY_MS = 5_000;

export interface JwksCacheOptions {
  /** The issuer's name in the config, for logs. */
  readonly name: string;
  readonly issuer: IssuerConfig;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * An issuer's keys fetched from its JWKS URL, or from the `jwks_uri` its discovery document
 * names, and cached:
 *
 * - used for `jwks.cacheSeconds`, then fetched again when a token needs them (a verified-token
 *   cache hit only starts the fetch in the background);
 * - a token naming an unknown kid triggers at most one fetch per `jwks.minRefreshSeconds`,
 *   shared by every request that wants it;
 * - when a fetch fails (the issuer is down, answers garbage, too much, too late), the keys
 *   already held keep being used: a warm cache rides out an outage. With no keys ever
 *   loaded, tokens cannot be checked, and the authenticator answers 503.
 */
export class JwksCache implements JwtKeySource {
  readonly kind: 'jwksUrl' | 'discovery';
  readonly #name: string;
  readonly #issuer: IssuerConfig;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #agent: Agent;
  readonly #cacheMs: number;
  readonly #minRefreshMs: number;

  #set: KeySet | undefined;
  #generation = 0;
  #loadedAt = 0;
  #lastAttempt: number | undefined;
  #inflight: Promise<KeySet | undefined> | undefined;
  #jwksUri: string | undefined;
  #discoveredAt = 0;
  #closed = false;
  #first: Promise<KeySet | undefined> | undefined;

  /** Throws when a URL is not https (without allowInsecureHttp) or the CA file is unreadable. */
  constructor(opts: JwksCacheOptions) {
    const { issuer } = opts;
    this.#name = opts.name;
    this.#issuer = issuer;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#cacheMs = issuer.jwks.cacheSeconds * 1000;
    this.#minRefreshMs = issuer.jwks.minRefreshSeconds * 1000;
    if (issuer.discovery) {
      this.kind = 'discovery';
      checkKeyUrl(issuer.issuer, issuer.allowInsecureHttp, 'issuer');
    } else if (issuer.jwksUrl !== undefined) {
      this.kind = 'jwksUrl';
      this.#jwksUri = checkKeyUrl(issuer.jwksUrl, issuer.allowInsecureHttp, 'jwksUrl');
    } else {
      throw new Error(`issuer ${opts.name} has no key source (discovery, jwksUrl or keysFile)`);
    }
    const ca =
      issuer.jwks.caFile === undefined ? undefined : readFileSync(issuer.jwks.caFile, 'utf8');
    this.#agent = keyFetchAgent(ca, issuer.jwks.timeoutMs);
  }

  current(): KeySet | undefined {
    return this.#set;
  }

  stale(): boolean {
    return this.#set === undefined || this.#clock.now() - this.#loadedAt >= this.#cacheMs;
  }

  refresh(): Promise<KeySet | undefined> {
    if (this.#inflight !== undefined) return this.#inflight;
    const now = this.#clock.now();
    const interval =
      this.#set === undefined ? Math.min(this.#minRefreshMs, COLD_RETRY_MS) : this.#minRefreshMs;
    if (this.#closed || (this.#lastAttempt !== undefined && now - this.#lastAttempt < interval)) {
      return Promise.resolve(this.#set);
    }
    this.#lastAttempt = now;
    const load = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = load;
    return load;
  }

  /** Starts the first fetch (once); resolves when it is done, whatever its outcome. */
  start(): Promise<KeySet | undefined> {
    this.#first ??= this.refresh();
    return this.#first;
  }

  /** Stops fetching; a fetch under way is let finish. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#agent.close().catch(() => undefined);
  }

  async #load(): Promise<KeySet | undefined> {
    try {
      const doc = await fetchJsonDocument(await this.#keysUrl(), this.#fetchOptions());
      const { keys, skipped } = keysFromJwks(doc);
      if (skipped.length > 0) {
        this.#log.warn({ issuer: this.#name, skipped }, 'issuer keys left out of the key set');
      }
      const next = new KeySet(keys, this.#generation + 1);
      if (this.#set === undefined || !this.#set.sameKeysAs(next)) {
        this.#generation = next.generation;
        this.#set = next;
        this.#log.info(
          { issuer: this.#name, kids: keys.map((k) => k.kid), generation: next.generation },
          keys.length === 0 ? 'issuer publishes no usable key' : 'issuer keys loaded',
        );
      }
      this.#loadedAt = this.#clock.now();
    } catch (err) {
      this.#log.warn(
        {
          issuer: this.#name,
          err: err instanceof Error ? err.message : String(err),
          cached: this.#set !== undefined,
        },
        this.#set === undefined
          ? 'issuer keys could not be fetched: its tokens are refused with 503 until they are'
          : 'issuer keys could not be refreshed: the cached keys stay in use',
      );
    }
    return this.#set;
  }

  /** The JWKS URL: configured, or found by discovery (again once it is as old as the keys). */
  async #keysUrl(): Promise<string> {
    const issuer = this.#issuer;
    if (!issuer.discovery && this.#jwksUri !== undefined) return this.#jwksUri;
    const now = this.#clock.now();
    if (this.#jwksUri !== undefined && now - this.#discoveredAt < this.#cacheMs) {
      return this.#jwksUri;
    }
    const doc = await fetchJsonDocument(discoveryUrl(issuer.issuer), this.#fetchOptions());
    this.#jwksUri = jwksUriFromDiscovery(doc, issuer.issuer, issuer.allowInsecureHttp);
    this.#discoveredAt = now;
    return this.#jwksUri;
  }

  #fetchOptions() {
    return { dispatcher: this.#agent, timeoutMs: this.#issuer.jwks.timeoutMs };
  }
}
