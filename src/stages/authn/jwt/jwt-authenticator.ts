import { compactVerify } from 'jose';
import type { IssuerConfig, RouteAuthConfig } from '../../../config/authn-schema.js';
import type { DenialAudit } from '../../../gateway/problems.js';
import { requestHeader } from '../../../gateway/stage.js';
import { fingerprint } from '../../../state/audit/fingerprint.js';
import type { AuthnDeps, AuthOutcome, Authenticator, ConsumerRecord } from '../authenticator.js';
import { bearerToken } from '../bearer-token.js';
import { ownClaim } from '../claim-mapping.js';
import { providerUnavailable, unauthenticated } from '../refusal.js';
import { JwtClaimMapping, type TokenSubject } from './jwt-claim-mapping.js';
import type { JtiRevocationCheck } from './jti-revocations.js';
import {
  isJwsShaped,
  parseClaimsSet,
  parseJoseHeader,
  splitCompactJws,
  unverifiedIssuer,
} from './jws-compact.js';
import { checkJoseHeader, isForbiddenAlgorithm } from './jws-header.js';
import { checkAudience, checkClaimTypes, checkRequiredClaims, checkTimes } from './jwt-claims.js';
import { isDefect, type JwtDefect } from './jwt-defect.js';
import type { KeyMiss, KeySet, VerifyKey } from './key-set.js';
import type { JwtKeySource } from './key-source.js';
import { TokenLru } from './token-lru.js';

export interface JwtAuthenticatorDeps extends AuthnDeps {
  /** The issuer's keys: `JwtKeySources.sourceFor(name, issuer)`. */
  readonly keys: JwtKeySource;
  /** Revoked jtis: a `JtiRevocations` opened on cluster state. */
  readonly revocations: JtiRevocationCheck;
  /** Bounds of the verified-token cache (defaults: 10 000 tokens, 32 Mi characters). */
  readonly cacheEntries?: number;
  readonly cacheChars?: number;
}

type Claims = Readonly<Record<string, unknown>>;

/** A token that passed every check that cannot change for it (signature, iss, aud, types...). */
interface VerifiedToken {
  readonly claims: Claims;
  readonly credential: string;
  readonly kid: string;
  readonly thumbprint: string;
  readonly subject: TokenSubject;
  /** The key set generation it was last checked against. */
  generation: number;
  /** The consumer record `result` was computed with, and that result. */
  record: ConsumerRecord | undefined;
  result: AuthOutcome | undefined;
}

/** The largest token `find` decodes to read its issuer: the schema's largest maxTokenBytes. */
const MAX_FIND_BYTES = 65_536;

const KEY_MISSES: Readonly<Record<KeyMiss, JwtDefect>> = {
  kid_unknown: { refused: true, reason: 'authn.jwt.kid_unknown' },
  no_key: { refused: true, reason: 'authn.jwt.key_missing' },
  ambiguous: { refused: true, reason: 'authn.jwt.kid_required' },
  alg_mismatch: { refused: true, reason: 'authn.jwt.key_alg_mismatch' },
};

/**
 * Freezes a parsed JSON value and everything in it, without recursion (a deeply nested claim
 * must not overflow the stack): the claims are shared by every request the cache answers.
 */
function deepFreeze(value: object): void {
  const stack: object[] = [value];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    Object.freeze(v);
    for (const child of Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push(child as object);
    }
  }
}

/**
 * The `jwt:<name>` method: bearer tokens signed by one issuer (docs/authentication.md, "JWT and
 * OpenID Connect"). Built once per config generation, synchronously; the key source and the
 * revocation set outlive it.
 *
 * A token is checked in this order, each check with its own reason: size, compact shape, strict
 * base64url, header (JSON object, no duplicate member), `alg` (present, never none or HMAC, in
 * the issuer's list), no key-carrying header (`jku`, `x5u`, `jwk`, `x5c`), no `crit`, a
 * well-formed `kid`, claims set (JSON object, no duplicate claim), `iss`, a signature present;
 * then the key (by kid, of the type the alg needs) and the signature (jose); then `aud`, claim
 * types, `exp`, `nbf`, `iat`, required claims, `jti` revocation, the consumer claim, scopes and
 * roles, and the consumer's record. A verified token is cached: the next request with it
 * re-checks only what can change (time, revocation, the consumer, the key still published) and
 * is answered synchronously.
 */
