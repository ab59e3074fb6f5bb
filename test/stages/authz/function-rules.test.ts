import { describe, expect, it } from 'vitest';
import { createAuthzStage } from '../../../src/stages/authz/authz-stage.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import type { RouteAuthzConfig } from '../../../src/config/authz-schema.js';
import { authz, identity, request } from './authz-fixtures.js';

const METHODS = ['GET', 'HEAD', 'POST', 'DELETE'];

function decide(
  rules: Partial<RouteAuthzConfig>,
  who: { scopes?: string[]; roles?: string[] },
  method = 'GET',
): Verdict {
  const stage = createAuthzStage({
    authz: authz(rules),
    methods: METHODS,
    adminRole: 'admin',
    anonymousAllowed: false,
  });
  const v = stage.onRequest(request({ method, identity: identity(who) }));
  if (v instanceof Promise) throw new Error('function-level rules answer synchronously');
  return v;
}

/** The reason and rule of a refusal, or 'allow'. */
function outcome(v: Verdict): string {
  if (v.continue) return 'allow';
  return `${v.problem.kind} ${v.problem.reason} ${String(v.problem.audit?.details?.rule)}`;
}

describe('function-level rules', () => {
  it.each([
    ['anyAuthenticated, any caller', { anyAuthenticated: true }, {}, 'allow'],
    ['allOf, every scope', { scopes: { allOf: ['a', 'b'] } }, { scopes: ['b', 'a', 'c'] }, 'allow'],
    [
      'allOf, one scope short',
      { scopes: { allOf: ['a', 'b'] } },
      { scopes: ['a'] },
      'forbidden authz.scope.missing scopes.allOf',
    ],
    [
      'allOf, a scope of another case',
      { scopes: { allOf: ['accounts:read'] } },
      { scopes: ['Accounts:Read'] },
      'forbidden authz.scope.missing scopes.allOf',
    ],
    [
      'allOf, a scope as a prefix of another',
      { scopes: { allOf: ['accounts:read'] } },
      { scopes: ['accounts:read:all', 'accounts'] },
      'forbidden authz.scope.missing scopes.allOf',
    ],
    ['anyOf, one of them', { scopes: { anyOf: ['a', 'b'] } }, { scopes: ['b'] }, 'allow'],
    [
      'anyOf, none of them',
      { scopes: { anyOf: ['a', 'b'] } },
      { scopes: ['c'] },
      'forbidden authz.scope.none_of scopes.anyOf',
    ],
    [
      'allOf and anyOf, only allOf met',
      { scopes: { allOf: ['a'], anyOf: ['b', 'c'] } },
      { scopes: ['a'] },
      'forbidden authz.scope.none_of scopes.anyOf',
    ],
    [
      'allOf and anyOf, both met',
      { scopes: { allOf: ['a'], anyOf: ['b', 'c'] } },
      { scopes: ['a', 'c'] },
      'allow',
    ],
    [
      'roles allOf, one missing',
      { roles: { allOf: ['support', 'eu'] } },
      { roles: ['support'] },
      'forbidden authz.role.missing roles.allOf',
    ],
    [
      'roles anyOf, none',
      { roles: { anyOf: ['support', 'billing'] } },
      { roles: ['user'] },
      'forbidden authz.role.none_of roles.anyOf',
    ],
    [
      'roles anyOf, one',
      { roles: { anyOf: ['support', 'billing'] } },
      { roles: ['billing'] },
      'allow',
    ],
    [
      'scopes met but roles not: both must hold',
      { scopes: { allOf: ['a'] }, roles: { allOf: ['r'] } },
      { scopes: ['a'] },
      'forbidden authz.role.missing roles.allOf',
    ],
    ['admin, with the admin role', { admin: true }, { roles: ['admin'] }, 'allow'],
    [
      'admin, without it',
      { admin: true },
      { roles: ['user'], scopes: ['admin'] },
      'forbidden authz.admin.required admin',
    ],
    [
      'admin, with a role of another case',
      { admin: true },
      { roles: ['Admin', 'ADMIN'] },
      'forbidden authz.admin.required admin',
    ],
    [
      'admin and a scope: admin checked first',
      { admin: true, scopes: { allOf: ['x'] } },
      {},
      'forbidden authz.admin.required admin',
    ],
  ])('%s', (_what, rules, who, expected) => {
    expect(outcome(decide(rules, who))).toBe(expected);
  });

  it('reads the admin role the gateway names in authz.adminRole', () => {
    const stage = createAuthzStage({
      authz: authz({ admin: true }),
      methods: ['DELETE'],
      adminRole: 'platform-admin',
      anonymousAllowed: false,
    });
    const as = (roles: string[]) =>
      stage.onRequest(request({ method: 'DELETE', identity: identity({ roles }) })) as Verdict;
    expect(outcome(as(['admin']))).toBe('forbidden authz.admin.required admin');
    expect(outcome(as(['platform-admin']))).toBe('allow');
  });
});

