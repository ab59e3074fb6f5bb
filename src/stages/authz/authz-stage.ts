import type { RouteAuthzConfig } from '../../config/authz-schema.js';
import type { Denial } from '../../gateway/problems.js';
import {
  ALLOW,
  deny,
  type Identity,
  type RequestContext,
  type Stage,
  type Verdict,
} from '../../gateway/stage.js';
import { functionRulesByMethod } from './function-rules.js';
import type { OwnerLookup } from './owner-lookup.js';
import { OwnershipRules } from './ownership-rules.js';
import type { RoutePolicies } from './policies/policy-check.js';
import { createPropertyRules } from './properties/property-rules.js';
import { forbidden } from './refusal.js';

export interface AuthzStageOptions {
  readonly authz: RouteAuthzConfig;
  /** The route's methods: each gets its function-level rules at build time. */
  readonly methods: readonly string[];
  /** `authz.adminRole`. */
  readonly adminRole: string;
  /** The route's `auth.onProviderDown: anonymous`: authentication may let a caller through without an identity. */
  readonly anonymousAllowed: boolean;
  readonly ownerLookup?: OwnerLookup;
  /** The Cedar policies, for a route with `authz.policy: true`. */
  readonly policies?: RoutePolicies;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return v instanceof Promise;
}

const toVerdict = (denial: Denial | undefined): Verdict =>
  denial === undefined ? ALLOW : deny(denial);

/**
 * The authorization stage of one route, after authentication: function level (who may call
 * this method at all), then object level (whether the object the request names is the
 * caller's). Everything is compiled when the config loads; a request that is allowed without a
 * lookup costs a few comparisons and allocates nothing. Failures are refusals with their own
 * reason and the rule and object in the event (docs/authorization.md).
 */
export function createAuthzStage(opts: AuthzStageOptions): Stage {
  const { authz } = opts;
  const byMethod = functionRulesByMethod(authz, opts.methods, opts.adminRole);
  const owner =
    authz.owner === undefined ? undefined : new OwnershipRules(authz.owner, authz.hideExistence);
  const lookup = opts.ownerLookup;
  const bypass = authz.ownerBypassRoles ?? [];
  const objectLevel = owner !== undefined || lookup !== undefined;
  const lookupVerdict = (ctx: RequestContext, identity: Identity): Verdict | Promise<Verdict> => {
    if (lookup === undefined) return ALLOW;
    const looked = lookup.check(ctx, identity);
    return isPromise(looked) ? looked.then(toVerdict) : toVerdict(looked);
  };
  const policies = opts.policies;
  // Property level (properties/): only once the caller may call and touch the object. Write
  // rules in shadow mode are a stage of their own (shadowWriteStage), which the pipeline runs
  // unenforced right after this one.
  const properties = createPropertyRules(
    authz.properties?.write?.enforce === false
      ? { ...authz.properties, write: undefined }
      : authz.properties,
  );

  const decide = (ctx: RequestContext): Verdict | Promise<Verdict> => {
    const rules = byMethod.get(ctx.method);
    const identity = ctx.identity;
    if (identity === undefined) {
      // Only `onProviderDown: anonymous` lets a request through authentication without an
      // identity; it is allowed on where the route asks for nothing but authentication.
      if (
        opts.anonymousAllowed &&
        rules?.onlyAuthenticated === true &&
        !objectLevel &&
        policies === undefined
      )
        return ALLOW;
      return deny(forbidden(undefined, { reason: 'authz.identity.missing', rule: 'identity' }));
    }
    // The router only hands the stage the route's own methods; anything else is refused.
    if (rules === undefined)
      return deny(forbidden(identity, { reason: 'authz.method.unknown', rule: 'methods' }));
    const denied = rules.check(identity);
    if (denied !== undefined) return deny(denied);
    if (!objectLevel) return ALLOW;
    for (const role of bypass) if (identity.roles.includes(role)) return ALLOW;
    const ownerDenied = owner?.check(ctx, identity);
    // Rules that read the JSON body wait for it; the lookup comes after them either way.
    if (isPromise(ownerDenied))
      return ownerDenied.then((d) => (d === undefined ? lookupVerdict(ctx, identity) : deny(d)));
    if (ownerDenied !== undefined) return deny(ownerDenied);
    return lookupVerdict(ctx, identity);
  };
  // Then the Cedar policies (policies/): they can only narrow what the rules above allow.
  const withPolicies = (ctx: RequestContext, v: Verdict): Verdict | Promise<Verdict> => {
    if (!v.continue || policies === undefined || ctx.identity === undefined) return v;
    const denied = policies.check(ctx, ctx.identity);
    return isPromise(denied) ? denied.then(toVerdict) : toVerdict(denied);
  };
  const decideAll =
    policies === undefined
      ? decide
      : (ctx: RequestContext): Verdict | Promise<Verdict> => {
          const v = decide(ctx);
          return isPromise(v) ? v.then((done) => withPolicies(ctx, done)) : withPolicies(ctx, v);
        };
  if (properties === undefined) return { name: 'authz', onRequest: decideAll };
  const withProperties = (ctx: RequestContext, v: Verdict): Verdict | Promise<Verdict> =>
    v.continue ? properties.onRequest(ctx) : v;
  return {
    name: 'authz',
    onRequest(ctx) {
      const v = decideAll(ctx);
      return isPromise(v) ? v.then((done) => withProperties(ctx, done)) : withProperties(ctx, v);
    },
    ...(properties.onResponse === undefined ? {} : { onResponse: properties.onResponse }),
  };
}

/**
 * The write rules of a route whose `properties.write.enforce` is false (shadow mode), as a stage
 * the pipeline runs unenforced after the authorization stage (which has already allowed the
 * request): each violation is a refusal the pipeline records as a `request.denied.shadow`
 * event, and the request goes on with its body as the client sent it. Whatever `onViolation`
 * says, nothing is stripped: shadow mode changes no request. Undefined when the write rules are
 * enforced, or absent.
 */
export function createShadowWriteStage(authz: RouteAuthzConfig): Stage | undefined {
  const write = authz.properties?.write;
  if (write === undefined || write.enforce !== false) return undefined;
  const rules = createPropertyRules({ write: { ...write, onViolation: 'refuse' } });
  if (rules === undefined) return undefined;
  return { name: 'authz', onRequest: (ctx) => rules.onRequest(ctx) };
}
