import { describe, expect, it } from 'vitest';
import type { RouteAuthzConfig } from '../../../src/config/authz-schema.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import { createAuthzStage } from '../../../src/stages/authz/authz-stage.js';
import { authz, identity, request, type RequestParts } from './authz-fixtures.js';

type Owner = NonNullable<RouteAuthzConfig['owner']>[number];

function decide(
  rules: Owner[],
  parts: RequestParts,
  extra: Partial<RouteAuthzConfig> = {},
): Verdict {
  const stage = createAuthzStage({
    authz: authz({ anyAuthenticated: true, owner: rules, ...extra }),
    methods: ['GET'],
    adminRole: 'admin',
    anonymousAllowed: false,
  });
  const v = stage.onRequest(request({ identity: ALICE, ...parts }));
  if (v instanceof Promise) throw new Error('ownership rules answer synchronously');
  return v;
}

const ALICE = identity({
  consumerId: 'alice',
  metadata: { tenant: 'user_alice' },
  claims: { sub: 'u-1', num: 42, list: ['user_alice'] },
});

function outcome(v: Verdict): string {
  if (v.continue) return 'allow';
  const d = v.problem.audit?.details ?? {};
  return `${v.problem.kind} ${v.problem.reason} ${String(d.rule)} ${String(d.object)}`;
}

const BY_TENANT_PARAM: Owner = {
  name: 'tenant',
  value: { param: 'tenant' },
  equals: { metadata: 'tenant' },
};
const BY_TENANT_QUERY: Owner = { value: { query: 'tenant' }, equals: { metadata: 'tenant' } };
const BY_TENANT_HEADER: Owner = { value: { header: 'X-Tenant' }, equals: { metadata: 'tenant' } };
const BY_SUB: Owner = { name: 'user', value: { param: 'userId' }, equals: { claim: 'sub' } };
const BY_CONSUMER: Owner = { value: { param: 'consumer' }, equals: { consumer: 'id' } };

