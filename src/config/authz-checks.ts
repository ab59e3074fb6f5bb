/**
 * The checks of authorization the schema cannot express (docs/authorization.md): default deny
 * (every route that takes credentials says who may call it), rules that can be met and name
 * what exists (a path parameter of every path, a method of the route, an http(s) lookup URL).
 */

import { propertyRuleProblems } from '../stages/authz/properties/property-rule-checks.js';

type Seg = string | number;
type Path = readonly Seg[];

/** The part of the loader's reporter these checks use. */
export interface AuthzReporter {
  report(path: Path, message: string, key?: string): void;
  show(path: Path, value: string): string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

export const SAYS_NOTHING_ABOUT_AUTHZ =
  'says nothing about authorization: add authz.anyAuthenticated: true, scopes, roles, owner, ' +
  'ownerLookup or policy, here or in defaults.authz';

/** A `{param}` of each `:param` segment, and `*` for a final wildcard. */
function paramsOf(path: string): Set<string> {
  const names = new Set<string>();
  for (const m of path.matchAll(/\/:([A-Za-z0-9_]+)/g)) names.add(m[1] as string);
  if (path.endsWith('*')) names.add('*');
  return names;
}

/** Whether a scopes or roles requirement names at least one. */
function requires(req: unknown): boolean {
  if (!isRecord(req)) return false;
  return listOf(req.allOf).length > 0 || listOf(req.anyOf).length > 0;
}

function statesFunction(rules: Record<string, unknown>): boolean {
  return (
    rules.anyAuthenticated === true ||
    rules.admin === true ||
    requires(rules.scopes) ||
    requires(rules.roles)
  );
}

/** Function-level rules of one level (the route or one method): each says something. */
function checkFunctionRules(r: AuthzReporter, rules: Record<string, unknown>, at: Path): void {
  for (const key of ['scopes', 'roles'] as const) {
    const req = rules[key];
    if (!isRecord(req)) continue;
    if (req.allOf === undefined && req.anyOf === undefined)
      r.report([...at, key], 'requires nothing: give allOf or anyOf');
    for (const list of ['allOf', 'anyOf'] as const) {
      // `anyOf: []` can never be met and `allOf: []` asks for nothing: both are mistakes.
      if (Array.isArray(req[list]) && req[list].length === 0)
        r.report([...at, key, list], `must name at least one of the ${key}`);
    }
  }
  const narrowing = ['scopes', 'roles', 'admin'].filter(
    (k) => rules[k] !== undefined && rules[k] !== false,
  );
  if (rules.anyAuthenticated === true && narrowing.length > 0)
    r.report(
      [...at, 'anyAuthenticated'],
      `says any authenticated consumer may call, but ${narrowing.join(', ')} narrow it: remove one or the other`,
    );
}

/** `value.param` must be a parameter of every path of the route, or the rule reads nothing. */
function checkValue(
  r: AuthzReporter,
  value: unknown,
  at: Path,
  paths: readonly string[],
  route: string,
): void {
  if (!isRecord(value)) return;
  if (typeof value.param === 'string') {
    const name = value.param;
    for (const path of paths) {
      const params = paramsOf(path);
      if (params.has(name)) continue;
      const has = params.size === 0 ? 'it has none' : `its parameters: ${[...params].join(', ')}`;
      r.report(
        [...at, 'param'],
        `${r.show([...at, 'param'], name)} is not a parameter of the path ${JSON.stringify(path)} of route ${JSON.stringify(route)} (${has})`,
      );
    }
  }
}

/** `{value}` goes into the path or query of an http(s) URL, never its host. */
function checkLookupUrl(r: AuthzReporter, url: unknown, at: Path): void {
  if (typeof url !== 'string') return;
  const m = /^https?:\/\/([^/?#]+)([/?][^#]*)$/i.exec(url);
  if (m === null || (m[1] ?? '').includes('{')) {
    r.report(at, 'must be an http(s) URL with a path, and {value} in its path or query');
    return;
  }
  if (!url.includes('{value}')) {
    r.report(at, 'must contain {value}, where the object id goes');
    return;
  }
  const probe = url.replaceAll('{value}', 'x');
  if (!URL.canParse(probe) || /[{}]/.test(probe))
    r.report(at, 'must be an http(s) URL whose only placeholder is {value}');
}

function checkRouteAuthz(
  r: AuthzReporter,
  authz: Record<string, unknown>,
  at: Path,
  route: Record<string, unknown>,
  config: Record<string, unknown>,
): void {
  const name = typeof route.name === 'string' ? route.name : '';
  const paths = listOf(route.paths).filter((p): p is string => typeof p === 'string');
  const routeMethods = listOf(route.methods).filter((m): m is string => typeof m === 'string');
  checkFunctionRules(r, authz, at);

  const methods = isRecord(authz.methods) ? authz.methods : {};
  for (const [method, rules] of Object.entries(methods)) {
    if (!isRecord(rules)) continue;
    const here = [...at, 'methods', method];
    if (!routeMethods.includes(method))
      r.report(
        here,
        `route ${JSON.stringify(name)} does not accept ${method}; its methods: ${routeMethods.join(', ')}`,
      );
    checkFunctionRules(r, rules, here);
  }

  const objectRules =
    authz.owner !== undefined || authz.ownerLookup !== undefined || authz.policy === true;
  for (const method of routeMethods) {
    // HEAD answers what GET answers: without its own rules it takes GET's (docs/authorization.md).
    const own = methods[method] ?? (method === 'HEAD' ? methods.GET : undefined);
    const rules = isRecord(own) ? own : authz;
    if (statesFunction(rules) || objectRules) continue;
    const which = isRecord(own) ? ['methods', method] : [];
    r.report(
      [...at, ...which],
      `says nothing about who may call ${method} ${JSON.stringify(name)}: add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy`,
    );
    if (!isRecord(own)) break;
  }

  listOf(authz.owner).forEach((rule, j) => {
    if (isRecord(rule)) checkValue(r, rule.value, [...at, 'owner', j, 'value'], paths, name);
  });
  const lookup = authz.ownerLookup;
  if (isRecord(lookup)) {
    checkValue(r, lookup.value, [...at, 'ownerLookup', 'value'], paths, name);
    checkLookupUrl(r, lookup.url, [...at, 'ownerLookup', 'url']);
  }
  if (authz.ownerBypassRoles !== undefined && authz.owner === undefined && lookup === undefined)
    r.report(
      [...at, 'ownerBypassRoles'],
      'bypasses nothing: the route has no owner or ownerLookup',
    );
  for (const problem of propertyRuleProblems(authz.properties))
    r.report([...at, 'properties', ...problem.path], problem.message);
  const section = isRecord(config.authz) ? config.authz : {};
  if (authz.policy === true && section.policies === undefined)
    r.report([...at, 'policy'], 'needs the Cedar policies of authz.policies');
}

/**
 * Default deny: every route that takes credentials has an `authz` (its own or
 * `defaults.authz`) that says who may call each of its methods; a public route has no identity
 * for function- or object-level rules to check, so it may not have any.
 */
export function checkAuthz(r: AuthzReporter, config: Record<string, unknown>): void {
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route)) return;
    const auth = route.auth ?? defaults.auth;
    // A route without a valid auth is already refused: its authorization would be noise.
    if (!isRecord(auth) || (auth.public !== true && listOf(auth.methods).length === 0)) return;
    const own = route.authz !== undefined;
    if (auth.public === true) {
      if (!isRecord(route.authz)) return;
      // Every rule reads the caller's identity (property rules and policies too): on a public
      // route it would be silently skipped, so it is refused. hideExistence alone is harmless
      // (and filled in by the defaults).
      const rules = Object.keys(route.authz).filter((k) => k !== 'hideExistence');
      if (rules.length > 0)
        r.report(
          ['routes', i, 'authz'],
          `a public route has no identity to check: remove ${rules.join(', ')} or auth.public`,
        );
      return;
    }
    const authz = own ? route.authz : defaults.authz;
    if (authz === undefined) {
      r.report(['routes', i], SAYS_NOTHING_ABOUT_AUTHZ);
      return;
    }
    if (!isRecord(authz)) return;
    checkRouteAuthz(r, authz, own ? ['routes', i, 'authz'] : ['defaults', 'authz'], route, config);
  });
}
