import type { RouteAuthzConfig } from '../../config/authz-schema.js';
import type { Denial } from '../../gateway/problems.js';
import type { Identity } from '../../gateway/stage.js';
import { forbidden } from './refusal.js';

/** The function-level rules of one level: the route's, or one method's. */
type FunctionRulesConfig = Pick<
  RouteAuthzConfig,
  'anyAuthenticated' | 'scopes' | 'roles' | 'admin'
>;

/** Who may call one method of a route; undefined when the caller may. */
export interface FunctionRules {
  /** Only `anyAuthenticated`: nothing to check once there is an identity. */
  readonly onlyAuthenticated: boolean;
  check(identity: Identity): Denial | undefined;
}

const EMPTY: readonly string[] = Object.freeze([]);

function hasAll(have: readonly string[], need: readonly string[]): boolean {
  for (const n of need) if (!have.includes(n)) return false;
  return true;
}

function hasAny(have: readonly string[], need: readonly string[]): boolean {
  for (const n of need) if (have.includes(n)) return true;
  return false;
}

/**
 * Compiles one level's rules. The admin check reads the role the gateway names in
 * `authz.adminRole`; the route that was matched on the canonical path is what it guards, so no
 * other spelling of the path (`/ADMIN`, `/a/../admin`, `%2e%2e`) reaches the operation without it.
 */
function compile(rules: FunctionRulesConfig, adminRole: string, prefix: string): FunctionRules {
  const scopesAll = rules.scopes?.allOf ?? EMPTY;
  const scopesAny = rules.scopes?.anyOf ?? EMPTY;
  const rolesAll = rules.roles?.allOf ?? EMPTY;
  const rolesAny = rules.roles?.anyOf ?? EMPTY;
  const admin = rules.admin === true;
  return {
    onlyAuthenticated:
      !admin && scopesAll.length + scopesAny.length + rolesAll.length + rolesAny.length === 0,
    check(identity) {
      if (admin && !identity.roles.includes(adminRole))
        return forbidden(identity, { reason: 'authz.admin.required', rule: `${prefix}admin` });
      if (!hasAll(identity.scopes, scopesAll))
        return forbidden(identity, {
          reason: 'authz.scope.missing',
          rule: `${prefix}scopes.allOf`,
        });
      if (scopesAny.length > 0 && !hasAny(identity.scopes, scopesAny))
        return forbidden(identity, {
          reason: 'authz.scope.none_of',
          rule: `${prefix}scopes.anyOf`,
        });
      if (!hasAll(identity.roles, rolesAll))
        return forbidden(identity, { reason: 'authz.role.missing', rule: `${prefix}roles.allOf` });
      if (rolesAny.length > 0 && !hasAny(identity.roles, rolesAny))
        return forbidden(identity, { reason: 'authz.role.none_of', rule: `${prefix}roles.anyOf` });
      return undefined;
    },
  };
}

/**
 * The function-level rules of each method of a route: a method listed in `methods` has its own
 * (they replace the route's); HEAD without its own takes GET's, since it answers what GET
 * answers; every other method has the route's.
 */
export function functionRulesByMethod(
  authz: RouteAuthzConfig,
  methods: readonly string[],
  adminRole: string,
): ReadonlyMap<string, FunctionRules> {
  const routeLevel = compile(authz, adminRole, '');
  const byMethod = new Map<string, FunctionRules>();
  const own = authz.methods ?? {};
  for (const method of methods) {
    const key = Object.hasOwn(own, method)
      ? method
      : method === 'HEAD' && Object.hasOwn(own, 'GET')
        ? 'GET'
        : undefined;
    const rules = key === undefined ? undefined : own[key];
    byMethod.set(
      method,
      rules === undefined ? routeLevel : compile(rules, adminRole, `methods.${key ?? method}.`),
    );
  }
  return byMethod;
}
