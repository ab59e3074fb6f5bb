import type { Logger } from 'pino';
import type { RouteAuthConfig } from '../../config/authn-schema.js';
import type { Config } from '../../config/schema.js';
import type { AuthnStages } from '../../gateway/runtime.js';
import type { Clock, Stage } from '../../gateway/stage.js';
import type { GatewayState } from '../../state/gateway-state.js';
import { createApiKeyAuthenticator } from './api-key/api-key-authenticator.js';
import { ApiKeyIndex } from './api-key/api-key-index.js';
import type { Authenticator, AuthnDeps } from './authenticator.js';
import { createAuthnStage, type IdentityBlocks } from './authn-stage.js';
import { ConsumerDirectory } from './consumer-directory.js';
import { IdentitySigningKeys } from './identity-signing-key.js';
import { IdentityTokens } from './identity-token.js';
import { createIntrospectionAuthenticator } from './introspection/introspection-authenticator.js';
import { IntrospectionCaches } from './introspection/introspection-cache.js';
import { JtiRevocations } from './jwt/jti-revocations.js';
import { JwtKeySources } from './jwt/jwt-key-registry.js';
import { createJwtAuthenticator } from './jwt/jwt-authenticator.js';
import { createMtlsAuthenticator } from './mtls/mtls-authenticator.js';
import { UpstreamIdentity } from './upstream-identity.js';

export interface AuthnServicesDeps {
  readonly state: Pick<GatewayState, 'db' | 'cluster' | 'keys' | 'secrets'>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Dev mode: a signing key that no longer decrypts (its master key was thrown away) is replaced. */
  readonly devMode: boolean;
  /** Blocked consumers and credentials, checked as soon as a credential is accepted. */
  readonly blocks?: IdentityBlocks;
}

/**
 * What authentication keeps beyond one config generation, opened once at start: the API key
 * index and the consumer directory (both kept in sync with the store), the issuers' key caches,
 * the introspection caches, the jti revocation set and the identity signing keys. `build` makes
 * the authenticators of one config from them, synchronously, at start and at every reload, so
 * that a reload never starts cold.
 */
export class AuthnServices {
  readonly #deps: AuthnServicesDeps;
  readonly #apiKeys: ApiKeyIndex;
  readonly #directory: ConsumerDirectory;
  readonly #jwtKeys: JwtKeySources;
  readonly #revocations: JtiRevocations;
  readonly #introspection = new IntrospectionCaches();
  readonly #signingKeys: IdentitySigningKeys;

  private constructor(
    deps: AuthnServicesDeps,
    parts: {
      apiKeys: ApiKeyIndex;
      directory: ConsumerDirectory;
      jwtKeys: JwtKeySources;
      revocations: JtiRevocations;
      signingKeys: IdentitySigningKeys;
    },
  ) {
    this.#deps = deps;
    this.#apiKeys = parts.apiKeys;
    this.#directory = parts.directory;
    this.#jwtKeys = parts.jwtKeys;
    this.#revocations = parts.revocations;
    this.#signingKeys = parts.signingKeys;
  }

  /** Opens every part, or closes what was opened and throws. Call after the state is open. */
  static async open(deps: AuthnServicesDeps): Promise<AuthnServices> {
    const { state, clock, log } = deps;
    const opened: { close(): unknown }[] = [];
    try {
      const apiKeys = await ApiKeyIndex.open({
        db: state.db,
        cluster: state.cluster,
        keyRing: state.keys,
        clock,
        log,
      });
      opened.push(apiKeys);
      const directory = await ConsumerDirectory.open({
        db: state.db,
        cluster: state.cluster,
        log,
      });
      opened.push(directory);
      const jwtKeys = new JwtKeySources({ clock, log });
      opened.push(jwtKeys);
      const revocations = await JtiRevocations.open(state.cluster);
      const signingKeys = await IdentitySigningKeys.open({
        secrets: state.secrets,
        clock,
        log,
        replaceUnreadable: deps.devMode,
      });
      return new AuthnServices(deps, { apiKeys, directory, jwtKeys, revocations, signingKeys });
    } catch (err) {
      for (const part of opened.reverse()) await part.close();
      throw err;
    }
  }

