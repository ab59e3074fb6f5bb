import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

// Lines 1 and 2 of every config below; each row's own lines start at line 3.
const BASE = ['listeners: {http: {port: 8080}}', 'upstreams: {api: {targets: [http://a]}}'];

const text = (lines: readonly string[]) => [...BASE, ...lines].join('\n');

function issuesOf(lines: readonly string[], env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text(lines), 'portcullis.yaml', { env, stageKinds: STAGE_KINDS });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(String);
    throw e;
  }
  throw new Error('the config was accepted');
}

// A route that takes credentials also says who may call it (authz), after its auth so that the
// columns of the auth issues stay where they are.
const route = (auth: string) => [
  'routes:',
  `  - {name: orders, paths: [/orders], methods: [GET], upstream: api${auth === '' ? '' : `, auth: ${auth}`}${auth.includes('methods') && !auth.includes('public') ? ', authz: {anyAuthenticated: true}' : ''}}`,
];

/** One issuer `corp` whose keys come from an HTTPS JWKS URL: valid as it is. */
const CORP = [
  'authn:',
  '  issuers:',
  '    corp: {issuer: https://idp.example.com, audiences: [api], jwksUrl: https://idp.example.com/jwks}',
];

const SAYS_NOTHING =
  'says nothing about authentication: add auth.methods (api-key, jwt:<issuer>, ' +
  'introspection:<name>, mtls) or auth.public: true, here or in defaults.auth';

