import type { IntrospectionConfig } from '../../../config/authn-schema.js';
import type { DenialAudit } from '../../../gateway/problems.js';
import type { AuthOutcome, ConsumerLookup } from '../authenticator.js';
import { consumerRefusal, ownClaim, readClaimedSubject } from '../claim-mapping.js';
import { unauthenticated } from '../refusal.js';

/** What an answer is checked against; the same for a fresh answer and a cached one. */
export interface AnswerCheck {
  /** `introspection:<name>`. */
  readonly method: string;
  /** The endpoint's name in `authn.introspection`. */
  readonly endpoint: string;
  readonly cfg: IntrospectionConfig;
  readonly consumers: ConsumerLookup;
  /** The token's fingerprint. */
  readonly credential: string;
  /** Epoch milliseconds. */
  readonly now: number;
}

/** A NumericDate claim: absent, or a finite number of seconds. `null` when malformed. */
function secondsClaim(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Turns an introspection answer into an identity, or refuses it with the reason of the first
 * check that fails. Runs on every request, cached answers included, so that expiry and a
 * consumer disabled since are seen at once.
 *
 * Checked: `active` is the boolean true; the token is not a refresh token (`token_use`,
 * `token_type`); `exp` is in the future and `nbf` not; `iss` is `cfg.issuer` and `aud` names one
 * of `cfg.audiences` when those are set; the token is not bound to a DPoP key (`cnf.jkt`: the
 * gateway cannot check the proof); the consumer claim is a valid consumer id, of a consumer
 * that is not disabled (and that exists, with `requireConsumer`); scopes and roles are
 * well-formed.
 */
export function identityFromAnswer(
  answer: Readonly<Record<string, unknown>>,
  c: AnswerCheck,
): AuthOutcome {
  const { cfg, credential } = c;
  const audit = (details: DenialAudit['details'] = {}, consumer?: string): DenialAudit => ({
    credential,
    ...(consumer === undefined ? {} : { consumer }),
    details: { method: c.method, endpoint: c.endpoint, ...details },
  });

  // RFC 7662 section 2.2: `active` is a boolean. `"true"`, 1 or a missing member is not true.
  if (ownClaim(answer, 'active') !== true)
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.inactive', 'Bearer', audit()),
    };

  // A refresh token is for the authorization server alone; introspecting it as an access token
  // (the hint is only a hint) must not turn it into one.
  const use = ownClaim(answer, 'token_use') ?? ownClaim(answer, 'token_type');
  if (typeof use === 'string' && use.toLowerCase() === 'refresh_token')
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.not_access_token', 'Bearer', audit()),
    };

  const exp = secondsClaim(ownClaim(answer, 'exp'));
  const nbf = secondsClaim(ownClaim(answer, 'nbf'));
  if (exp === null || nbf === null)
    return {
      ok: false,
      denial: unauthenticated(
        'authn.introspection.claims_invalid',
        'Bearer',
        audit({ claim: exp === null ? 'exp' : 'nbf' }),
      ),
    };
  if (exp !== undefined && exp * 1000 <= c.now)
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.expired', 'Bearer', audit({ exp })),
    };
  if (nbf !== undefined && nbf * 1000 > c.now)
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.not_yet_valid', 'Bearer', audit({ nbf })),
    };

  if (cfg.issuer !== undefined && ownClaim(answer, 'iss') !== cfg.issuer)
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.wrong_issuer', 'Bearer', audit()),
    };
  if (cfg.audiences !== undefined) {
    const aud = ownClaim(answer, 'aud');
    const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!named.some((a) => typeof a === 'string' && cfg.audiences?.includes(a) === true))
      return {
        ok: false,
        denial: unauthenticated('authn.introspection.wrong_audience', 'Bearer', audit()),
      };
  }

  // RFC 9449: a DPoP-bound token is good only with a proof of its key, which the gateway does
  // not check; accepting it as a plain bearer token would undo the binding. Certificate-bound
  // tokens (`cnf.x5t#S256`) are checked by the authentication stage.
  const cnf = ownClaim(answer, 'cnf');
  if (typeof cnf === 'object' && cnf !== null && Object.hasOwn(cnf, 'jkt'))
    return {
      ok: false,
      denial: unauthenticated('authn.introspection.unsupported_binding', 'Bearer', audit()),
    };

  const { consumerId, scopes, roles } = readClaimedSubject(answer, cfg);
  if (consumerId === undefined)
    return {
      ok: false,
      denial: unauthenticated(
        'authn.introspection.consumer_invalid',
        'Bearer',
        audit({ claim: cfg.consumerClaim }),
      ),
    };
  const consumer = c.consumers.get(consumerId);
  const refusal = consumerRefusal(consumer, cfg.requireConsumer);
  if (refusal === 'disabled')
    return {
      ok: false,
      denial: unauthenticated(
        'authn.introspection.consumer_disabled',
        'Bearer',
        audit({}, consumerId),
      ),
    };
  if (refusal === 'unknown')
    return {
      ok: false,
      denial: unauthenticated(
        'authn.introspection.consumer_unknown',
        'Bearer',
        audit({}, consumerId),
      ),
    };

  if (scopes === undefined || roles === undefined)
    return {
      ok: false,
      denial: unauthenticated(
        'authn.introspection.scopes_invalid',
        'Bearer',
        audit({ claim: scopes === undefined ? cfg.scopesClaim : cfg.rolesClaim }, consumerId),
      ),
    };

  return {
    ok: true,
    identity: {
      consumerId,
      method: c.method,
      credential,
      // What the token grants, not what the consumer could be granted: a token's scope is the
      // delegation the authorization server made.
      scopes,
      roles,
      metadata: consumer?.metadata ?? {},
      claims: answer,
    },
  };
}