  /** The JWKS document of the identity signing keys, for the ops listener. */
  jwks(): { keys: readonly object[] } {
    return this.#signingKeys.jwks();
  }

  /** Resolves once the first fetch of every remote issuer key set has ended (never rejects). */
  ready(): Promise<void> {
    return this.#jwtKeys.ready();
  }

  /**
   * The authentication of one config generation. Throws (and the config is refused) when a
   * method cannot be built: a keys file that does not parse, a key URL that is not HTTPS.
   */
  build(config: Config): AuthnStages {
    const { clock, log } = this.#deps;
    const token = config.authn.upstream.token;
    const upstream = new UpstreamIdentity(
      config.authn.upstream,
      token.enabled ? new IdentityTokens(this.#signingKeys, token) : undefined,
    );
    const deps: AuthnDeps = {
      clock,
      log,
      consumers: this.#directory.withConfig(config.consumers),
    };
    const credentialHeaders = [...new Set(['authorization', ...config.authn.apiKeys.headers])];
    const methods = new Map<string, Authenticator>();
    const method = (name: string): Authenticator => {
      let a = methods.get(name);
      if (a === undefined) {
        a = this.#create(name, config, deps);
        methods.set(name, a);
      }
      return a;
    };
    // Every method of every route is built now, so that a bad one refuses the whole config.
    const routeMethods = new Map<string, Authenticator[]>();
    for (const r of config.routes) {
      const auth = r.auth ?? config.defaults.auth;
      if (auth !== undefined) routeMethods.set(r.name, auth.methods.map(method));
    }
    return {
      stageFor: (route: string, auth: RouteAuthConfig): Stage =>
        createAuthnStage({
          route,
          auth,
          authenticators: routeMethods.get(route) ?? auth.methods.map(method),
          credentialHeaders,
          queryParam: config.authn.apiKeys.queryParam,
          upstream,
          ...(this.#deps.blocks === undefined ? {} : { blocks: this.#deps.blocks }),
        }),
    };
  }

  /** After `config`'s generation was swapped in: drops the key caches no issuer uses any more. */
  committed(config: Config): void {
    this.#jwtKeys.prune(config.authn.issuers);
  }

  #create(name: string, config: Config, deps: AuthnDeps): Authenticator {
    const colon = name.indexOf(':');
    const kind = colon === -1 ? name : name.slice(0, colon);
    const ref = colon === -1 ? '' : name.slice(colon + 1);
    switch (kind) {
      case 'api-key':
        return createApiKeyAuthenticator(config.authn.apiKeys, { ...deps, keys: this.#apiKeys });
      case 'mtls':
        return createMtlsAuthenticator(config.consumers, deps);
      case 'jwt': {
        const issuer = config.authn.issuers[ref];
        if (issuer === undefined) throw new Error(`no issuer ${ref} in authn.issuers`);
        return createJwtAuthenticator(ref, issuer, {
          ...deps,
          keys: this.#jwtKeys.sourceFor(ref, issuer),
          revocations: this.#revocations,
        });
      }
      case 'introspection': {
        const endpoint = config.authn.introspection[ref];
        if (endpoint === undefined) throw new Error(`no endpoint ${ref} in authn.introspection`);
        return createIntrospectionAuthenticator(ref, endpoint, {
          ...deps,
          secrets: this.#deps.state.secrets,
          caches: this.#introspection,
        });
      }
      default:
        throw new Error(`unknown authentication method ${name}`);
    }
  }

  async close(): Promise<void> {
    this.#signingKeys.close();
    await this.#jwtKeys.close();
    await this.#directory.close();
    await this.#apiKeys.close();
  }
}
