import type { IntrospectionConfig } from '../../../config/authn-schema.js';
import type { DenialAudit } from '../../../gateway/problems.js';
import { requestHeader } from '../../../gateway/stage.js';
import { fingerprint } from '../../../state/audit/fingerprint.js';
import type { AuthnDeps, AuthOutcome, Authenticator, Presented } from '../authenticator.js';
import { bearerToken, isBearerToken } from '../bearer-token.js';
import { providerUnavailable, unauthenticated } from '../refusal.js';
import { ClientAuthorizationHeader, type SecretReader } from './client-authorization.js';
import { identityFromAnswer } from './introspection-answer.js';
import { IntrospectionCaches } from './introspection-cache.js';
import { IntrospectionClient, type IntrospectionCall } from './introspection-client.js';

export interface IntrospectionDeps extends AuthnDeps {
  /** The SecretStore (src/state/crypto/secrets.ts), for the client secret named by the config. */
  readonly secrets: SecretReader;
  /**
   * The gateway's introspection caches, kept across reloads; without one, this authenticator
   * has a cache of its own.
   */
  readonly caches?: IntrospectionCaches;
}

/** Opaque tokens are short; JWT access tokens some servers introspect run to a few KB. */
const MAX_TOKEN_BYTES = 8_192;
/** An endpoint that keeps failing is logged once per interval, not once per request. */
const WARN_EVERY_MS = 5_000;

/** What a call for one token came to, shared by the requests that wait for it. */
type Lookup =
  | { readonly kind: 'answer'; readonly answer: Readonly<Record<string, unknown>> }
  | { readonly kind: 'unavailable'; readonly outcome: AuthOutcome };

/**
 * The `introspection:<name>` method: an opaque bearer token is asked about at an OAuth 2.0
 * introspection endpoint (RFC 7662) with the gateway's own client credentials.
 *
 * - Active answers are cached for `cacheSeconds` and never past the token's `exp`, under a key
 *   of the endpoint, client id and token hash; inactive answers are never cached. A cache hit
 *   is answered synchronously.
 * - Requests with the same uncached token share one call.
 * - An endpoint that cannot answer (down, timeout, 5xx, not JSON), a client secret missing from
 *   the store, or an endpoint that refuses the gateway's client authentication is a 503
 *   (`unavailable`), never a 401: the client did nothing wrong.
 */
export function createIntrospectionAuthenticator(
  name: string,
  cfg: IntrospectionConfig,
  deps: IntrospectionDeps,
): Authenticator {
  const method = `introspection:${name}`;
  const { clock, log } = deps;
  const cache = (deps.caches ?? new IntrospectionCaches()).for(cfg.endpoint, cfg.clientId);
  const client = new IntrospectionClient(cfg);
  const authorization = new ClientAuthorizationHeader({
    clientId: cfg.clientId,
    secretName: cfg.clientSecret,
    endpoint: name,
    secrets: deps.secrets,
    log,
    clock,
  });
  // Read in the background now, so that a secret missing from the store is logged at start
  // (and at each reload), not at the first request that needs it.
  void authorization.get();
  const inFlight = new Map<string, Promise<Lookup>>();
  const maxAgeMs = cfg.cacheSeconds * 1000;
  let lastWarned = -Infinity;

  const audit = (credential: string, details: DenialAudit['details']): DenialAudit => ({
    credential,
    details: { method, endpoint: name, ...details },
  });

  const warn = (fields: Record<string, unknown>, message: string) => {
    const now = clock.monotonic();
    if (now - lastWarned < WARN_EVERY_MS) return;
    lastWarned = now;
    log.warn({ endpoint: name, ...fields }, message);
  };

  const answerOf = (call: IntrospectionCall, credential: string): Lookup => {
    if (call.kind === 'answer') return { kind: 'answer', answer: call.answer };
    if (call.kind === 'rejected') {
      // The secret may have been replaced since it was read: read it again next time.
      authorization.forget();
      warn(
        { event: 'authn.introspection.client_rejected', status: call.status },
        `introspection endpoint ${name} refused the gateway's client authentication (client id ${cfg.clientId}, secret ${cfg.clientSecret}); check both`,
      );
      const denial = providerUnavailable(
        'authn.introspection.client_rejected',
        audit(credential, { status: call.status }),
      );
      return { kind: 'unavailable', outcome: { ok: false, unavailable: true, denial } };
    }
    warn(
      { event: 'authn.introspection.unavailable', cause: call.cause },
      `introspection endpoint ${name} cannot answer (${call.cause}); its tokens are refused with 503 meanwhile`,
    );
    const denial = providerUnavailable(
      'authn.introspection.unavailable',
      audit(credential, { cause: call.cause }),
    );
    return { kind: 'unavailable', outcome: { ok: false, unavailable: true, denial } };
  };

  const lookup = async (token: string, key: string, credential: string): Promise<Lookup> => {
    const auth = await authorization.get();
    if (!auth.ok) {
      const denial = providerUnavailable(
        'authn.introspection.secret_missing',
        audit(credential, { cause: auth.cause }),
      );
      return { kind: 'unavailable', outcome: { ok: false, unavailable: true, denial } };
    }
    const result = answerOf(await client.call(token, auth.header), credential);
    if (result.kind === 'answer' && result.answer.active === true) {
      // Only active answers, and never past the token's own expiry.
      const now = clock.now();
      const exp = result.answer.exp;
      const until = Math.min(
        now + maxAgeMs,
        typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : Infinity,
      );
      cache.set(key, result.answer, until, now);
    }
    return result;
  };

  const check = (answer: Readonly<Record<string, unknown>>, credential: string): AuthOutcome =>
    identityFromAnswer(answer, {
      method,
      endpoint: name,
      cfg,
      consumers: deps.consumers,
      credential,
      now: clock.now(),
    });

  return {
    method,
    challenge: 'Bearer',
    find(ctx): Presented | undefined {
      const token = bearerToken(requestHeader(ctx, 'authorization'));
      return token === undefined ? undefined : { value: token, where: 'authorization' };
    },
    authenticate(presented): AuthOutcome | Promise<AuthOutcome> {
      const token = presented.value;
      const credential = fingerprint(token);
      if (token.length > MAX_TOKEN_BYTES)
        return {
          ok: false,
          denial: unauthenticated(
            'authn.introspection.too_long',
            'Bearer',
            audit(credential, { length: token.length }),
          ),
        };
      if (!isBearerToken(token, MAX_TOKEN_BYTES))
        return {
          ok: false,
          denial: unauthenticated('authn.introspection.malformed', 'Bearer', audit(credential, {})),
        };

      const key = cache.keyOf(token);
      const cached = cache.get(key, clock.now(), maxAgeMs);
      if (cached !== undefined) return check(cached, credential);

      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = lookup(token, key, credential).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending.then((r) => (r.kind === 'answer' ? check(r.answer, credential) : r.outcome));
    },
  };
}
