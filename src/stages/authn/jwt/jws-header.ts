import { JWT_ALGORITHMS } from '../../../config/authn-schema.js';
import type { JwtDefect } from './jwt-defect.js';

/** What the verification uses from a JOSE header that passed every check. */
export interface CheckedHeader {
  readonly alg: string;
  /** The key id, only ever looked up in the issuer's key set. */
  readonly kid: string | undefined;
}

/**
 * Headers that bring their own key or say where to fetch one. Trusting any of them lets the
 * token choose the key it is verified with: an attacker signs with their own key and points
 * `jku`/`x5u` at their server, or embeds it (`jwk`, `x5c`; CVE-2018-0114). Keys come only from
 * the issuer's configured source, so a token that carries one of these is refused outright.
 */
const KEY_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set(JWT_ALGORITHMS);

export const MAX_KID_CHARS = 256;

/**
 * Key ids as issuers make them (thumbprints, UUIDs, `2024-06-key`, base64 with `+/=`, ARNs):
 * letters, digits and `._~+/=:@-`. Anything else (quotes, spaces, `;`, `%`, `\`, NUL and other
 * control characters), `..`, or more than 256 characters is an injection attempt against a
 * gateway that would use the kid as a path or in a query (`../../dev/null`, `' OR '1'='1`):
 * ours only looks it up in a map, but the event says it was an attack, not an unknown key.
 */
export function isWellFormedKid(kid: string): boolean {
  if (kid.length === 0 || kid.length > MAX_KID_CHARS || kid.includes('..')) return false;
  for (let i = 0; i < kid.length; i++) {
    const c = kid.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || // 0-9
      (c >= 0x40 && c <= 0x5a) || // @ A-Z
      (c >= 0x61 && c <= 0x7a) || // a-z
      c === 0x2b || // +
      c === 0x2d || // -
      c === 0x2e || // .
      c === 0x2f || // /
      c === 0x3a || // :
      c === 0x3d || // =
      c === 0x5f || // _
      c === 0x7e; // ~
    if (!ok) return false;
  }
  return true;
}

/**
 * `none` (in any case: `None`, `NONE`) would need no signature at all; HMAC would make the
 * issuer's public key a shared secret anyone has (the RS/HS confusion, CVE-2016-10555). Neither
 * is ever accepted, whatever a config lists.
 */
export function isForbiddenAlgorithm(alg: string): boolean {
  const lower = alg.toLowerCase();
  return lower === 'none' || lower.startsWith('hs');
}

/**
 * The checks of the JOSE header, in order, before any key is looked up or any signature
 * computed: `alg` present, never none or HMAC, in this issuer's list; no header that brings or
 * locates a key; no `crit` extension; a well-formed `kid`.
 */
export function checkJoseHeader(
  header: Readonly<Record<string, unknown>>,
  allowed: ReadonlySet<string>,
): CheckedHeader | JwtDefect {
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined;
  if (typeof alg !== 'string' || alg === '') {
    return { refused: true, reason: 'authn.jwt.alg_missing' };
  }
  if (isForbiddenAlgorithm(alg)) {
    return { refused: true, reason: 'authn.jwt.alg_forbidden' };
  }
  if (!allowed.has(alg)) {
    return {
      refused: true,
      reason: 'authn.jwt.alg_not_allowed',
      // Only a name we know goes to the event: the header is the attacker's text.
      details: { alg: KNOWN_ALGORITHMS.has(alg) ? alg : 'other' },
    };
  }
  for (const name of KEY_HEADERS) {
    if (Object.hasOwn(header, name)) {
      return { refused: true, reason: 'authn.jwt.key_header_refused', details: { header: name } };
    }
  }
  // RFC 7515 section 4.1.11: an extension the recipient does not understand must make it refuse
  // the token. We understand none (and an empty list is not allowed either).
  if (Object.hasOwn(header, 'crit')) {
    return { refused: true, reason: 'authn.jwt.crit_refused' };
  }
  let kid: string | undefined;
  if (Object.hasOwn(header, 'kid')) {
    const raw = header.kid;
    if (typeof raw !== 'string' || !isWellFormedKid(raw)) {
      return {
        refused: true,
        reason: 'authn.jwt.kid_malformed',
        details: { length: typeof raw === 'string' ? raw.length : -1 },
      };
    }
    kid = raw;
  }
  return { alg, kid };
}
