import type { Logger } from 'pino';
import type { RouteAuthConfig } from '../../config/authn-schema.js';
import type { Config } from '../../config/schema.js';
import type { Clock, Stage } from '../../gateway/stage.js';
import type { AuthnStages } from '../../gateway/runtime.js';
import type { Authenticator } from './authenticator.js';
import { createAuthnStage } from './authn-stage.js';
import { UpstreamIdentity } from './upstream-identity.js';

export interface AuthnServicesDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * What authentication keeps beyond one config generation (key indexes kept in sync with the
 * store, issuer key caches, introspection caches), opened once at start; `build` makes the
 * authenticators of one config from them, synchronously, at start and at every reload.
 */
export class AuthnServices {
  readonly #deps: AuthnServicesDeps;

  private constructor(deps: AuthnServicesDeps) {
    this.#deps = deps;
  }

  static async open(deps: AuthnServicesDeps): Promise<AuthnServices> {
    return new AuthnServices(deps);
  }

  /** The authentication of one config generation; throws on a method it cannot build. */
  build(config: Config): AuthnStages {
    const upstream = new UpstreamIdentity(config.authn.upstream, undefined);
    const credentialHeaders = [...new Set(['authorization', ...config.authn.apiKeys.headers])];
    const methods = new Map<string, Authenticator>();
    const method = (name: string): Authenticator => {
      let a = methods.get(name);
      if (a === undefined) {
        a = this.#create(name, config);
        methods.set(name, a);
      }
      return a;
    };
    return {
      stageFor: (route: string, auth: RouteAuthConfig): Stage =>
        createAuthnStage({
          route,
          auth,
          authenticators: auth.methods.map(method),
          credentialHeaders,
          queryParam: config.authn.apiKeys.queryParam,
          upstream,
        }),
    };
  }

  #create(name: string, _config: Config): Authenticator {
    this.#deps.log.debug({ method: name }, 'building authenticator');
    throw new Error(`authentication method ${name} is not available`);
  }

  async close(): Promise<void> {}
}
