import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/errors.js';
import type { Identity } from '../../../../src/gateway/stage.js';
import { checkPolicies } from '../../../../src/stages/authz/policies/policy-check.js';
import {
  createPolicyEngine,
  type PolicyEngine,
  type PolicyRequest,
} from '../../../../src/stages/authz/policies/policy-engine.js';
import { identity, request } from '../authz-fixtures.js';

/**
 * The Cedar policy engine: what `portcullis check` refuses (each problem at its line and column
 * of the policy file or the schema), what the policies decide and which policy decided, and
 * that an evaluation error denies.
 */

const SCHEMA = `namespace Portcullis {
  entity Consumer = {
    scopes: Set<String>,
    roles: Set<String>,
    method: String,
    metadata: { tenant?: String, plan?: String },
    claims: { sub?: String, n?: Long, verified?: Bool },
  };
  entity Route = {
    method: String,
    path: String,
    params: { accountId?: String },
  };
  action "orders", "accounts" appliesTo { principal: Consumer, resource: Route };
}
`;

const POLICIES = `@id("orders-open")
permit (principal, action == Portcullis::Action::"orders", resource);

@id("readonly-no-post")
forbid (principal, action == Portcullis::Action::"orders", resource)
when { resource.method == "POST" && principal.metadata has plan && principal.metadata.plan == "readonly" };

@id("own-account")
permit (principal, action == Portcullis::Action::"accounts", resource)
when { principal.metadata has tenant && resource.params has accountId &&
       resource.params.accountId == principal.metadata.tenant };

@id("verified-claim")
permit (principal, action == Portcullis::Action::"accounts", resource)
when { principal.claims has verified && principal.claims.verified && principal.claims has n && principal.claims.n == 7 };

@id("overflow")
forbid (principal, action, resource)
when { principal.claims has n && principal.claims.n != 7 && principal.claims.n + 9223372036854775807 > 0 };
`;

function files(policies: string, schema = SCHEMA): { file: string; schema: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cedar-'));
  const file = join(dir, 'policies.cedar');
  const schemaFile = join(dir, 'schema.cedarschema');
  writeFileSync(file, policies);
  writeFileSync(schemaFile, schema);
  return { file, schema: schemaFile };
}

/** The problems of a refused pair of files, as `file:line:column path: message`. */
function problems(policies: string, schema = SCHEMA): string[] {
  const f = files(policies, schema);
  try {
    createPolicyEngine(f);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) =>
      String(i).replace(f.file, 'P').replace(f.schema, 'S'),
    );
  }
  throw new Error('the files were accepted');
}