describe('ownership rules compare the request with the identity, exactly', () => {
  it.each([
    ['own tenant in the path', BY_TENANT_PARAM, { params: { tenant: 'user_alice' } }, 'allow'],
    [
      'foreign tenant in the path',
      BY_TENANT_PARAM,
      { params: { tenant: 'user_bob' } },
      'forbidden authz.owner.mismatch owner.tenant user_bob',
    ],
    [
      'own tenant in another case',
      BY_TENANT_PARAM,
      { params: { tenant: 'User_Alice' } },
      'forbidden authz.owner.mismatch owner.tenant User_Alice',
    ],
    [
      'own tenant with a trailing space',
      BY_TENANT_PARAM,
      { params: { tenant: 'user_alice ' } },
      'forbidden authz.owner.mismatch owner.tenant user_alice ',
    ],
    [
      'own tenant as a prefix',
      BY_TENANT_PARAM,
      { params: { tenant: 'user_alice2' } },
      'forbidden authz.owner.mismatch owner.tenant user_alice2',
    ],
    [
      'an empty path parameter',
      BY_TENANT_PARAM,
      { params: { tenant: '' } },
      'forbidden authz.owner.missing_value owner.tenant undefined',
    ],
    [
      'no path parameter',
      BY_TENANT_PARAM,
      { params: {} },
      'forbidden authz.owner.missing_value owner.tenant undefined',
    ],
    ['own tenant in the query', BY_TENANT_QUERY, { query: 'a=1&tenant=user_alice' }, 'allow'],
    [
      'own tenant percent-encoded in the query',
      BY_TENANT_QUERY,
      { query: 'tenant=user%5Falice' },
      'allow',
    ],
    [
      'foreign tenant in the query',
      BY_TENANT_QUERY,
      { query: 'tenant=user_bob' },
      'forbidden authz.owner.mismatch owner.0 user_bob',
    ],
    [
      'the tenant twice in the query (parameter pollution)',
      BY_TENANT_QUERY,
      { query: 'tenant=user_alice&tenant=user_bob' },
      'forbidden authz.owner.ambiguous_value owner.0 undefined',
    ],
    [
      'the tenant twice, once with an encoded name',
      BY_TENANT_QUERY,
      { query: 'tenant=user_alice&%74enant=user_bob' },
      'forbidden authz.owner.ambiguous_value owner.0 undefined',
    ],
    [
      'no query',
      BY_TENANT_QUERY,
      { query: '' },
      'forbidden authz.owner.missing_value owner.0 undefined',
    ],
    [
      'an empty query value',
      BY_TENANT_QUERY,
      { query: 'tenant=' },
      'forbidden authz.owner.missing_value owner.0 undefined',
    ],
    [
      'a tenant query name of another case',
      BY_TENANT_QUERY,
      { query: 'Tenant=user_alice' },
      'forbidden authz.owner.missing_value owner.0 undefined',
    ],
    [
      'own tenant in a header of any case',
      BY_TENANT_HEADER,
      { headers: [['x-TENANT', 'user_alice']] },
      'allow',
    ],
    [
      'foreign tenant in the header',
      BY_TENANT_HEADER,
      { headers: [['X-Tenant', 'user_bob']] },
      'forbidden authz.owner.mismatch owner.0 user_bob',
    ],
    [
      'the header twice',
      BY_TENANT_HEADER,
      {
        headers: [
          ['X-Tenant', 'user_alice'],
          ['x-tenant', 'user_bob'],
        ],
      },
      'forbidden authz.owner.ambiguous_value owner.0 undefined',
    ],
    [
      'the header twice with the same value',
      BY_TENANT_HEADER,
      {
        headers: [
          ['X-Tenant', 'user_alice'],
          ['x-tenant', 'user_alice'],
        ],
      },
      'forbidden authz.owner.ambiguous_value owner.0 undefined',
    ],
    [
      'the two values joined in one header',
      BY_TENANT_HEADER,
      { headers: [['X-Tenant', 'user_alice, user_bob']] },
      'forbidden authz.owner.mismatch owner.0 user_alice, user_bob',
    ],
    [
      'no header',
      BY_TENANT_HEADER,
      { headers: [['X-Other', 'user_alice']] },
      'forbidden authz.owner.missing_value owner.0 undefined',
    ],
    ['own sub claim', BY_SUB, { params: { userId: 'u-1' } }, 'allow'],
    [
      'foreign sub claim',
      BY_SUB,
      { params: { userId: 'u-2' } },
      'forbidden authz.owner.mismatch owner.user u-2',
    ],
    ['own consumer id', BY_CONSUMER, { params: { consumer: 'alice' } }, 'allow'],
    [
      'foreign consumer id',
      BY_CONSUMER,
      { params: { consumer: 'bob' } },
      'forbidden authz.owner.mismatch owner.0 bob',
    ],
  ] as [string, Owner, RequestParts, string][])('%s: %s', (_what, rule, parts, expected) => {
    expect(outcome(decide([rule], parts))).toBe(expected);
  });

  it.each([
    [
      'a metadata attribute the consumer lacks',
      { value: { param: 'p' }, equals: { metadata: 'region' } },
    ],
    [
      'a metadata attribute of Object.prototype',
      { value: { param: 'p' }, equals: { metadata: 'constructor' } },
    ],
    ['a claim that is a number', { value: { param: 'p' }, equals: { claim: 'num' } }],
    ['a claim that is a list', { value: { param: 'p' }, equals: { claim: 'list' } }],
    ['a claim the token lacks', { value: { param: 'p' }, equals: { claim: 'tenant' } }],
    ['a claim of Object.prototype', { value: { param: 'p' }, equals: { claim: 'toString' } }],
  ] as [string, Owner][])('owns nothing through %s', (_what, rule) => {
    const params = {
      p: rule.equals && 'claim' in rule.equals && rule.equals.claim === 'num' ? '42' : 'user_alice',
    };
    expect(outcome(decide([rule], { params }))).toBe(
      `forbidden authz.owner.identity_missing owner.0 ${params.p}`,
    );
  });

  it('owns nothing through a claim when the identity has no claims (an API key)', () => {
    const v = createAuthzStage({
      authz: authz({ owner: [BY_SUB] }),
      methods: ['GET'],
      adminRole: 'admin',
      anonymousAllowed: false,
    }).onRequest(request({ params: { userId: 'u-1' }, identity: identity() })) as Verdict;
    expect(outcome(v)).toBe('forbidden authz.owner.identity_missing owner.user u-1');
  });

  it('needs every rule: the first that fails refuses', () => {
    const both = [BY_TENANT_PARAM, BY_TENANT_HEADER];
    expect(
      outcome(
        decide(both, { params: { tenant: 'user_alice' }, headers: [['x-tenant', 'user_alice']] }),
      ),
    ).toBe('allow');
    expect(
      outcome(
        decide(both, { params: { tenant: 'user_alice' }, headers: [['x-tenant', 'user_bob']] }),
      ),
    ).toBe('forbidden authz.owner.mismatch owner.1 user_bob');
  });

  it('refuses with 404 when the route hides existence, 403 otherwise', () => {
    const foreign = { params: { tenant: 'user_bob' } };
    const hidden = decide([BY_TENANT_PARAM], foreign, { hideExistence: true });
    const shown = decide([BY_TENANT_PARAM], foreign);
    expect(hidden.continue === false && hidden.problem.kind).toBe('not-found');
    expect(shown.continue === false && shown.problem.kind).toBe('forbidden');
    // The response says nothing of the rule or the object; the event does.
    for (const v of [hidden, shown]) {
      if (v.continue) throw new Error('allowed');
      expect(v.problem.detail).not.toMatch(/tenant|user_bob|owner/);
      expect(v.problem.audit).toEqual({
        consumer: 'alice',
        credential: 'fp:0123456789ab',
        details: { rule: 'owner.tenant', object: 'user_bob' },
      });
    }
  });

  it('keeps the first 256 characters of a long object id in the event', () => {
    const v = decide([BY_TENANT_PARAM], { params: { tenant: 'x'.repeat(5000) } });
    expect(v.continue === false && v.problem.audit?.details?.object).toBe('x'.repeat(256));
  });

  it('lets a role of ownerBypassRoles skip the rules, not the function level', () => {
    const stage = createAuthzStage({
      authz: authz({
        scopes: { allOf: ['read'] },
        owner: [BY_TENANT_PARAM],
        ownerBypassRoles: ['support'],
      }),
      methods: ['GET'],
      adminRole: 'admin',
      anonymousAllowed: false,
    });
    const as = (roles: string[], scopes: string[]) =>
      outcome(
        stage.onRequest(
          request({
            params: { tenant: 'user_bob' },
            identity: identity({ roles, scopes, metadata: { tenant: 'user_alice' } }),
          }),
        ) as Verdict,
      );
    expect(as(['support'], ['read'])).toBe('allow');
    expect(as(['support'], [])).toBe('forbidden authz.scope.missing scopes.allOf undefined');
    expect(as(['Support'], ['read'])).toBe('forbidden authz.owner.mismatch owner.tenant user_bob');
    expect(as([], ['read'])).toBe('forbidden authz.owner.mismatch owner.tenant user_bob');
  });
});
