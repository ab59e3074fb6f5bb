import { randomUUID, sign } from 'node:crypto';
import type { AuthnConfig } from '../../config/authn-schema.js';
import type { Identity } from '../../gateway/stage.js';
import type { SigningKey } from './identity-signing-key.js';
import type { IdentityTokenSigner } from './upstream-identity.js';

export type IdentityTokenSettings = Pick<
  AuthnConfig['upstream']['token'],
  'ttlSeconds' | 'issuer' | 'audience'
>;

/** Where the current signing key comes from: IdentitySigningKeys, which follows rotations. */
export interface CurrentSigningKey {
  readonly current: SigningKey;
}

interface Cached {
  readonly token: string;
  readonly kid: string;
  /** `iat` of the token, in milliseconds. */
  readonly issuedAt: number;
}

/** Enough for every consumer × route pair of a busy gateway; past it, the oldest go first. */
const DEFAULT_MAX_CACHED = 10_000;

const b64 = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url');

/**
 * The short-lived JWT that tells the upstream who the caller is, signed by the gateway (EdDSA,
 * Ed25519) and verifiable against the gateway's JWKS. Synchronous: signing is node:crypto on a
 * key in memory. A token is reused for the same consumer, scopes, roles, method and route until
 * half its lifetime has passed, so the upstream always receives one with at least half its
 * lifetime left, and a busy consumer costs one signature per half-lifetime, not one per request.
 */
export class IdentityTokens implements IdentityTokenSigner {
  readonly #keys: CurrentSigningKey;
  readonly #settings: IdentityTokenSettings;
  readonly #maxCached: number;
  readonly #cache = new Map<string, Cached>();
  #headerKid = '';
  #header = '';

  constructor(
    keys: CurrentSigningKey,
    settings: IdentityTokenSettings,
    maxCached = DEFAULT_MAX_CACHED,
  ) {
    this.#keys = keys;
    this.#settings = settings;
    this.#maxCached = maxCached;
  }

  tokenFor(identity: Identity, route: string, now: number): string {
    const key = this.#keys.current;
    // JSON of the parts: no separator a scope or a consumer id could contain can make two
    // different identities share an entry.
    const cacheKey = JSON.stringify([
      identity.consumerId,
      identity.method,
      route,
      identity.scopes,
      identity.roles,
    ]);
    const hit = this.#cache.get(cacheKey);
    const halfLife = (this.#settings.ttlSeconds * 1000) / 2;
    // A clock that went back (now < issuedAt) gets a fresh token, not one issued in its future.
    if (
      hit !== undefined &&
      hit.kid === key.kid &&
      now >= hit.issuedAt &&
      now - hit.issuedAt < halfLife
    )
      return hit.token;

    const iat = Math.floor(now / 1000);
    const token = this.#sign(key, {
      iss: this.#settings.issuer,
      sub: identity.consumerId,
      aud: this.#settings.audience,
      iat,
      exp: iat + this.#settings.ttlSeconds,
      jti: randomUUID(),
      scope: identity.scopes.join(' '),
      roles: identity.roles,
      method: identity.method,
      route,
    });
    this.#cache.delete(cacheKey);
    if (this.#cache.size >= this.#maxCached) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(cacheKey, { token, kid: key.kid, issuedAt: iat * 1000 });
    return token;
  }

  /** The compact JWS (RFC 7515): base64url(header).base64url(payload).base64url(signature). */
  #sign(key: SigningKey, payload: Record<string, unknown>): string {
    if (this.#headerKid !== key.kid) {
      this.#header = b64({ alg: 'EdDSA', typ: 'JWT', kid: key.kid });
      this.#headerKid = key.kid;
    }
    const input = `${this.#header}.${b64(payload)}`;
    // Ed25519 hashes internally: the algorithm argument is null.
    const signature = sign(null, Buffer.from(input), key.privateKey);
    return `${input}.${signature.toString('base64url')}`;
  }
}
