import { ownClaim } from '../claim-mapping.js';
import type { JwtDefect } from './jwt-defect.js';

type Claims = Readonly<Record<string, unknown>>;

/** A jti longer than this could not be revoked (cluster-state members are bounded). */
export const MAX_JTI_CHARS = 256;

/** `aud` (RFC 7519 section 4.1.3): a string or a list of them, one of which we accept. */
export function checkAudience(
  claims: Claims,
  audiences: ReadonlySet<string>,
): JwtDefect | undefined {
  const aud = ownClaim(claims, 'aud');
  if (aud === undefined || (Array.isArray(aud) && aud.length === 0)) {
    return { refused: true, reason: 'authn.jwt.audience_missing' };
  }
  const named = Array.isArray(aud) ? aud : [aud];
  if (!named.some((a) => typeof a === 'string' && audiences.has(a))) {
    // A token for another API of the same issuer: replaying it here is the attack.
    return { refused: true, reason: 'authn.jwt.audience_mismatch' };
  }
  return undefined;
}

const isTime = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/**
 * Registered claims of the wrong type: a string `exp` ("9999999999") would be compared as a
 * string by some libraries and skipped by others; one reading only, so it is refused.
 */
export function checkClaimTypes(claims: Claims): JwtDefect | undefined {
  for (const name of ['exp', 'nbf', 'iat']) {
    const v = ownClaim(claims, name);
    if (v !== undefined && !isTime(v)) {
      return { refused: true, reason: 'authn.jwt.claim_invalid', details: { claim: name } };
    }
  }
  const jti = ownClaim(claims, 'jti');
  if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_CHARS)) {
    return { refused: true, reason: 'authn.jwt.jti_invalid' };
  }
  return undefined;
}

/**
 * `exp` (required: a token that never expires cannot be contained once stolen), `nbf` and `iat`
 * against the injected clock, each with `skew` seconds of tolerance for clocks that drift.
 */
export function checkTimes(
  claims: Claims,
  nowSeconds: number,
  skew: number,
): JwtDefect | undefined {
  const exp = ownClaim(claims, 'exp');
  if (typeof exp !== 'number') return { refused: true, reason: 'authn.jwt.exp_missing' };
  if (exp <= nowSeconds - skew) {
    return { refused: true, reason: 'authn.jwt.expired', details: { exp } };
  }
  const nbf = ownClaim(claims, 'nbf');
  if (typeof nbf === 'number' && nbf > nowSeconds + skew) {
    return { refused: true, reason: 'authn.jwt.not_yet_valid', details: { nbf } };
  }
  // Issued in the future: a forged or mis-clocked token, possibly made to outlive its exp.
  const iat = ownClaim(claims, 'iat');
  if (typeof iat === 'number' && iat > nowSeconds + skew) {
    return { refused: true, reason: 'authn.jwt.iat_future', details: { iat } };
  }
  return undefined;
}

/** The issuer's `requiredClaims`: each present (null counts as absent). */
export function checkRequiredClaims(
  claims: Claims,
  required: readonly string[],
): JwtDefect | undefined {
  for (const name of required) {
    const v = ownClaim(claims, name);
    if (v === undefined || v === null) {
      return { refused: true, reason: 'authn.jwt.claim_missing', details: { claim: name } };
    }
  }
  return undefined;
}
