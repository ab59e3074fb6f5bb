import type { IncomingHttpHeaders } from 'node:http';

/**
 * The credentials of `Authorization: Bearer <token>` (RFC 6750 section 2.1), or undefined when
 * the header is absent or names another scheme. The scheme is matched without case (RFC 7235
 * section 2.1); the token is returned as sent, to be checked by `isBearerToken`.
 */
export function bearerCredentials(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (typeof value !== 'string' || value.length < 6) return undefined;
  if (value.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  if (value.length === 6) return '';
  // `Bearerx` is another scheme; `Bearer` and a space is ours, however malformed what follows.
  if (value[6] !== ' ') return undefined;
  return value.slice(7).replace(/^ +/, '');
}

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Linear: the two
// classes are disjoint, so there is one way to match.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `token` has the RFC 6750 syntax and at most `maxBytes` characters. */
export function isBearerToken(token: string, maxBytes: number): boolean {
  return token.length > 0 && token.length <= maxBytes && B64TOKEN.test(token);
}
