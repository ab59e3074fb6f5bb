/** "bearer", compared without allocating: `| 0x20` lower-cases an ASCII letter. */
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72];

/**
 * The credentials of `Authorization: Bearer <token>` (RFC 6750 section 2.1) in the header's
 * `value`, or undefined when the header is absent or names another scheme. The scheme is
 * matched without case (RFC 7235 section 2.1) and only the first space(s) are the separator:
 * the token is returned as sent (with spaces inside, or '' when nothing follows), for its
 * method to refuse as malformed.
 */
export function bearerToken(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string' || value.length < 6) return undefined;
  for (let i = 0; i < 6; i++) {
    if ((value.charCodeAt(i) | 0x20) !== BEARER[i]) return undefined;
  }
  if (value.length === 6) return '';
  // `Bearerx` is another scheme; `Bearer` and a space is ours, however malformed what follows.
  if (value.charCodeAt(6) !== 0x20) return undefined;
  let i = 7;
  while (value.charCodeAt(i) === 0x20) i++;
  return value.slice(i);
}

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Linear: the two
// classes are disjoint, so there is one way to match.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `token` has the RFC 6750 syntax and at most `maxBytes` characters. */
export function isBearerToken(token: string, maxBytes: number): boolean {
  return token.length > 0 && token.length <= maxBytes && B64TOKEN.test(token);
}