describe('policies refused at load, at their line and column', () => {
  it.each([
    [
      'a parse error',
      '@id("a")\npermit (principal, action, resource)\nwhen { principal.scopes.contains( };',
      /^P:3:35 authz\.policies\.file: unexpected token `}`/,
    ],
    [
      'a parse error after a non-ASCII comment (columns count characters, not bytes)',
      '// pólicy\n@id("a") permit (principal, action, resource) when { "ünï" == é };',
      /^P:2:63 authz\.policies\.file: invalid token/,
    ],
    [
      'an attribute the schema does not declare',
      '@id("a")\npermit (principal, action, resource)\nwhen { principal.plan == "x" };',
      /^P:3:8 authz\.policies\.file: policy "a": attribute `plan` on entity type `Portcullis::Consumer` not found/,
    ],
    [
      'an action the schema does not declare',
      '@id("a")\npermit (principal, action == Portcullis::Action::"nope", resource);',
      /^P:2:30 authz\.policies\.file: policy "a": unrecognized action `Portcullis::Action::"nope"`; did you mean `Portcullis::Action::"orders"`\?$/,
    ],
    [
      'an optional attribute read without `has`',
      '@id("a")\nforbid (principal, action, resource)\n  when { principal.metadata.plan == "readonly" };',
      /^P:3:10 authz\.policies\.file: policy "a": .*plan/,
    ],
    [
      'a policy that can never apply (a Cedar warning)',
      '@id("a")\nforbid (principal, action, resource) when { 1 == 2 };',
      /^P:1:1 authz\.policies\.file: policy "a": policy is impossible/,
    ],
    [
      'a policy without @id',
      '@id("a") permit (principal, action, resource);\n\nforbid (principal, action, resource);',
      /^P:3:1 authz\.policies\.file: give the policy an @id/,
    ],
    [
      'two policies with one @id',
      '@id("a") permit (principal, action, resource);\n@id("a") forbid (principal, action, resource);',
      /^P:2:1 authz\.policies\.file: @id "a" is used by another policy too$/,
    ],
    [
      'a template',
      '@id("t") permit (principal == ?principal, action, resource);',
      /^P:1:1 authz\.policies\.file: a template/,
    ],
    ['no policy at all', '// nothing yet\n', /^P:1:1 authz\.policies\.file: holds no policies/],
  ])('refuses %s', (_, policies, expected) => {
    const found = problems(policies);
    expect(found.length, found.join('\n')).toBeGreaterThan(0);
    expect(found[0]).toMatch(expected);
  });

  it.each([
    [
      'a schema parse error',
      'namespace Portcullis {\n  entity Consumer = { a: String ; };\n}',
      /^S:2:33 authz\.policies\.schema: unexpected token `;` \(expected `,` or `}`\)$/,
    ],
    [
      'no Portcullis namespace',
      'entity Consumer;',
      /^S:1:1 authz\.policies\.schema: the schema must declare namespace Portcullis/,
    ],
    [
      'an attribute the gateway does not provide',
      SCHEMA.replace(
        'method: String,\n    metadata',
        'method: String,\n    salary: Long,\n    metadata',
      ),
      /^S:6:5 authz\.policies\.schema: Consumer attribute "salary" is not one the gateway provides/,
    ],
    [
      'an attribute of another type than the gateway gives',
      SCHEMA.replace('scopes: Set<String>', 'scopes: String'),
      /^S:3:5 authz\.policies\.schema: Consumer attribute "scopes" must be Set<String>, not String/,
    ],
    [
      'a required metadata key (a consumer without it would fail every request)',
      SCHEMA.replace('tenant?: String', 'tenant: String'),
      /^S:6:17 authz\.policies\.schema: Consumer attribute "metadata\.tenant" must be optional/,
    ],
    [
      'an action with a context the gateway does not pass',
      SCHEMA.replace(
        'action "orders", "accounts" appliesTo { principal: Consumer, resource: Route };',
        'action "orders", "accounts" appliesTo { principal: Consumer, resource: Route };\n  action "x" appliesTo { principal: Consumer, resource: Route, context: { ip: String } };',
      ),
      undefined,
    ],
  ])('schema: %s', (_, schema, expected) => {
    if (expected === undefined) {
      // Declaring an unusable action is allowed; a route asking for it is what check refuses.
      expect(() =>
        createPolicyEngine(files('@id("a") permit (principal, action, resource);', schema)),
      ).not.toThrow();
      return;
    }
    const found = problems('@id("a") permit (principal, action, resource);', schema);
    expect(found[0], found.join('\n')).toMatch(expected);
  });
});

