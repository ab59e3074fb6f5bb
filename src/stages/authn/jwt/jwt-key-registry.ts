import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { IssuerConfig } from '../../../config/authn-schema.js';
import type { Clock } from '../../../gateway/stage.js';
import { JwksCache } from './jwks-cache.js';
import type { JwtKeySource } from './key-source.js';
import { loadStaticKeys, StaticKeySource } from './static-keys.js';

export interface JwtKeySourcesDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * What decides where an issuer's keys come from and how they are fetched. The CA file's
 * content is part of it: a renewed CA takes effect at the next reload.
 */
function settingsKey(name: string, issuer: IssuerConfig): string {
  const ca = issuer.jwks.caFile;
  return JSON.stringify([
    name,
    issuer.issuer,
    issuer.discovery,
    issuer.jwksUrl ?? null,
    issuer.allowInsecureHttp,
    issuer.jwks.cacheSeconds,
    issuer.jwks.minRefreshSeconds,
    issuer.jwks.timeoutMs,
    ca ?? null,
    ca === undefined ? null : createHash('sha256').update(readFileSync(ca)).digest('hex'),
  ]);
}

/**
 * The key sources of every JWT issuer, kept across config reloads: an issuer whose key settings
 * did not change keeps its JWKS cache (warm keys, no burst of fetches at every SIGHUP).
 * Created once when the gateway starts; `sourceFor` is called while building each config
 * generation, `prune` after the generation was built, `close` at shutdown.
 */
export class JwtKeySources {
  readonly #deps: JwtKeySourcesDeps;
  readonly #remote = new Map<string, JwksCache>();

  constructor(deps: JwtKeySourcesDeps) {
    this.#deps = deps;
  }

  /**
   * The keys of issuer `name`, synchronously. `keysFile`: read now (so a reload reads it
   * again). `jwksUrl` or `discovery`: the cache of the previous generation when the settings
   * are the same, or a new one whose first fetch starts now in the background. Throws an Error
   * naming the problem (unreadable or keyless file, URL that is not https) to refuse the config.
   */
  sourceFor(name: string, issuer: IssuerConfig): JwtKeySource {
    if (issuer.keysFile !== undefined) {
      const { set, skipped } = loadStaticKeys(issuer.keysFile);
      if (skipped.length > 0) {
        this.#deps.log.warn({ issuer: name, skipped }, 'issuer keys left out of the key set');
      }
      return new StaticKeySource(set);
    }
    const key = settingsKey(name, issuer);
    let source = this.#remote.get(key);
    if (source === undefined) {
      source = new JwksCache({ name, issuer, clock: this.#deps.clock, log: this.#deps.log });
      this.#remote.set(key, source);
      void source.start();
    }
    return source;
  }

  /**
   * Closes the caches no issuer of `issuers` (the config generation now serving) uses any more:
   * call it once the new generation is built and swapped in.
   */
  prune(issuers: Readonly<Record<string, IssuerConfig>>): void {
    const keep = new Set(
      Object.entries(issuers)
        .filter(([, issuer]) => issuer.keysFile === undefined)
        .map(([name, issuer]) => {
          try {
            return settingsKey(name, issuer);
          } catch {
            return '';
          }
        }),
    );
    for (const [key, source] of this.#remote) {
      if (keep.has(key)) continue;
      this.#remote.delete(key);
      void source.close();
    }
  }

  /**
   * Resolves once every cache has finished its first fetch, successful or not (each bounded by
   * its `timeoutMs`); never rejects. Optional: a token that arrives before its issuer's keys
   * waits for that same fetch.
   */
  async ready(): Promise<void> {
    await Promise.all([...this.#remote.values()].map((s) => s.start()));
  }

  async close(): Promise<void> {
    const sources = [...this.#remote.values()];
    this.#remote.clear();
    await Promise.all(sources.map((s) => s.close()));
  }
}