describe('config loading refuses a route that is open by omission or names what does not exist', () => {
  it.each([
    {
      what: 'a route with no auth and no defaults.auth, at the route, saying what to add',
      lines: route(''),
      issues: [`portcullis.yaml:4:5 routes[0]: ${SAYS_NOTHING}`],
    },
    {
      what: 'every route without auth, each at its own entry, when another route has one',
      lines: [
        'routes:',
        '  - {name: a, paths: [/a], methods: [GET], upstream: api}',
        '  - {name: b, paths: [/b], methods: [GET], upstream: api, auth: {public: true}}',
        '  - {name: c, paths: [/c], methods: [GET], upstream: api}',
      ],
      issues: [
        `portcullis.yaml:4:5 routes[0]: ${SAYS_NOTHING}`,
        `portcullis.yaml:6:5 routes[2]: ${SAYS_NOTHING}`,
      ],
    },
    {
      what: 'a defaults section without auth does not make a route public',
      lines: ['defaults: {stages: []}', ...route('')],
      issues: [`portcullis.yaml:5:5 routes[0]: ${SAYS_NOTHING}`],
    },
    {
      what: 'public with methods',
      lines: route('{public: true, methods: [api-key]}'),
      issues: [
        'portcullis.yaml:4:99 routes[0].auth.methods: a public route accepts no credentials: remove methods or public',
      ],
    },
    {
      what: 'an empty auth: neither public nor methods',
      lines: route('{}'),
      issues: [
        'portcullis.yaml:4:75 routes[0].auth: needs at least one of methods, or public: true',
      ],
    },
    {
      what: 'public: false and an empty list of methods',
      lines: route('{public: false, methods: []}'),
      issues: [
        'portcullis.yaml:4:75 routes[0].auth: needs at least one of methods, or public: true',
      ],
    },
    {
      what: 'allowQueryKey on a public route',
      lines: route('{public: true, allowQueryKey: true}'),
      issues: ['portcullis.yaml:4:105 routes[0].auth.allowQueryKey: needs the api-key method'],
    },
    {
      what: 'allowQueryKey on a route whose methods do not include api-key',
      lines: [...CORP, ...route('{methods: [jwt:corp], allowQueryKey: true}')],
      issues: ['portcullis.yaml:7:112 routes[0].auth.allowQueryKey: needs the api-key method'],
    },
    {
      what: 'jwt: naming an issuer that is not declared',
      lines: [...CORP, ...route('{methods: [api-key, jwt:nosuch]}')],
      issues: [
        'portcullis.yaml:7:95 routes[0].auth.methods[1]: no issuer "nosuch" in authn.issuers',
      ],
    },
    {
      what: 'jwt: naming an issuer in another case (names are exact)',
      lines: [...CORP, ...route('{methods: [jwt:Corp]}')],
      issues: ['portcullis.yaml:7:86 routes[0].auth.methods[0]: no issuer "Corp" in authn.issuers'],
    },
    {
      // A lookup with `in` or `issuers[name]` would find Object.prototype's members.
      what: 'jwt: naming a member of Object.prototype',
      lines: [...CORP, ...route('{methods: [jwt:constructor, jwt:__proto__]}')],
      issues: [
        'portcullis.yaml:7:86 routes[0].auth.methods[0]: no issuer "constructor" in authn.issuers',
        'portcullis.yaml:7:103 routes[0].auth.methods[1]: no issuer "__proto__" in authn.issuers',
      ],
    },
    {
      what: 'introspection: naming an endpoint that is not declared',
      lines: route('{methods: [introspection:nosuch]}'),
      issues: [
        'portcullis.yaml:4:86 routes[0].auth.methods[0]: no endpoint "nosuch" in authn.introspection',
      ],
    },
    {
      what: 'introspection: naming a member of Object.prototype',
      lines: route('{methods: [introspection:toString]}'),
      issues: [
        'portcullis.yaml:4:86 routes[0].auth.methods[0]: no endpoint "toString" in authn.introspection',
      ],
    },
    {
      what: 'mtls without listeners.https.clientCa',
      lines: route('{methods: [mtls]}'),
      issues: [
        'portcullis.yaml:4:86 routes[0].auth.methods[0]: needs listeners.https.clientCa: client certificates are asked for only there',
      ],
    },
    {
      what: 'an issuer with no key source',
      lines: [
        'authn:',
        '  issuers:',
        '    corp: {issuer: https://idp.example.com, audiences: [api]}',
        ...route('{methods: [jwt:corp]}'),
      ],
      issues: [
        'portcullis.yaml:5:11 authn.issuers.corp: needs exactly one key source of discovery: true, jwksUrl, keysFile',
      ],
    },
    {
      what: 'an issuer with two key sources',
      lines: [
        'authn:',
        '  issuers:',
        '    corp:',
        '      issuer: https://idp.example.com',
        '      audiences: [api]',
        '      discovery: true',
        '      jwksUrl: https://idp.example.com/jwks',
        ...route('{methods: [jwt:corp]}'),
      ],
      issues: [
        'portcullis.yaml:6:7 authn.issuers.corp: needs exactly one key source of discovery: true, jwksUrl, keysFile',
      ],
    },
    {
      what: 'a jwksUrl over plain http without allowInsecureHttp',
      lines: [
        'authn:',
        '  issuers:',
        '    corp: {issuer: https://idp.example.com, audiences: [api], jwksUrl: http://idp.example.com/jwks}',
        ...route('{methods: [jwt:corp]}'),
      ],
      issues: [
        'portcullis.yaml:5:72 authn.issuers.corp.jwksUrl: must be an https:// URL (or set allowInsecureHttp: true, for tests only)',
      ],
    },
    {
      what: 'a discovery issuer over plain http without allowInsecureHttp',
      lines: [
        'authn:',
        '  issuers:',
        '    corp: {issuer: http://idp.example.com, audiences: [api], discovery: true}',
        ...route('{methods: [jwt:corp]}'),
      ],
      issues: [
        'portcullis.yaml:5:20 authn.issuers.corp.issuer: must be an https:// URL (or set allowInsecureHttp: true, for tests only)',
      ],
    },
    {
      what: 'an introspection endpoint over plain http without allowInsecureHttp',
      lines: [
        'authn:',
        '  introspection:',
        '    idp: {endpoint: http://idp.example.com/introspect, clientId: gw, clientSecret: idp-secret}',
        ...route('{methods: [introspection:idp]}'),
      ],
      issues: [
        'portcullis.yaml:5:21 authn.introspection.idp.endpoint: must be an https:// URL (or set allowInsecureHttp: true, for tests only)',
      ],
    },
    {
      what: 'duplicate consumer ids, at the second one',
      lines: [
        'consumers:',
        '  - {id: alice}',
        '  - {id: bob}',
        '  - {id: alice, name: Mallory}',
        ...route('{public: true}'),
      ],
      issues: [
        'portcullis.yaml:6:10 consumers[2].id: duplicate consumer id; consumers[0] has it too',
      ],
    },
    {
      what: 'a bad defaults.auth, once at defaults.auth however many routes use it',
      lines: [
        'defaults:',
        '  auth: {methods: [jwt:nosuch]}',
        '  authz: {anyAuthenticated: true}',
        'routes:',
        '  - {name: a, paths: [/a], methods: [GET], upstream: api}',
        '  - {name: b, paths: [/b], methods: [GET], upstream: api}',
      ],
      issues: [
        'portcullis.yaml:4:20 defaults.auth.methods[0]: no issuer "nosuch" in authn.issuers',
      ],
    },
  ])('$what', ({ lines, issues }) => {
    expect(issuesOf(lines)).toEqual(issues);
  });

  it('never prints an issuer name that came from the environment', () => {
    const secret = 'n4me-fr0m-env';
    const issues = issuesOf(route('{methods: ["jwt:${ISSUER}"]}'), { ISSUER: secret });
    expect(issues).toEqual([
      'portcullis.yaml:4:86 routes[0].auth.methods[0]: no issuer "jwt:${ISSUER}" (from the environment) in authn.issuers',
    ]);
  });
});

