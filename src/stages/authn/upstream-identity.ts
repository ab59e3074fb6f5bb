import type { AuthnConfig } from '../../config/authn-schema.js';
import type { Identity } from '../../gateway/stage.js';

/** Signs the short-lived identity JWT the upstream may verify against the gateway's JWKS. */
export interface IdentityTokenSigner {
  tokenFor(identity: Identity, route: string, now: number): string;
}

// Only visible ASCII, so that a value taken from a token's claims can never split or fold a
// header (CR/LF injection) or smuggle a separator the upstream would read as two scopes.
const HEADER_SAFE = /^[\x21-\x7e]{1,256}$/;

function list(values: readonly string[]): string {
  let out = '';
  for (const v of values) if (HEADER_SAFE.test(v)) out = out === '' ? v : `${out} ${v}`;
  return out;
}

/**
 * The header value of a list of scopes or roles. A consumer's lists and a cached token's are the
 * same arrays request after request (frozen where they come from), so each is joined once.
 */
const joined = new WeakMap<readonly string[], string>();
function listOnce(values: readonly string[]): string {
  if (values.length === 0) return '';
  let out = joined.get(values);
  if (out === undefined) {
    out = list(values);
    if (Object.isFrozen(values)) joined.set(values, out);
  }
  return out;
}

/**
 * The headers that tell the upstream who the caller is. The gateway is their only author:
 * a client-sent copy is removed on every route, public ones included, so that an upstream that
 * trusts `X-Consumer-Id` cannot be told a lie by the client.
 */
export class UpstreamIdentity {
  /** Every header name the gateway owns here, lower-cased: removed from what the client sent. */
  readonly names: readonly string[];
  readonly #h: AuthnConfig['upstream']['headers'];
  readonly #tokenHeader: string | undefined;
  readonly #signer: IdentityTokenSigner | undefined;

  constructor(config: AuthnConfig['upstream'], signer: IdentityTokenSigner | undefined) {
    this.#h = config.headers;
    this.#tokenHeader = config.token.enabled ? config.token.header : undefined;
    this.#signer = config.token.enabled ? signer : undefined;
    if (config.token.enabled && signer === undefined)
      throw new Error('authn.upstream.token is enabled but no signing key was opened');
    const h = config.headers;
    this.names = [
      h.consumer,
      h.scopes,
      h.roles,
      h.method,
      ...(this.#tokenHeader ? [this.#tokenHeader] : []),
    ].map((n) => n.toLowerCase());
  }

  headersFor(identity: Identity, route: string, now: number): Record<string, string> {
    const out: Record<string, string> = {
      [this.#h.consumer]: identity.consumerId,
      [this.#h.method]: identity.method,
    };
    const scopes = listOnce(identity.scopes);
    if (scopes !== '') out[this.#h.scopes] = scopes;
    const roles = listOnce(identity.roles);
    if (roles !== '') out[this.#h.roles] = roles;
    if (this.#signer !== undefined && this.#tokenHeader !== undefined)
      out[this.#tokenHeader] = this.#signer.tokenFor(identity, route, now);
    return out;
  }
}
