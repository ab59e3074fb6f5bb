import { displayUrl, KeyFetchError } from './jwks-fetch.js';

/**
 * OpenID Connect Discovery 1.0 section 4: `{issuer}/.well-known/openid-configuration`, the
 * issuer's trailing `/` removed first.
 */
export function discoveryUrl(issuer: string): string {
  let end = issuer.length;
  while (end > 0 && issuer.charCodeAt(end - 1) === 0x2f /* / */) end--;
  return `${issuer.slice(0, end)}/.well-known/openid-configuration`;
}

/** Keys are fetched over HTTPS only, unless the issuer's config allows plain HTTP (tests). */
export function checkKeyUrl(url: string, allowInsecureHttp: boolean, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KeyFetchError(`${what} is not a URL`);
  }
  if (u.protocol !== 'https:' && !(allowInsecureHttp && u.protocol === 'http:')) {
    throw new KeyFetchError(
      `${what} ${displayUrl(url)} is not https (allowInsecureHttp is for tests only)`,
    );
  }
  return url;
}

/**
 * The `jwks_uri` of a discovery document. Section 4.3: the document's `issuer` must be exactly
 * the configured one; otherwise whoever answers at that URL (a mix-up, a hijacked path, a
 * multi-tenant provider's other tenant) would choose which keys we trust for this issuer.
 */
export function jwksUriFromDiscovery(
  doc: unknown,
  issuer: string,
  allowInsecureHttp: boolean,
): string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new KeyFetchError('the discovery document is not a JSON object');
  }
  const { issuer: said, jwks_uri: uri } = doc as Record<string, unknown>;
  if (said !== issuer) {
    throw new KeyFetchError('the discovery document names another issuer');
  }
  if (typeof uri !== 'string') throw new KeyFetchError('the discovery document has no jwks_uri');
  return checkKeyUrl(uri, allowInsecureHttp, 'jwks_uri');
}