describe('config loading accepts a route that says who may call it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // The loader only checks that these files can be read; their content is read at start.
  for (const f of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, f), 'pem');
  const https = `  https: {port: 8443, cert: ${join(dir, 'cert.pem')}, key: ${join(dir, 'key.pem')}, clientCa: ${join(dir, 'ca.pem')}}`;

  const load = (lines: readonly string[]) =>
    parseConfig(text(lines), join(dir, 'portcullis.yaml'), { env: {}, stageKinds: STAGE_KINDS });

  it('applies defaults.auth to every route without an auth of its own, and a route keeps its own', () => {
    const config = load([
      ...CORP,
      'defaults:',
      '  auth: {public: true}',
      'routes:',
      '  - {name: a, paths: [/a], methods: [GET], upstream: api}',
      '  - {name: b, paths: [/b], methods: [GET], upstream: api, auth: {methods: [jwt:corp]}, authz: {anyAuthenticated: true}}',
    ]);
    expect(config.defaults.auth?.public).toBe(true);
    expect(config.routes[0]?.auth).toBeUndefined();
    expect(config.routes[1]?.auth?.methods).toEqual(['jwt:corp']);
  });

  it('accepts a route with its own auth over a bad defaults.auth it does not use', () => {
    // Without this the refusal above could come from defaults.auth being checked at all.
    expect(() => load(['defaults:', '  auth: {}', ...route('{public: true}')])).not.toThrow();
  });

  it.each([
    [
      'every kind of method, each declared',
      [
        ...CORP,
        '  introspection:',
        '    idp: {endpoint: https://idp.example.com/introspect, clientId: gw, clientSecret: idp-secret}',
        ...route('{methods: [api-key, jwt:corp, introspection:idp], allowQueryKey: true}'),
      ],
    ],
    [
      'a JWKS over http with allowInsecureHttp',
      [
        'authn:',
        '  issuers:',
        '    corp: {issuer: https://idp.example.com, audiences: [api], jwksUrl: http://127.0.0.1:9/jwks, allowInsecureHttp: true}',
        ...route('{methods: [jwt:corp]}'),
      ],
    ],
    [
      'discovery as the one key source',
      [
        'authn:',
        '  issuers:',
        '    corp: {issuer: https://idp.example.com, audiences: [api], discovery: true}',
        ...route('{methods: [jwt:corp]}'),
      ],
    ],
    [
      'discovery: false beside a jwksUrl (one source)',
      [
        'authn:',
        '  issuers:',
        '    corp: {issuer: https://idp.example.com, audiences: [api], discovery: false, jwksUrl: https://idp.example.com/jwks}',
        ...route('{methods: [jwt:corp]}'),
      ],
    ],
  ])('accepts %s', (_, lines) => {
    expect(() => load(lines)).not.toThrow();
  });

  it('accepts mtls when the HTTPS listener asks for client certificates', () => {
    const config = parseConfig(
      [
        'listeners:',
        https,
        'upstreams: {api: {targets: [http://a]}}',
        ...route('{methods: [mtls]}'),
      ].join('\n'),
      join(dir, 'portcullis.yaml'),
      { env: {}, stageKinds: STAGE_KINDS },
    );
    expect(config.routes[0]?.auth?.methods).toEqual(['mtls']);
    expect(config.listeners.https?.clientCa).toBe(join(dir, 'ca.pem'));
  });
});
