import { Agent } from 'undici';
import type { Config, RouteConfig } from '../../config/schema.js';
import type { Clock, Stage } from '../../gateway/stage.js';
import { createAuthzStage, createShadowWriteStage } from './authz-stage.js';
import { OwnerCache } from './owner-cache.js';
import { routePolicies, type RoutePolicies } from './policies/policy-check.js';
import { createPolicyEngine, type PolicyEngine } from './policies/policy-engine.js';
import { OwnerLookup } from './owner-lookup.js';
import { lookupTarget, OwnerLookupClient } from './owner-lookup-client.js';

/** Builds each route's authorization stage for one config generation. */
export interface AuthzStages {
  /** The route's stage; undefined for a public route, which has no identity to check. */
  stageFor(route: RouteConfig): Stage | undefined;
  /**
   * The route's write rules in shadow mode (`properties.write.enforce: false`), to run
   * unenforced right after its stage; undefined when it has none.
   */
  shadowStageFor(route: RouteConfig): Stage | undefined;
}

// Enough parallel lookups for a burst of new ids; more wait for a connection (within timeoutMs).
const CONNECTIONS = 32;

/**
 * What authorization keeps beyond one config generation: the connections to the ownership
 * endpoints and the lookup caches, so that a reload does not start cold (a cache is kept when
 * its route's lookup is unchanged).
 */
export class AuthzServices {
  readonly #clock: Clock;
  // undici follows no redirects unless told to: an answer cannot send the lookup elsewhere.
  readonly #agent = new Agent({
    connections: CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 10_000,
  });
  #caches = new Map<string, OwnerCache>();
  #policies: PolicyEngine | undefined;

  constructor(deps: { readonly clock: Clock }) {
    this.#clock = deps.clock;
  }

  /**
   * The authorization of one config generation. Throws (and the config is refused) when a
   * route asks for what this gateway does not enforce, rather than let it through unchecked.
   */
  build(config: Config): AuthzStages {
    const caches = new Map<string, OwnerCache>();
    const stages = new Map<string, Stage>();
    const shadows = new Map<string, Stage>();
    let engine: PolicyEngine | undefined;
    for (const route of config.routes) {
      const auth = route.auth ?? config.defaults.auth;
      if (auth === undefined || auth.public) continue;
      const authz = route.authz ?? config.defaults.authz;
      // The loader refuses a route that takes credentials without authz; this guards a config built by hand.
      if (authz === undefined) throw new Error(`route ${route.name}: no authz`);
      let policies: RoutePolicies | undefined;
      if (authz.policy === true) {
        // The loader refuses `policy: true` without authz.policies; this guards a config built by hand.
        if (config.authz.policies === undefined)
          throw new Error(`route ${route.name}: authz.policy without authz.policies`);
        // Read, parsed and validated once per config generation, kept when the files are unchanged.
        engine ??= createPolicyEngine(config.authz.policies, { previous: this.#policies });
        policies = routePolicies(engine, authz.policyBody === true);
      }
      let ownerLookup: OwnerLookup | undefined;
      const lookup = authz.ownerLookup;
      if (lookup !== undefined) {
        const key = `${route.name}\n${JSON.stringify(lookup)}`;
        const cache =
          this.#caches.get(key) ??
          new OwnerCache(lookup.cacheEntries, lookup.cacheSeconds, this.#clock);
        caches.set(key, cache);
        const client = new OwnerLookupClient(
          lookupTarget(lookup.url),
          lookup.ownerField,
          lookup.timeoutMs,
          this.#agent,
        );
        ownerLookup = new OwnerLookup(lookup, authz.hideExistence, { cache, client });
      }
      stages.set(
        route.name,
        createAuthzStage({
          authz,
          methods: route.methods,
          adminRole: config.authz.adminRole,
          anonymousAllowed: auth.onProviderDown === 'anonymous',
          ownerLookup,
          policies,
        }),
      );
      const shadow = createShadowWriteStage(authz);
      if (shadow !== undefined) shadows.set(route.name, shadow);
    }
    this.#caches = caches;
    this.#policies = engine;
    return {
      stageFor: (route) => stages.get(route.name),
      shadowStageFor: (route) => shadows.get(route.name),
    };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
