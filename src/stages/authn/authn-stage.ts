import type { RouteAuthConfig } from '../../config/authn-schema.js';
import type { Denial } from '../../gateway/problems.js';
import {
  deny,
  type Identity,
  type RequestChange,
  type RequestContext,
  type Stage,
  type Verdict,
} from '../../gateway/stage.js';
import type { BlockHit } from '../blocks/active-blocks.js';
import { identityBlocked } from '../blocks/block-refusal.js';
import type { AuthOutcome, Authenticator } from './authenticator.js';
import { checkCertificateBinding } from './certificate-binding.js';
import { withoutQueryParam } from './query-credential.js';
import { challengeOf, REFUSED_DETAIL } from './refusal.js';
import type { UpstreamIdentity } from './upstream-identity.js';

export interface AuthnStageOptions {
  readonly route: string;
  readonly auth: RouteAuthConfig;
  /** The route's methods, resolved in the order `auth.methods` lists them. */
  readonly authenticators: readonly Authenticator[];
  /** Every header that can carry a credential (Authorization, X-API-Key, ...), lower-cased. */
  readonly credentialHeaders: readonly string[];
  /** The API key query parameter, removed from what the upstream receives. */
  readonly queryParam: string;
  readonly upstream: UpstreamIdentity;
  /** Blocked consumers and credentials (docs/blocks.md): refused once the caller is known. */
  readonly blocks?: IdentityBlocks;
}

export interface IdentityBlocks {
  forIdentity(identity: Identity): BlockHit | undefined;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/**
 * The authentication stage of one route: finds the first credential the route accepts, has its
 * method check it, and on success hands the upstream the identity instead of the credential.
 * A route that is public still runs it: the identity headers are the gateway's alone, and a
 * client-sent copy is removed before anything else can read it.
 */
export function createAuthnStage(opts: AuthnStageOptions): Stage {
  const { auth, authenticators, upstream, route } = opts;
  const identityHeaders = upstream.names;
  const removeOnSuccess = [...new Set([...opts.credentialHeaders, ...identityHeaders])];

  if (auth.public) {
    const strip: Verdict = Object.freeze({
      continue: true,
      change: Object.freeze({ removeHeaders: identityHeaders }),
    });
    return { name: 'authn', onRequest: () => strip };
  }

  const schemes = [
    ...new Set(authenticators.map((a) => a.challenge).filter((c) => c !== undefined)),
  ];
  const missing = deny({
    kind: 'unauthenticated',
    reason: 'authn.credentials.missing',
    detail: REFUSED_DETAIL,
    // RFC 7235 section 4.1: one challenge per scheme the route accepts. A route that takes
    // client certificates only has no HTTP scheme to name.
    ...(schemes.length === 0
      ? {}
      : { headers: { 'www-authenticate': schemes.map((s) => challengeOf(s)).join(', ') } }),
  });

  const strippedQuery = (ctx: RequestContext): string | undefined => {
    if (!auth.allowQueryKey || ctx.query === '') return undefined;
    const q = withoutQueryParam(ctx.query, opts.queryParam);
    return q === ctx.query ? undefined : q;
  };

  const anonymous = (ctx: RequestContext): Verdict => {
    const query = strippedQuery(ctx);
    ctx.log.warn(
      { event: 'authn.provider_down_anonymous', requestId: ctx.id, route },
      'identity provider down: request let through without an identity (onProviderDown: anonymous)',
    );
    const change: RequestChange = {
      removeHeaders: removeOnSuccess,
      ...(query === undefined ? {} : { query }),
    };
    return { continue: true, change };
  };

  const finish = (ctx: RequestContext, outcome: AuthOutcome): Verdict => {
    if (!outcome.ok) {
      if (outcome.unavailable === true && auth.onProviderDown === 'anonymous')
        return anonymous(ctx);
      return deny(outcome.denial);
    }
    const identity = outcome.identity;
    const binding: Denial | undefined = checkCertificateBinding(ctx, identity);
    if (binding !== undefined) return deny(binding);
    const block = opts.blocks?.forIdentity(identity);
    if (block !== undefined) return deny(identityBlocked(block));
    ctx.identity = identity;
    const query = strippedQuery(ctx);
    const change: RequestChange = {
      removeHeaders: removeOnSuccess,
      setHeaders: upstream.headersFor(identity, route, ctx.clock.now()),
      ...(query === undefined ? {} : { query }),
    };
    return { continue: true, change };
  };

  return {
    name: 'authn',
    onRequest(ctx): Verdict | Promise<Verdict> {
      for (const method of authenticators) {
        const presented = method.find(ctx, auth);
        if (presented === undefined) continue;
        const outcome = method.authenticate(presented, ctx, auth);
        return isPromise(outcome) ? outcome.then((o) => finish(ctx, o)) : finish(ctx, outcome);
      }
      return missing;
    },
  };
}