describe('texts that would overflow the stack of Cedar are refused before Cedar reads them', () => {
  const deep = (n: number) => `${'('.repeat(n)}true${')'.repeat(n)}`;
  it.each([
    [
      '150 nested parentheses',
      `@id("a") permit (principal, action, resource)\nwhen { ${deep(150)} };`,
      /^P:2:\d+ authz\.policies\.file: nests brackets and ifs more than 32 deep/,
    ],
    [
      '800 nested ifs',
      `@id("a") permit (principal, action, resource)\nwhen { ${'if true then '.repeat(800)}true${' else false'.repeat(800)} };`,
      /^P:2:\d+ authz\.policies\.file: nests brackets and ifs more than 32 deep/,
    ],
    [
      '4,000 chained &&',
      `@id("a") permit (principal, action, resource)\nwhen { ${Array(4000).fill('true').join(' && ')} };`,
      /^P:2:\d+ authz\.policies\.file: has more than 1000 operators in one statement/,
    ],
    [
      '4,000 chained attribute reads',
      `@id("a") permit (principal, action, resource)\nwhen { context${'.a'.repeat(4000)} == 1 };`,
      /^P:2:\d+ authz\.policies\.file: has more than 1000 operators/,
    ],
  ])('policy: %s', (_, policies, expected) => {
    const found = problems(policies);
    expect(found[0], found.join('\n')).toMatch(expected);
  });

  it('refuses a schema record nested 150 deep', () => {
    const schema = SCHEMA.replace(
      'plan?: String }',
      `plan?: String, x?: ${'{ a?: '.repeat(150)}String${' }'.repeat(150)} }`,
    );
    const found = problems('@id("a") permit (principal, action, resource);', schema);
    expect(found[0], found.join('\n')).toMatch(
      /^S:6:\d+ authz\.policies\.schema: nests brackets and ifs more than 32 deep/,
    );
  });

  it('ignores brackets and operators inside strings and comments', () => {
    const policies = `// ${'((((&&'.repeat(500)}\n@id("${'('.repeat(100)}") permit (principal, action, resource)\nwhen { "${'(['.repeat(600)}" == "x" || true };`;
    expect(() => createPolicyEngine(files(policies))).not.toThrow();
  });

  it('leaves Cedar working for the next policies (a crash would break every later call)', () => {
    const engine = createPolicyEngine(files(POLICIES));
    expect(engine.evaluate(req('orders'), who())).toEqual({
      decision: 'allow',
      reasons: ['orders-open'],
    });
  });
});

function req(route: string, over: Partial<PolicyRequest> = {}): PolicyRequest {
  return { route: { name: route }, method: 'GET', path: `/${route}`, params: {}, ...over };
}

function who(over: Partial<Identity> = {}): Identity {
  return identity({ consumerId: 'carol', ...over });
}

describe('decisions', () => {
  const engine: PolicyEngine = createPolicyEngine(files(POLICIES));

  it.each([
    ['a permit allows', req('orders'), who(), 'allow', ['orders-open']],
    [
      'a forbid denies whatever permits',
      req('orders', { method: 'POST' }),
      who({ metadata: { plan: 'readonly' } }),
      'deny',
      ['readonly-no-post'],
    ],
    [
      'the forbid holds only for its method',
      req('orders', { method: 'GET' }),
      who({ metadata: { plan: 'readonly' } }),
      'allow',
      ['orders-open'],
    ],
    ['nothing permits: default deny', req('accounts'), who(), 'deny', []],
    [
      'path parameters are the resource params',
      req('accounts', { params: { accountId: 'user_carol' } }),
      who({ metadata: { tenant: 'user_carol' } }),
      'allow',
      ['own-account'],
    ],
    [
      "another tenant's account",
      req('accounts', { params: { accountId: 'user_bob' } }),
      who({ metadata: { tenant: 'user_carol' } }),
      'deny',
      [],
    ],
    [
      'claims of the declared types are given',
      req('accounts'),
      who({ method: 'jwt:corp', claims: { verified: true, n: 7 } }),
      'allow',
      ['verified-claim'],
    ],
    [
      'a claim of another type is left out, never converted',
      req('accounts'),
      who({ method: 'jwt:corp', claims: { verified: 'true', n: '7' } }),
      'deny',
      [],
    ],
    [
      'metadata the schema does not declare is not given (and not refused)',
      req('orders'),
      // An own `__proto__` key, as JSON or YAML can give one.
      who({ metadata: JSON.parse('{"region":"eu","__proto__":"x"}') as Record<string, string> }),
      'allow',
      ['orders-open'],
    ],
  ] as const)('%s', (_, request, caller, decision, reasons) => {
    const result = engine.evaluate(request, caller);
    expect(result).toEqual({ decision, reasons: [...reasons] });
  });

  it('fails closed when a forbid errors: Cedar alone would skip it and allow', () => {
    const result = engine.evaluate(req('orders'), who({ claims: { n: 1 } }));

    expect(result.decision).toBe('deny');
    expect(result.reasons).toEqual(['overflow']);
    expect(result.error).toMatch(/overflow/);
  });

  it('denies when the request cannot be evaluated at all (an action the schema lacks)', () => {
    const result = engine.evaluate(req('not-in-schema'), who());

    expect(result.decision).toBe('deny');
    expect(result.error).toBeDefined();
  });
});

