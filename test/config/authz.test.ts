import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** Default deny and the authorization rules the schema cannot check (docs/authorization.md). */

// Lines 1 and 2 of every config below; each row's own lines start at line 3.
const BASE = ['listeners: {http: {port: 8080}}', 'upstreams: {api: {targets: [http://a]}}'];

const text = (lines: readonly string[]) => [...BASE, ...lines].join('\n');

function load(lines: readonly string[]) {
  return parseConfig(text(lines), 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
}

/** The issues, each at its line (the columns are the loader's, tested in load.test.ts). */
function issuesOf(lines: readonly string[]): string[] {
  try {
    load(lines);
  } catch (e) {
    if (e instanceof ConfigError)
      return e.issues.map((i) => String(i).replace(/^(\S+:\d+):\d+ /, '$1 '));
    throw e;
  }
  throw new Error('the config was accepted');
}

/** One route taking API keys, on `paths` and `methods`, with `authz` (YAML flow) if given. */
const route = (authz: string | undefined, paths = '[/accounts/:accountId]', methods = '[GET]') => [
  'routes:',
  '  - name: accounts',
  `    paths: ${paths}`,
  `    methods: ${methods}`,
  '    upstream: api',
  '    auth: {methods: [api-key]}',
  ...(authz === undefined ? [] : [`    authz: ${authz}`]),
];

const LOOKUP =
  '{value: {param: accountId}, url: "http://o/owners/{value}", equals: {metadata: tenant}}';

describe('config loading refuses a route that takes credentials and says nothing about authorization', () => {
  it.each([
    {
      what: 'no authz and no defaults.authz, at the route',
      lines: route(undefined),
      issues: [
        'portcullis.yaml:4 routes[0]: says nothing about authorization: add authz.anyAuthenticated: true, scopes, roles, owner, ownerLookup or policy, here or in defaults.authz',
      ],
    },
    {
      what: 'an empty authz',
      lines: route('{}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'anyAuthenticated: false',
      lines: route('{anyAuthenticated: false}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'hideExistence alone',
      lines: route('{hideExistence: true}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'admin: false',
      lines: route('{admin: false}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'a method whose own rules say nothing',
      lines: route(
        '{anyAuthenticated: true, methods: {POST: {admin: false}}}',
        undefined,
        '[GET, POST]',
      ),
      issues: [
        'portcullis.yaml:9 routes[0].authz.methods.POST: says nothing about who may call POST "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'a method without rules on a route whose rules are all per method',
      lines: route('{methods: {GET: {admin: true}}}', undefined, '[GET, DELETE]'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call DELETE "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
    {
      what: 'a defaults section with authz does not cover a public default route, but covers this one once',
      lines: ['defaults: {authz: {}}', ...route(undefined)],
      issues: [
        'portcullis.yaml:3 defaults.authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
      ],
    },
  ])('$what', ({ lines, issues }) => {
    expect(issuesOf(lines)).toEqual(issues);
  });
});

describe('config loading refuses rules that cannot be met or read nothing', () => {
  it.each([
    {
      what: 'scopes without allOf or anyOf',
      lines: route('{scopes: {}}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
        'portcullis.yaml:9 routes[0].authz.scopes: requires nothing: give allOf or anyOf',
      ],
    },
    {
      what: 'an empty anyOf, which no caller can meet',
      lines: route('{scopes: {allOf: [a], anyOf: []}}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz.scopes.anyOf: must name at least one of the scopes',
      ],
    },
    {
      what: 'an empty roles allOf',
      lines: route('{roles: {allOf: []}}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz: says nothing about who may call GET "accounts": add anyAuthenticated: true, scopes, roles, admin, owner, ownerLookup or policy',
        'portcullis.yaml:9 routes[0].authz.roles.allOf: must name at least one of the roles',
      ],
    },
    {
      what: 'anyAuthenticated beside a scope that narrows it',
      lines: route('{anyAuthenticated: true, scopes: {allOf: [a]}}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz.anyAuthenticated: says any authenticated consumer may call, but scopes narrow it: remove one or the other',
      ],
    },
    {
      what: 'rules for a method the route does not accept',
      lines: route('{anyAuthenticated: true, methods: {DELETE: {admin: true}}}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz.methods.DELETE: route "accounts" does not accept DELETE; its methods: GET',
      ],
    },
    {
      what: 'an owner param that is not a parameter of the path',
      lines: route('{owner: [{value: {param: accountID}, equals: {consumer: id}}]}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz.owner[0].value.param: "accountID" is not a parameter of the path "/accounts/:accountId" of route "accounts" (its parameters: accountId)',
      ],
    },
    {
      what: 'a param on one path of the route but not the other',
      lines: route(
        '{owner: [{value: {param: accountId}, equals: {consumer: id}}]}',
        '[/accounts, /accounts/:accountId]',
      ),
      issues: [
        'portcullis.yaml:9 routes[0].authz.owner[0].value.param: "accountId" is not a parameter of the path "/accounts" of route "accounts" (it has none)',
      ],
    },
    {
      what: 'a lookup param that is not a parameter of the path',
      lines: route(
        '{ownerLookup: {value: {param: id}, url: "http://o/{value}", equals: {consumer: id}}}',
      ),
      issues: [
        'portcullis.yaml:9 routes[0].authz.ownerLookup.value.param: "id" is not a parameter of the path "/accounts/:accountId" of route "accounts" (its parameters: accountId)',
      ],
    },
    ...[
      ['no {value}', 'http://o/owners/x', 'must contain {value}, where the object id goes'],
      [
        '{value} in the host',
        'http://{value}.o/owners',
        'must be an http(s) URL with a path, and {value} in its path or query',
      ],
      [
        'another scheme',
        'ftp://o/{value}',
        'must be an http(s) URL with a path, and {value} in its path or query',
      ],
      [
        'no path',
        'http://o',
        'must be an http(s) URL with a path, and {value} in its path or query',
      ],
      [
        'a fragment',
        'http://o/{value}#x',
        'must be an http(s) URL with a path, and {value} in its path or query',
      ],
      [
        'another placeholder',
        'http://o/{tenant}/{value}',
        'must be an http(s) URL whose only placeholder is {value}',
      ],
    ].map(([what, url, message]) => ({
      what: `an ownerLookup.url with ${what}`,
      lines: route(`{ownerLookup: ${LOOKUP.replace('http://o/owners/{value}', url as string)}}`),
      issues: [`portcullis.yaml:9 routes[0].authz.ownerLookup.url: ${message}`],
    })),
    {
      what: 'ownerBypassRoles without an object-level rule',
      lines: route('{anyAuthenticated: true, ownerBypassRoles: [admin]}'),
      issues: [
        'portcullis.yaml:9 routes[0].authz.ownerBypassRoles: bypasses nothing: the route has no owner or ownerLookup',
      ],
    },
  ])('$what', ({ lines, issues }) => {
    expect(issuesOf(lines)).toEqual(issues);
  });
});

describe('config loading and public routes', () => {
  it.each([
    ['anyAuthenticated', '{anyAuthenticated: true}', 'anyAuthenticated'],
    ['an owner rule', '{owner: [{value: {param: id}, equals: {consumer: id}}]}', 'owner'],
    ['admin and scopes', '{admin: true, scopes: {allOf: [a]}}', 'admin, scopes'],
    ['property rules', '{properties: {read: {allow: [id]}}}', 'properties'],
  ])('refuses %s on a public route: it has no identity to check', (_what, authz, keys) => {
    expect(
      issuesOf([
        'routes:',
        `  - {name: open, paths: ['/x/:id'], methods: [GET], upstream: api, auth: {public: true}, authz: ${authz}}`,
      ]),
    ).toEqual([
      `portcullis.yaml:4 routes[0].authz: a public route has no identity to check: remove ${keys} or auth.public`,
    ]);
  });

  it('does not ask a public route for authz, even beside a defaults.authz', () => {
    const config = load([
      'defaults: {authz: {anyAuthenticated: true}}',
      'routes:',
      '  - {name: open, paths: [/x], methods: [GET], upstream: api, auth: {public: true}}',
    ]);
    expect(config.routes[0]?.authz).toBeUndefined();
  });
});

describe('config loading accepts a route that says who may call it', () => {
  it.each([
    ['anyAuthenticated', '{anyAuthenticated: true}'],
    ['a scope', '{scopes: {allOf: [accounts:read]}}'],
    ['an owner rule alone', '{owner: [{value: {param: accountId}, equals: {metadata: tenant}}]}'],
    ['a JSON body value', '{owner: [{value: {body: /owner/tenant}, equals: {metadata: tenant}}]}'],
    ['an ownership lookup alone', `{ownerLookup: ${LOOKUP}, hideExistence: true}`],
    [
      'a lookup with {value} in the query',
      '{ownerLookup: {value: {header: x-account}, url: "https://o/owners?id={value}", equals: {claim: sub}}}',
    ],
    [
      'a bypass with an owner rule',
      '{scopes: {anyOf: [a, b]}, owner: [{value: {query: tenant}, equals: {metadata: tenant}}], ownerBypassRoles: [support]}',
    ],
  ])('accepts %s', (_what, authz) => {
    expect(() => load(route(authz))).not.toThrow();
  });

  it('accepts per-method rules covering every method, HEAD taking GET’s', () => {
    const config = load(
      route(
        '{methods: {GET: {scopes: {allOf: [r]}}, POST: {admin: true}}}',
        undefined,
        '[GET, HEAD, POST]',
      ),
    );
    expect(config.routes[0]?.authz?.methods?.POST?.admin).toBe(true);
  });

  it('applies defaults.authz to a route without its own, and fills the lookup defaults', () => {
    const config = load([`defaults: {authz: {ownerLookup: ${LOOKUP}}}`, ...route(undefined)]);
    expect(config.defaults.authz?.ownerLookup).toMatchObject({
      ownerField: 'owner',
      cacheSeconds: 60,
      cacheEntries: 10_000,
      timeoutMs: 1_000,
    });
    expect(config.authz.adminRole).toBe('admin');
  });

  it('lets preflight skip the authz stage of a route that has one', () => {
    expect(() =>
      load([
        ...route('{anyAuthenticated: true}', undefined, '[GET, OPTIONS]'),
        '    preflight: {skipStages: [authn, authz]}',
      ]),
    ).not.toThrow();
    expect(
      issuesOf([
        'routes:',
        '  - {name: open, paths: [/x], methods: [GET], upstream: api, auth: {public: true}, preflight: {skipStages: [authz]}}',
      ]),
    ).toEqual([
      'portcullis.yaml:4 routes[0].preflight.skipStages[0]: stage "authz" is not a stage of this route; its stages: authn',
    ]);
  });
});
