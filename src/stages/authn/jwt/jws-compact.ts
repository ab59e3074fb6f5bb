import { hasDuplicateTopLevelKey } from './json-duplicate-keys.js';
import type { JwtDefect } from './jwt-defect.js';

/** The three parts of a JWS in compact serialization, still encoded. */
export interface JwsSegments {
  readonly header: string;
  readonly payload: string;
  /** '' when the signature was stripped. */
  readonly signature: string;
}

/** A decoded JSON object (a JOSE header or a claims set); not yet verified. */
export interface JsonObjectSegment {
  readonly value: Readonly<Record<string, unknown>>;
}

/** The value of each base64url character, -1 for every other one. */
const B64URL = new Int8Array(128).fill(-1);
for (const [i, c] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries()) {
  B64URL[c.charCodeAt(0)] = i;
}

/**
 * Strict base64url (RFC 7515 section 2): its alphabet only (no `+`, `/`, `=` padding, spaces),
 * a length a real encoding can have, and zero bits after the last byte. A lenient decoder
 * reads `eyJ...=`, `ey J...` and `...Q` vs `...R` as the same bytes: several spellings of one
 * token would get past a cache or a revocation list keyed by its text.
 */
export function isCanonicalBase64url(s: string): boolean {
  const rest = s.length % 4;
  if (rest === 1) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || (B64URL[c] as number) < 0) return false;
  }
  if (rest === 0) return true;
  const last = B64URL[s.charCodeAt(s.length - 1)] as number;
  // 2 characters carry 8 bits (4 spare), 3 carry 16 (2 spare): the spare ones must be zero.
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/** Three dot-separated parts: what a JWS in compact serialization looks like (a JWE has five). */
export function isJwsShaped(token: string): boolean {
  const a = token.indexOf('.');
  if (a === -1) return false;
  const b = token.indexOf('.', a + 1);
  return b !== -1 && token.indexOf('.', b + 1) === -1;
}

/**
 * Splits a compact JWS. The size is checked first, before anything is decoded: decoding and
 * parsing are what an attacker's oversized token would make us pay for.
 */
export function splitCompactJws(token: string, maxBytes: number): JwsSegments | JwtDefect {
  if (token.length > maxBytes) {
    return {
      refused: true,
      reason: 'authn.jwt.too_large',
      details: { bytes: token.length, maxBytes },
    };
  }
  const a = token.indexOf('.');
  const b = a === -1 ? -1 : token.indexOf('.', a + 1);
  if (a <= 0 || b === -1 || b === a + 1 || token.indexOf('.', b + 1) !== -1) {
    // Not header.payload.signature: a JWE (five parts), or not a JWT at all.
    return { refused: true, reason: 'authn.jwt.malformed' };
  }
  const segments: JwsSegments = {
    header: token.slice(0, a),
    payload: token.slice(a + 1, b),
    signature: token.slice(b + 1),
  };
  for (const part of ['header', 'payload', 'signature'] as const) {
    if (!isCanonicalBase64url(segments[part])) {
      return { refused: true, reason: 'authn.jwt.base64', details: { segment: part } };
    }
  }
  return segments;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Decoded =
  { readonly ok: true; readonly text: string; readonly value: unknown } | { readonly ok: false };

/** base64url (already checked strict) → UTF-8 (invalid sequences refused) → JSON. */
function decodeJson(segment: string): Decoded {
  try {
    const text = utf8.decode(Buffer.from(segment, 'base64url'));
    return { ok: true, text, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JOSE header: a JSON object that names each member once. */
export function parseJoseHeader(segment: string): JsonObjectSegment | JwtDefect {
  const d = decodeJson(segment);
  if (!d.ok) return { refused: true, reason: 'authn.jwt.header_invalid' };
  if (!isPlainObject(d.value)) return { refused: true, reason: 'authn.jwt.header_not_object' };
  if (hasDuplicateTopLevelKey(d.text)) {
    return { refused: true, reason: 'authn.jwt.header_duplicate_key' };
  }
  return { value: d.value };
}

/**
 * The claims set: a JSON object that names each claim once (two `sub` claims are the same
 * ambiguity as two `alg` headers).
 */
export function parseClaimsSet(segment: string): JsonObjectSegment | JwtDefect {
  const d = decodeJson(segment);
  if (!d.ok) return { refused: true, reason: 'authn.jwt.payload_invalid' };
  if (!isPlainObject(d.value)) return { refused: true, reason: 'authn.jwt.payload_not_object' };
  if (hasDuplicateTopLevelKey(d.text)) {
    return { refused: true, reason: 'authn.jwt.payload_duplicate_key' };
  }
  return { value: d.value };
}

/**
 * The `iss` a token claims, unverified, or undefined when it cannot be read: only to tell which
 * issuer's method a token is for (`find`). Never throws.
 */
export function unverifiedIssuer(token: string, maxBytes: number): string | undefined {
  if (token.length > maxBytes) return undefined;
  const a = token.indexOf('.');
  const b = a === -1 ? -1 : token.indexOf('.', a + 1);
  if (b === -1) return undefined;
  const payload = token.slice(a + 1, b);
  if (!isCanonicalBase64url(payload)) return undefined;
  const d = decodeJson(payload);
  if (!d.ok || !isPlainObject(d.value)) return undefined;
  const iss = d.value.iss;
  return typeof iss === 'string' ? iss : undefined;
}