describe('per-method rules', () => {
  const rules: Partial<RouteAuthzConfig> = {
    scopes: { allOf: ['read'] },
    methods: {
      GET: { scopes: { allOf: ['get'] } },
      POST: { scopes: { allOf: ['write'] } },
      DELETE: { admin: true },
    },
  };

  it.each([
    ['GET', { scopes: ['get'] }, 'allow'],
    ['GET', { scopes: ['read'] }, 'forbidden authz.scope.missing methods.GET.scopes.allOf'],
    // HEAD answers what GET answers: it takes GET's rules, not the route's looser ones.
    ['HEAD', { scopes: ['read'] }, 'forbidden authz.scope.missing methods.GET.scopes.allOf'],
    ['HEAD', { scopes: ['get'] }, 'allow'],
    [
      'POST',
      { scopes: ['read', 'get'] },
      'forbidden authz.scope.missing methods.POST.scopes.allOf',
    ],
    ['POST', { scopes: ['write'] }, 'allow'],
    [
      'DELETE',
      { scopes: ['read', 'write'] },
      'forbidden authz.admin.required methods.DELETE.admin',
    ],
    ['DELETE', { roles: ['admin'] }, 'allow'],
  ])('%s by %j: %s', (method, who, expected) => {
    expect(outcome(decide(rules, who, method))).toBe(expected);
  });

  it('applies the route-level rules to a method without its own', () => {
    const r: Partial<RouteAuthzConfig> = {
      scopes: { allOf: ['read'] },
      methods: { DELETE: { admin: true } },
    };
    expect(outcome(decide(r, { scopes: [] }, 'POST'))).toBe(
      'forbidden authz.scope.missing scopes.allOf',
    );
    expect(outcome(decide(r, { scopes: ['read'] }, 'POST'))).toBe('allow');
  });

  it('refuses a method the route was not built for', () => {
    expect(outcome(decide({ anyAuthenticated: true }, {}, 'PATCH'))).toBe(
      'forbidden authz.method.unknown methods',
    );
  });
});

describe('a request without an identity', () => {
  const stage = (rules: Partial<RouteAuthzConfig>, anonymousAllowed: boolean) =>
    createAuthzStage({
      authz: authz(rules),
      methods: ['GET'],
      adminRole: 'admin',
      anonymousAllowed,
    });

  it.each([
    [
      'anyAuthenticated, anonymous not allowed',
      { anyAuthenticated: true },
      false,
      'forbidden authz.identity.missing identity',
    ],
    [
      'a scope, anonymous allowed',
      { scopes: { allOf: ['a'] } },
      true,
      'forbidden authz.identity.missing identity',
    ],
    [
      'admin, anonymous allowed',
      { admin: true },
      true,
      'forbidden authz.identity.missing identity',
    ],
    [
      'anyAuthenticated with an owner rule, anonymous allowed',
      { anyAuthenticated: true, owner: [{ value: { param: 'id' }, equals: { consumer: 'id' } }] },
      true,
      'forbidden authz.identity.missing identity',
    ],
    [
      'anyAuthenticated alone, anonymous allowed (onProviderDown: anonymous)',
      { anyAuthenticated: true },
      true,
      'allow',
    ],
  ] as const)('%s: %s', (_what, rules, anonymous, expected) => {
    const v = stage(rules as Partial<RouteAuthzConfig>, anonymous).onRequest(request()) as Verdict;
    expect(outcome(v)).toBe(expected);
  });
});

describe('the allowed path', () => {
  it('returns the one shared allow verdict, synchronously', () => {
    const a = decide({ scopes: { allOf: ['a'] } }, { scopes: ['a'] });
    const b = decide({ roles: { anyOf: ['r'] } }, { roles: ['r'] });
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });
});