export function createJwtAuthenticator(
  name: string,
  issuer: IssuerConfig,
  deps: JwtAuthenticatorDeps,
): Authenticator {
  const method = `jwt:${name}`;
  // The schema allows only asymmetric algorithms; a config that bypassed it still gets none.
  const allowed: ReadonlySet<string> = new Set(
    issuer.algorithms.filter((a) => !isForbiddenAlgorithm(a)),
  );
  const audiences: ReadonlySet<string> = new Set(issuer.audiences);
  const skew = issuer.clockSkewSeconds;
  const mapping = new JwtClaimMapping(issuer, method, deps.consumers);
  const cache = new TokenLru<VerifiedToken>(deps.cacheEntries, deps.cacheChars);
  // Whether a token's unverified iss is this issuer's: decided once per token text.
  const routed = new TokenLru<boolean>(10_000, 8 * 1024 * 1024);
  const lastJwtMethod = new WeakMap<RouteAuthConfig, boolean>();

  const audit = (
    credential: string,
    details: JwtDefect['details'],
    consumer: string | undefined,
  ): DenialAudit => ({
    credential,
    ...(consumer === undefined ? {} : { consumer }),
    details: { issuer: name, ...details },
  });
  const refuse = (
    defect: JwtDefect,
    credential: string,
    consumer?: string,
    facts?: JwtDefect['details'],
  ): AuthOutcome => ({
    ok: false,
    denial: unauthenticated(
      defect.reason,
      'Bearer',
      audit(credential, { ...facts, ...defect.details }, consumer),
    ),
  });

  const revoked = (claims: Claims): JwtDefect | undefined => {
    const jti = ownClaim(claims, 'jti');
    return typeof jti === 'string' && deps.revocations.isRevoked(name, jti)
      ? { refused: true, reason: 'authn.jwt.revoked' }
      : undefined;
  };

  /**
   * The checks whose answer can change while a token lives: the clock, the revocation set and
   * the consumer's record (recomputed only when the record object changed).
   */
  const live = (entry: VerifiedToken, nowMs: number): AuthOutcome => {
    const consumerId = entry.subject.consumerId;
    const changing = checkTimes(entry.claims, nowMs / 1000, skew) ?? revoked(entry.claims);
    if (changing !== undefined) {
      return refuse(changing, entry.credential, consumerId, { kid: entry.kid });
    }
    const record = mapping.lookup(consumerId);
    if (entry.result === undefined || record !== entry.record) {
      const identity = mapping.identity(entry.subject, entry.claims, entry.credential, record);
      entry.record = record;
      entry.result = isDefect(identity)
        ? refuse(identity, entry.credential, consumerId, { kid: entry.kid })
        : { ok: true, identity };
    }
    return entry.result;
  };

  /** The key for `alg`/`kid`: fetched again once when the set lacks it (rate-limited). */
  const selectKey = async (
    alg: string,
    kid: string | undefined,
  ): Promise<{ key: VerifyKey; set: KeySet } | KeyMiss | 'unavailable'> => {
    const source = deps.keys;
    let set = source.current();
    if (set === undefined || source.stale()) set = (await source.refresh()) ?? set;
    if (set === undefined) return 'unavailable';
    let picked = set.select(alg, kid);
    if (picked === 'kid_unknown' || picked === 'no_key') {
      // A key the issuer may have just rotated in.
      const fresh = await source.refresh();
      if (fresh !== undefined && fresh !== set) {
        set = fresh;
        picked = set.select(alg, kid);
      }
    }
    return typeof picked === 'string' ? picked : { key: picked, set };
  };

  const verify = async (token: string, nowMs: number): Promise<AuthOutcome> => {
    const credential = fingerprint(token);
    const segments = splitCompactJws(token, issuer.maxTokenBytes);
    if (isDefect(segments)) return refuse(segments, credential);
    const header = parseJoseHeader(segments.header);
    if (isDefect(header)) return refuse(header, credential);
    const jose = checkJoseHeader(header.value, allowed);
    if (isDefect(jose)) return refuse(jose, credential);
    const payload = parseClaimsSet(segments.payload);
    if (isDefect(payload)) return refuse(payload, credential);
    const claims = payload.value;
    const facts = { alg: jose.alg, ...(jose.kid === undefined ? {} : { kid: jose.kid }) };
    // Compared before any key is looked up: the claims read here are the ones the signature
    // covers, so the answer is the same, and another issuer's token (with its unknown kid) never
    // makes us fetch keys.
    if (claims.iss !== issuer.issuer) {
      return refuse({ refused: true, reason: 'authn.jwt.issuer_mismatch' }, credential);
    }
    if (segments.signature === '') {
      return refuse(
        { refused: true, reason: 'authn.jwt.signature_missing' },
        credential,
        undefined,
        facts,
      );
    }

    const selected = await selectKey(jose.alg, jose.kid);
    if (selected === 'unavailable') {
      return {
        ok: false,
        unavailable: true,
        denial: providerUnavailable(
          'authn.jwt.keys_unavailable',
          audit(credential, { ...facts, source: deps.keys.kind }, undefined),
        ),
      };
    }
    if (typeof selected === 'string') {
      return refuse(KEY_MISSES[selected], credential, undefined, facts);
    }
    try {
      // jose checks again that alg is the one expected and that the key fits it.
      await compactVerify(token, selected.key.key, { algorithms: [jose.alg] });
    } catch (err) {
      // jose's error code (ERR_JWS_SIGNATURE_VERIFICATION_FAILED...), never its message.
      const code = (err as { code?: unknown }).code;
      return refuse(
        {
          refused: true,
          reason: 'authn.jwt.signature_invalid',
          details: { error: typeof code === 'string' ? code : 'other' },
        },
        credential,
        undefined,
        facts,
      );
    }

    const kidFacts = { ...facts, kid: selected.key.kid };
    const consumer = mapping.consumerIdOf(claims);
    const defect =
      checkAudience(claims, audiences) ??
      checkClaimTypes(claims) ??
      checkTimes(claims, nowMs / 1000, skew) ??
      checkRequiredClaims(claims, issuer.requiredClaims) ??
      revoked(claims);
    if (defect !== undefined) return refuse(defect, credential, consumer, kidFacts);
    const subject = mapping.read(claims);
    if (isDefect(subject)) return refuse(subject, credential, consumer, kidFacts);

    deepFreeze(claims);
    const entry: VerifiedToken = {
      claims,
      credential,
      kid: selected.key.kid,
      thumbprint: selected.key.thumbprint,
      subject,
      generation: selected.set.generation,
      record: undefined,
      result: undefined,
    };
    cache.set(token, entry);
    return live(entry, nowMs);
  };

  /**
   * Whether this is the last `jwt:` method of the route and the route takes no introspection:
   * then a JWT-shaped bearer token no earlier jwt method claimed is this method's to refuse
   * (wrong issuer, unreadable), rather than reported as no credential at all.
   */
  const takesUnclaimed = (route: RouteAuthConfig): boolean => {
    let answer = lastJwtMethod.get(route);
    if (answer === undefined) {
      const jwt = route.methods.filter((m) => m.startsWith('jwt:'));
      answer =
        jwt[jwt.length - 1] === method &&
        !route.methods.some((m) => m.startsWith('introspection:'));
      lastJwtMethod.set(route, answer);
    }
    return answer;
  };

  return {
    method,
    challenge: 'Bearer',

    find(ctx, route) {
      const token = bearerToken(requestHeader(ctx, 'authorization'));
      if (token === undefined) return undefined;
      if (cache.has(token)) return { value: token, where: 'authorization' };
      if (!isJwsShaped(token)) return undefined;
      let mine = routed.get(token);
      if (mine === undefined) {
        mine = unverifiedIssuer(token, MAX_FIND_BYTES) === issuer.issuer;
        routed.set(token, mine);
      }
      return mine || takesUnclaimed(route) ? { value: token, where: 'authorization' } : undefined;
    },

    authenticate(presented) {
      const token = presented.value;
      const nowMs = deps.clock.now();
      const hit = cache.get(token);
      if (hit !== undefined) {
        const source = deps.keys;
        // Keys past their cache time are fetched in the background: a hit never waits.
        if (source.stale()) void source.refresh();
        const set = source.current();
        if (set !== undefined && (set.generation === hit.generation || set.holds(hit.thumbprint))) {
          hit.generation = set.generation;
          return live(hit, nowMs);
        }
        // The key that signed it is no longer published: verify again (and refuse).
        cache.delete(token);
      }
      return verify(token, nowMs);
    },
  };
}
