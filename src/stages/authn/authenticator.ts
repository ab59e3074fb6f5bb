import type { Clock } from '../../gateway/stage.js';
import type { Denial } from '../../gateway/problems.js';
import type { Identity, RequestContext } from '../../gateway/stage.js';
import type { RouteAuthConfig } from '../../config/authn-schema.js';
import type { ConsumerProfile } from '../../state/consumers/consumer-fields.js';
import type { Logger } from 'pino';

/** A credential as found in a request, before it is checked. */
export interface Presented {
  /** The credential itself (a key, a token). Never logged: events carry its fingerprint. */
  readonly value: string;
  /** Where it was found, for the event: `authorization`, `x-api-key`, `query`, `certificate`. */
  readonly where: string;
}

export type AuthOutcome =
  | { readonly ok: true; readonly identity: Identity }
  /**
   * `unavailable`: the credential could not be checked because a provider (an introspection
   * endpoint, an issuer's JWKS with a cold cache) is down; the denial is then a 503, and a
   * route with `onProviderDown: anonymous` lets the request through without an identity.
   */
  | { readonly ok: false; readonly denial: Denial; readonly unavailable?: boolean };

/**
 * One way of proving who the caller is: `api-key`, `jwt:<issuer>`, `introspection:<name>`,
 * `mtls`. Built once per config; a request only runs `find` and `authenticate`.
 */
export interface Authenticator {
  /** The method name routes list in `auth.methods`. */
  readonly method: string;
  /** The auth-scheme of the WWW-Authenticate challenge (`ApiKey`, `Bearer`); none for mtls. */
  readonly challenge: string | undefined;
  /**
   * This method's credential in the request, or undefined when the request carries none of its
   * kind (another method of the route may). Cheap and synchronous; never throws on input.
   */
  find(ctx: RequestContext, route: RouteAuthConfig): Presented | undefined;
  /** Checks the credential. Synchronous when it can be answered from memory. */
  authenticate(
    presented: Presented,
    ctx: RequestContext,
    route: RouteAuthConfig,
  ): AuthOutcome | Promise<AuthOutcome>;
}

/** A consumer as authentication sees it: declared in the config or kept in the store. */
export interface ConsumerRecord extends ConsumerProfile {
  readonly source: 'config' | 'store';
}

/**
 * Every consumer, answered from memory: the config's, and the store's kept in sync (a change
 * made on any node is seen within one second).
 */
export interface ConsumerLookup {
  get(id: string): ConsumerRecord | undefined;
}

/** What authenticators are built with: passed explicitly, never global. */
export interface AuthnDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly consumers: ConsumerLookup;
}
