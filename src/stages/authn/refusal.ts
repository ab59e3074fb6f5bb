import type { Denial, DenialAudit } from '../../gateway/problems.js';

/**
 * The one text every authentication refusal shows the client. Whether a key exists, was revoked
 * or expired, or which claim of a token failed, is for the security event (its reason and the
 * credential's fingerprint), never the response: an attacker probing keys learns nothing.
 */
export const REFUSED_DETAIL =
  'The request does not carry a credential this route accepts, or the credential was refused.';

export const REALM = 'portcullis';

/** RFC 6750 section 3: `Bearer realm="...", error="invalid_token"`; RFC 7235 for the others. */
export function challengeOf(scheme: string, error?: 'invalid_request' | 'invalid_token'): string {
  const base = `${scheme} realm="${REALM}"`;
  return error === undefined ? base : `${base}, error="${error}"`;
}

/**
 * A 401 for a credential of `scheme` (`ApiKey`, `Bearer`, undefined for a client certificate):
 * `reason` names the one place that refused (docs/errors.md), `audit` what the event records.
 */
export function unauthenticated(
  reason: string,
  scheme: string | undefined,
  audit?: DenialAudit,
): Denial {
  return {
    kind: 'unauthenticated',
    reason,
    detail: REFUSED_DETAIL,
    ...(scheme === undefined
      ? {}
      : {
          headers: {
            'www-authenticate': challengeOf(
              scheme,
              scheme === 'Bearer' ? 'invalid_token' : undefined,
            ),
          },
        }),
    ...(audit === undefined ? {} : { audit }),
  };
}

/**
 * A 503: the credential could not be checked because the identity provider is down. Not a
 * 401: the client did nothing wrong, and a retry may succeed.
 */
export function providerUnavailable(reason: string, audit?: DenialAudit): Denial {
  return {
    kind: 'service-unavailable',
    reason,
    detail: 'The identity provider could not be reached; try again later.',
    headers: { 'retry-after': '5' },
    ...(audit === undefined ? {} : { audit }),
  };
}
