import type { RouteAuthConfig } from '../../../src/config/authn-schema.js';
import type { Stage } from '../../../src/gateway/stage.js';
import type { Authenticator } from '../../../src/stages/authn/authenticator.js';
import { createAuthnStage } from '../../../src/stages/authn/authn-stage.js';
import { UpstreamIdentity } from '../../../src/stages/authn/upstream-identity.js';

/** The identity headers of the default config, without the signed identity token. */
const IDENTITY_HEADERS = new UpstreamIdentity(
  {
    headers: {
      consumer: 'x-consumer-id',
      scopes: 'x-consumer-scopes',
      roles: 'x-consumer-roles',
      method: 'x-authenticated-by',
    },
    token: {
      enabled: false,
      header: 'x-portcullis-identity',
      ttlSeconds: 60,
      issuer: 'portcullis',
      audience: 'upstream',
    },
  },
  undefined,
);

/**
 * The real authentication stage of a route (`accounts`) taking `authenticators`, as the gateway
 * builds it: the upstream gets the default identity headers; `credentialHeaders` are the headers
 * that can carry a credential, removed from what the upstream receives.
 */
export function routeStage(
  auth: RouteAuthConfig,
  authenticators: readonly Authenticator[],
  credentialHeaders: readonly string[] = ['authorization'],
): Stage {
  return createAuthnStage({
    route: 'accounts',
    auth,
    authenticators,
    credentialHeaders,
    queryParam: 'api_key',
    upstream: IDENTITY_HEADERS,
  });
}
