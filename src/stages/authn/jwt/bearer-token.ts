/** "bearer", compared without allocating: `| 0x20` lower-cases an ASCII letter. */
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72];

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 section 2.1; the scheme is
 * case-insensitive, RFC 7235 section 2.1), or undefined. Only the first space(s) are the
 * separator: a token with spaces inside is returned as is, and refused as malformed.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  for (let i = 0; i < 6; i++) {
    if ((header.charCodeAt(i) | 0x20) !== BEARER[i]) return undefined;
  }
  let i = 6;
  if (header.charCodeAt(i) !== 0x20) return undefined;
  while (header.charCodeAt(i) === 0x20) i++;
  return i < header.length ? header.slice(i) : undefined;
}

/** Three dot-separated parts: what a JWS in compact serialization looks like (a JWE has five). */
export function isJwsShaped(token: string): boolean {
  const a = token.indexOf('.');
  if (a === -1) return false;
  const b = token.indexOf('.', a + 1);
  return b !== -1 && token.indexOf('.', b + 1) === -1;
}