describe('the refusal of a route that asks the policies', () => {
  const engine = createPolicyEngine(files(POLICIES));
  const ctx = (method: string, caller: Identity) => {
    const c = request({ method, identity: caller });
    return Object.assign(c, { route: { name: 'orders', upstream: 'api' }, path: '/orders/ord_1' });
  };

  it.each([
    ['POST', who({ metadata: { plan: 'readonly' } }), 'authz.policy.denied', 'readonly-no-post'],
    ['GET', who({ claims: { n: 1 } }), 'authz.policy.error', 'overflow'],
  ])('%s by %j: %s naming %s', (method, caller, reason, rule) => {
    const denial = checkPolicies(engine, ctx(method, caller), caller);

    expect(denial).toEqual({
      kind: 'forbidden',
      reason,
      detail: 'The caller may not perform this operation.',
      audit: {
        consumer: 'carol',
        credential: 'fp:0123456789ab',
        details: { rule, object: '/orders/ord_1' },
      },
    });
  });

  it('names default-deny when no policy permits', () => {
    const c = Object.assign(request({ identity: who() }), { path: '/accounts/x' });
    const denial = checkPolicies(engine, c, who());

    expect(denial?.reason).toBe('authz.policy.denied');
    expect(denial?.audit?.details).toEqual({ rule: 'default-deny', object: '/accounts/x' });
  });

  it('allows what the policies allow', () => {
    expect(checkPolicies(engine, ctx('GET', who()), who())).toBeUndefined();
  });
});

describe('reloading', () => {
  it('keeps the engine when the files did not change, and builds a new one when they did', () => {
    const f = files(POLICIES);
    const first = createPolicyEngine(f);

    expect(createPolicyEngine(f, { previous: first })).toBe(first);
    writeFileSync(f.file, `${POLICIES}\n@id("more") permit (principal, action, resource);\n`);
    const second = createPolicyEngine(f, { previous: first });
    expect(second).not.toBe(first);
    expect(second.policyIds).toContain('more');
  });
});

describe('body fields (Route.body)', () => {
  const schema = SCHEMA.replace(
    'params: { accountId?: String },',
    'params: { accountId?: String },\n    body: { amount?: Long, owner?: { id?: String } },',
  );
  const policies = `@id("open")
permit (principal, action, resource);

@id("large")
forbid (principal, action == Portcullis::Action::"orders", resource)
when { resource.body has amount && resource.body.amount > 1000 };

@id("foreign-owner")
forbid (principal, action == Portcullis::Action::"orders", resource)
when { resource.body has owner && resource.body.owner has id && resource.body.owner.id != principal.id };
`;
  const engine = createPolicyEngine(files(policies.replace('principal.id', '"carol"'), schema));
  const post = (body: unknown) => req('orders', { method: 'POST', body });

  it.each([
    ['a declared field of its type', { amount: 5000 }, 'deny', ['large']],
    ['under the limit', { amount: 10 }, 'allow', ['open']],
    ['a field of another type is absent, never converted', { amount: '5000' }, 'allow', ['open']],
    ['a nested field', { owner: { id: 'bob' } }, 'deny', ['foreign-owner']],
    ['a nested field that is not an object', { owner: 'bob' }, 'allow', ['open']],
    ['no body', undefined, 'allow', ['open']],
    ['a body that is a list', [{ amount: 5000 }], 'allow', ['open']],
    ['undeclared fields are not given', { amount: 1, note: 'x'.repeat(10_000) }, 'allow', ['open']],
  ] as const)('%s', (_, body, decision, reasons) => {
    expect(engine.evaluate(post(body), who())).toEqual({ decision, reasons: [...reasons] });
  });

  it('refuses a required body field in the schema', () => {
    const found = problems(
      '@id("a") permit (principal, action, resource);',
      schema.replace('amount?: Long', 'amount: Long'),
    );
    expect(found[0]).toMatch(
      /authz\.policies\.schema: Route attribute "body\.amount" must be optional/,
    );
  });
});

