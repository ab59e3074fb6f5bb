import type { Denial } from '../../gateway/problems.js';
import type { Identity, RequestContext } from '../../gateway/stage.js';
import { clientCertificateThumbprint } from './mtls/certificate-thumbprint.js';
import { unauthenticated } from './refusal.js';

/**
 * RFC 8705 section 3: a token bound to a client certificate (`cnf: { "x5t#S256": ... }`) is
 * only good on a connection that presents that certificate. A stolen bound token replayed from
 * another client, or over a connection without a certificate, is refused.
 */
export function checkCertificateBinding(
  ctx: RequestContext,
  identity: Identity,
): Denial | undefined {
  const cnf = identity.claims?.cnf;
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const bound = (cnf as Record<string, unknown>)['x5t#S256'];
  if (bound === undefined) return undefined;
  const presented = clientCertificateThumbprint(ctx);
  if (typeof bound === 'string' && presented !== undefined && presented === bound) return undefined;
  return unauthenticated('authn.token.certificate_mismatch', 'Bearer', {
    credential: identity.credential,
    consumer: identity.consumerId,
    details: { method: identity.method, certificate: presented !== undefined },
  });
}