describe('what Cedar is given per request (no schema: entities built from the validated shape)', () => {
  it('keeps action groups: a forbid on a group holds for its member actions', () => {
    const schema = SCHEMA.replace(
      'action "orders", "accounts" appliesTo { principal: Consumer, resource: Route };',
      `action "all";
  action "writes" in ["all"];
  action "orders" in ["writes"] appliesTo { principal: Consumer, resource: Route };
  action "accounts" appliesTo { principal: Consumer, resource: Route };`,
    );
    const engine = createPolicyEngine(
      files(
        `@id("open") permit (principal, action, resource);
@id("no-writes-on-readonly")
forbid (principal, action in Portcullis::Action::"all", resource)
when { principal.metadata has plan && principal.metadata.plan == "readonly" };`,
        schema,
      ),
    );
    const readonly = who({ metadata: { plan: 'readonly' } });

    expect(engine.evaluate(req('orders'), readonly)).toEqual({
      decision: 'deny',
      reasons: ['no-writes-on-readonly'],
    });
    expect(engine.evaluate(req('accounts'), readonly)).toEqual({
      decision: 'allow',
      reasons: ['open'],
    });
  });

  it.each([
    ['scopes', 'principal.scopes.contains("orders:write")', { scopes: ['orders:write'] }, {}],
    ['roles', 'principal.roles.contains("admin")', { roles: ['admin'] }, {}],
    ['method', 'principal.method == "jwt:corp"', { method: 'jwt:corp' }, {}],
    ['path', 'resource.path == "/orders"', {}, {}],
    ['params', 'resource.params has accountId', {}, { params: { accountId: 'a' } }],
    ['method of the request', 'resource.method == "GET"', {}, {}],
  ] as const)(
    'gives the attribute %s to the one policy that reads it, and decides by it',
    (_, condition, caller, request) => {
      const engine = createPolicyEngine(
        files(
          `@id("only-if") permit (principal, action == Portcullis::Action::"orders", resource) when { ${condition} };`,
        ),
      );
      const r = req('orders', request);

      expect(engine.evaluate(r, who(caller))).toEqual({ decision: 'allow', reasons: ['only-if'] });
      // Without what the condition reads: nothing permits.
      expect(
        engine.evaluate(
          req('orders', { method: 'POST', path: '/elsewhere' }),
          who({ method: 'api-key' }),
        ),
      ).toEqual({ decision: 'deny', reasons: [] });
    },
  );

  it('decides anew when an attribute a policy reads changes, for the same consumer', () => {
    const engine = createPolicyEngine(files(POLICIES));
    const post = req('orders', { method: 'POST' });
    const readonly = who({ metadata: { plan: 'readonly' } });
    const plain = who({ metadata: { plan: 'pro' } });

    for (let i = 0; i < 3; i++) {
      expect(engine.evaluate(post, readonly).decision).toBe('deny');
      expect(engine.evaluate(post, plain).decision).toBe('allow');
      expect(engine.evaluate(req('orders', { method: 'GET' }), readonly).decision).toBe('allow');
    }
  });

  it('fails closed on every evaluation that errors, not only the first', () => {
    const engine = createPolicyEngine(files(POLICIES));

    for (let i = 0; i < 3; i++) {
      const result = engine.evaluate(req('orders'), who({ claims: { n: 1 } }));
      expect(result.decision).toBe('deny');
      expect(result.error).toMatch(/overflow/);
    }
  });

  it.each([
    [
      'a metadata key',
      SCHEMA.replace('tenant?: String', '"__entity"?: String'),
      'metadata.__entity',
    ],
    ['a claim', SCHEMA.replace('sub?: String', '"__extn"?: String'), 'claims.__extn'],
    [
      'a body field',
      SCHEMA.replace(
        'params: { accountId?: String },',
        'params: { accountId?: String },\n    body: { "__entity"?: { type?: String, id?: String } },',
      ),
      'body.__entity',
    ],
  ])(
    "refuses %s named as Cedar's JSON entity format escapes (a body could forge an entity)",
    (_, schema, where) => {
      const found = problems('@id("a") permit (principal, action, resource);', schema);
      expect(found.join('\n')).toContain(
        `"${where}" has a name Cedar's JSON entity format reserves`,
      );
    },
  );
});
