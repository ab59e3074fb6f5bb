import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ConfigFileError, ConfigIssue } from '../../src/config/errors.js';
import { loadConfigFile, parseConfig, type LoadOptions } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';
import type { StageKind } from '../../src/stages/registry-types.js';

/** Strips the first newline and the common indentation, so configs can be written inline. */
function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = strings
    .reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '')
    .replace(/^\n/, '');
  const indents = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => /^ */.exec(l)?.[0].length ?? 0);
  const cut = Math.min(...indents);
  return text
    .split('\n')
    .map((l) => l.slice(cut))
    .join('\n');
}

const notCalled = (): never => {
  throw new Error('create is not called by the loader');
};

const Cidrs = Type.Array(Type.String({ format: 'cidr' }), { default: [] });

const KINDS: ReadonlyMap<string, StageKind> = new Map<string, StageKind>(
  [
    {
      type: 'ip-restriction',
      phase: 'blocks',
      description: 'test',
      settings: Type.Object({ allow: Cidrs, deny: Cidrs }, { additionalProperties: false }),
      create: notCalled,
    } satisfies StageKind,
    {
      type: 'api-key',
      phase: 'authn',
      description: 'test',
      settings: Type.Object(
        { header: Type.String({ format: 'header-name', default: 'x-api-key' }) },
        { additionalProperties: false },
      ),
      create: notCalled,
    } satisfies StageKind,
    {
      type: 'response-headers',
      phase: 'transform',
      description: 'test',
      settings: Type.Object(
        { set: Type.Record(Type.String(), Type.String(), { default: {} }) },
        { additionalProperties: false },
      ),
      create: notCalled,
    } satisfies StageKind,
  ].map((k) => [k.type, k]),
);

const opts = (env: Record<string, string> = {}): LoadOptions => ({ env, stageKinds: KINDS });

function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, 'portcullis.yaml', opts(env));
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(String);
    throw e;
  }
  throw new Error('the config was accepted');
}

const VALID = yaml`
  listeners:
    http:
      port: 8080
  upstreams:
    api:
      targets: [http://127.0.0.1:9000]
  routes:
    - name: users
      paths: [/users, /users/:id]
      methods: [GET, POST]
      upstream: api
      auth: {public: true}
`;

describe('parseConfig refuses a bad config with the exact issue', () => {
  it.each([
    {
      what: 'an unknown key at the root, with a suggestion',
      text: yaml`
        listeners:
          http: {port: 8080}
        listner: {}
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:3:1 (root): unknown key "listner"; did you mean "listeners"?',
    },
    {
      what: 'an unknown key three levels down, pointing at the key',
      text: yaml`
        listeners:
          http: {port: 8080}
        server:
          timeouts:
            requestHeader: 5000
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:5:5 server.timeouts: unknown key "requestHeader"; did you mean "requestHeaders"?',
    },
    {
      what: 'an unknown key in a route',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            timeout: 5
            auth: {public: true}
      `,
      issue: 'portcullis.yaml:9:5 routes[0]: unknown key "timeout"',
    },
    {
      what: 'an upstream target with credentials',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api:
            targets:
              - http://10.0.0.1:80
              - http://admin:hunter2@10.0.0.2:80
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:7:9 upstreams.api.targets[1]: must be an absolute http(s) URL',
    },
    {
      what: 'an upstream target that is not http(s)',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api: {targets: [ftp://files.example.com]}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:4:19 upstreams.api.targets[0]: must be an absolute http(s) URL',
    },
    {
      what: 'an upstream target with a query',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api: {targets: ["https://api.example.com/?debug=1"]}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:4:19 upstreams.api.targets[0]: must be an absolute http(s) URL',
    },
    {
      what: 'a missing required key, at the parent object',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            auth: {public: true}
      `,
      issue: 'portcullis.yaml:5:5 routes[0]: missing required key "upstream"',
    },
    {
      what: 'a missing top-level section',
      text: yaml`
        listeners:
          http: {port: 8080}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:1:1 (root): missing required key "upstreams"',
    },
    {
      what: 'a wrong type, naming the expected one',
      text: yaml`
        listeners:
          http:
            port: "8080"
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:3:11 listeners.http.port: must be an integer, not a string',
    },
    {
      what: 'a number above its maximum, naming the bound',
      text: yaml`
        listeners:
          http: {port: 80800}
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:2:16 listeners.http.port: must be at most 65535',
    },
    {
      what: 'a bad method, as one issue listing the allowed ones',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET, FETCH]
            upstream: api
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:7:20 routes[0].methods[1]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
    },
    {
      what: 'a repeated method',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET, POST, GET]
            upstream: api
            auth: {public: true}
      `,
      issue: 'portcullis.yaml:7:26 routes[0].methods[2]: duplicate of routes[0].methods[0]',
    },
    {
      what: 'a bad log level',
      text: yaml`
        listeners:
          http: {port: 8080}
        logging:
          level: verbose
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:4:10 logging.level: must be one of fatal, error, warn, info, debug, trace, silent',
    },
    {
      what: 'a bad CIDR',
      text: yaml`
        listeners:
          http: {port: 8080}
        server:
          trustedProxies:
            - 10.0.0.0/8
            - 10.0.0.0/33
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:6:7 server.trustedProxies[1]: must be an IPv4/IPv6 address or CIDR',
    },
    {
      what: 'a route path that climbs out with ..',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/api/../admin]
            methods: [GET]
            upstream: api
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:6:13 routes[0].paths[0]: must be a route path: starts with /, static and :param segments, an optional final *; no .., //, %, ?, #, \\ or ;',
    },
    {
      what: 'an upstream name that is not a name',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api: {targets: [http://a]}
          "my api": {targets: [http://b]}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:5:3 upstreams: invalid name "my api": must match ^[A-Za-z0-9_.-]{1,64}$',
    },
    {
      what: 'a missing environment variable, at its scalar',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api:
            targets: ["\${API_URL}"]
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:5:15 upstreams.api.targets[0]: environment variable API_URL is not set',
    },
    {
      what: 'a malformed environment reference',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api:
            targets: ["\${API-URL}"]
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:5:15 upstreams.api.targets[0]: invalid ${...} reference: write ${NAME} with NAME made of letters, digits and _, or $${ for a literal ${',
    },
    {
      what: 'a YAML syntax error',
      text: yaml`
        listeners:
          http: {port: 8080
        upstreams: {api: {targets: [http://a]}}
      `,
      issue:
        'portcullis.yaml:3:1 (root): Flow map in block collection must be sufficiently indented and end with a }',
    },
    {
      what: 'a duplicate YAML key',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
        listeners:
          http: {port: 9090}
      `,
      issue: 'portcullis.yaml:5:1 (root): duplicate key "listeners"',
    },
    {
      what: 'a merge key, which YAML 1.2 does not have',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api: &api {targets: [http://a]}
          api2:
            <<: *api
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issues: [
        'portcullis.yaml:6:5 upstreams.api2: missing required key "targets"',
        'portcullis.yaml:6:5 upstreams.api2: unknown key "<<"',
      ],
    },
    {
      what: 'no listener',
      text: yaml`
        listeners: {}
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:1:12 listeners: needs at least one of http, https',
    },
    {
      what: 'a missing certificate file',
      text: yaml`
        listeners:
          https:
            port: 8443
            cert: /nonexistent/portcullis/cert.pem
            key: /nonexistent/portcullis/key.pem
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issues: [
        'portcullis.yaml:4:11 listeners.https.cert: cannot read file "/nonexistent/portcullis/cert.pem": no such file',
        'portcullis.yaml:5:10 listeners.https.key: cannot read file "/nonexistent/portcullis/key.pem": no such file',
      ],
    },
    {
      what: 'an unknown upstream',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api: {targets: [http://a]}
          auth: {targets: [http://b]}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: apx
            auth: {public: true}
      `,
      issue: 'portcullis.yaml:10:15 routes[0].upstream: unknown upstream "apx"; known: api, auth',
    },
    {
      what: 'an unknown stage type',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages:
              - type: waf
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:10:15 routes[0].stages[0].type: unknown stage type "waf"; known: api-key, ip-restriction, response-headers',
    },
    {
      what: 'bad stage settings, checked by the stage schema',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages:
              - type: ip-restriction
                allow: [10.0.0.0/8, 192.168.0.0/16, 10.1.2.300]
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:11:45 routes[0].stages[0].allow[2]: must be an IPv4/IPv6 address or CIDR',
    },
    {
      what: 'an unknown stage setting',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        defaults:
          stages:
            - type: ip-restriction
              alow: [10.0.0.0/8]
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:7:7 defaults.stages[0]: unknown key "alow"; did you mean "allow"?',
    },
    {
      what: 'stages out of phase order, at the late entry',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages:
              - type: response-headers
              - type: api-key
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:11:9 routes[0].stages[1]: stage "api-key" (phase authn) must come before stage "response-headers" (phase transform); stages run in phase order: blocks, authn, limits, authz, contract, detect, transform',
    },
    {
      what: 'a preflight skip of a stage the route does not have',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages: [{type: api-key}]
            preflight:
              skipStages: [api-key, ip-restriction]
            auth: {public: true}
      `,
      issue:
        'portcullis.yaml:11:29 routes[0].preflight.skipStages[1]: stage "ip-restriction" is not a stage of this route; its stages: api-key, authn',
    },
    {
      what: 'a duplicate route name',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - {name: users, paths: [/users], methods: [GET], upstream: api, auth: {public: true}}
          - {name: users, paths: [/users], methods: [POST], upstream: api, auth: {public: true}}
      `,
      issue:
        'portcullis.yaml:6:12 routes[1].name: duplicate route name "users"; routes[0] has it too',
    },
    {
      what: 'two routes claiming the same method and path',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - {name: read, paths: ["/users/:id"], methods: [GET, PUT], upstream: api, auth: {public: true}}
          - {name: write, paths: [/admin, "/users/:id"], methods: [PUT], upstream: api, auth: {public: true}}
      `,
      issue:
        'portcullis.yaml:6:35 routes[1].paths[1]: route "write" (routes[1]) and route "read" (routes[0]) both claim PUT "/users/:id" on any host',
    },
    {
      what: 'two routes claiming the same method, path and host, whatever the case and port',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - {name: a, hosts: [api.example.com], paths: [/], methods: [GET], upstream: api, auth: {public: true}}
          - {name: b, hosts: [www.example.com, API.example.com:8443], paths: [/], methods: [GET], upstream: api, auth: {public: true}}
      `,
      issue:
        'portcullis.yaml:6:40 routes[1].hosts[1]: "API.example.com:8443" is the host "api.example.com" of route "a" (routes[0]) (hosts match without case and port): write it the same way',
    },
    {
      what: 'the same path written with other parameter names, which the router cannot tell apart',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - {name: read, paths: ["/users/:id"], methods: [GET], upstream: api, auth: {public: true}}
          - {name: write, paths: ["/users/:userId"], methods: [PUT], upstream: api, auth: {public: true}}
      `,
      issue:
        'portcullis.yaml:6:27 routes[1].paths[0]: "/users/:userId" is the path "/users/:id" of route "read" (routes[0]) with other parameter names: write it the same way',
    },
    {
      what: 'upstream targets with different paths',
      text: yaml`
        listeners:
          http: {port: 8080}
        upstreams:
          api:
            targets: [http://a/v1, http://b/v1/, http://c/v2]
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue:
        'portcullis.yaml:5:42 upstreams.api.targets[2]: must have the same path as upstreams.api.targets[0] ("/v1"): every request goes to the same path on each target',
    },
    {
      what: 'an unknown YAML tag',
      text: yaml`
        listeners:
          http: {port: 8080}
        logging:
          level: !secret info
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      issue: 'portcullis.yaml:4:10 logging.level: Unresolved tag: !secret',
    },
  ])('$what', ({ text, issue, issues }) => {
    expect(issuesOf(text)).toEqual(issues ?? [issue]);
  });
});

describe('parseConfig', () => {
  it('accepts a valid config and applies the defaults', () => {
    const config = parseConfig(VALID, 'portcullis.yaml', opts());
    expect(config.server.timeouts.requestHeaders).toBe(10_000);
    expect(config.server.trustedProxies).toEqual([]);
    expect(config.server.normalization.allowEncodedSlash).toBe(false);
    expect(config.logging.level).toBe('info');
    expect(config.listeners.http).toEqual({ host: '0.0.0.0', port: 8080, redirectToHttps: false });
    expect(config.upstreams.api?.timeouts).toEqual({
      connect: 5_000,
      response: 30_000,
      body: 30_000,
    });
    expect(config.upstreams.api?.tls.verify).toBe(true);
    expect(config.defaults.limits.bodyBytes).toBe(1_048_576);
    expect(config.routes[0]?.preflight.skipStages).toEqual([]);
  });

  it('leaves the route limits a route did not set to defaults.limits', () => {
    const config = parseConfig(
      yaml`
        listeners: {http: {port: 8080}}
        upstreams: {api: {targets: [http://a]}}
        defaults:
          limits: {bodyBytes: 10}
        routes:
          - {name: r, paths: [/], methods: [POST], upstream: api, limits: {jsonDepth: 8}, auth: {public: true}}
      `,
      'portcullis.yaml',
      opts(),
    );
    expect(config.routes[0]?.limits).toEqual({ jsonDepth: 8 });
    expect(config.defaults.limits.bodyBytes).toBe(10);
  });

  it('applies the defaults of stage settings and entries', () => {
    const config = parseConfig(
      yaml`
        listeners: {http: {port: 8080}}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages: [{type: ip-restriction, deny: [192.0.2.0/24]}, {type: api-key, enforce: false}]
            auth: {public: true}
      `,
      'portcullis.yaml',
      opts(),
    );
    expect(config.routes[0]?.stages).toEqual([
      { type: 'ip-restriction', enabled: true, enforce: true, allow: [], deny: ['192.0.2.0/24'] },
      { type: 'api-key', enabled: true, enforce: false, header: 'x-api-key' },
    ]);
  });

  it('lowercases header names', () => {
    const config = parseConfig(
      yaml`
        listeners: {http: {port: 8080}}
        server: {requestIdHeader: X-Request-ID}
        logging: {redactHeaders: [X-Auth-Token, Cookie2]}
        upstreams: {api: {targets: [http://a]}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
      'portcullis.yaml',
      opts(),
    );
    expect(config.server.requestIdHeader).toBe('x-request-id');
    expect(config.logging.redactHeaders).toEqual(['x-auth-token', 'cookie2']);
  });

  it('interpolates ${ENV} in strings, and $${ is a literal ${', () => {
    const config = parseConfig(
      yaml`
        listeners:
          http:
            port: \${PORT}
        upstreams:
          api: {targets: ["http://\${API_HOST}:9000/v1"]}
        routes:
          - name: r
            paths: [/]
            methods: [GET]
            upstream: api
            stages:
              - type: response-headers
                set: {x-template: "$\${not_env} costs $5", x-quoted-port: "\${PORT}"}
            auth: {public: true}
      `,
      'portcullis.yaml',
      opts({ PORT: '8081', API_HOST: 'api.internal' }),
    );
    // An unquoted scalar is typed as YAML would type the text; a quoted one stays a string.
    expect(config.listeners.http?.port).toBe(8081);
    expect(config.upstreams.api?.targets).toEqual(['http://api.internal:9000/v1']);
    expect(config.routes[0]?.stages?.[0]).toMatchObject({
      set: { 'x-template': '${not_env} costs $5', 'x-quoted-port': '8081' },
    });
  });

  it('interpolates inside anchored nodes, and aliases see the result', () => {
    const config = parseConfig(
      yaml`
        listeners: {http: {port: 8080}}
        upstreams:
          a: &up {targets: ["\${TARGET}"]}
          b: *up
        routes: [{name: r, paths: [/], methods: [GET], upstream: b, auth: {public: true}}]
      `,
      'portcullis.yaml',
      opts({ TARGET: 'http://t' }),
    );
    expect(config.upstreams.b?.targets).toEqual(['http://t']);
  });

  it('never prints a value that came from the environment', () => {
    const secret = 's3cr3t-Tok3n';
    const env = {
      UPSTREAM: `http://svc:${secret}@10.0.0.1`,
      STAGE: `waf-${secret}`,
      CERT: `/nonexistent/${secret}.pem`,
      ROUTE: `route-${secret}`,
      LEVEL: secret,
    };
    let error: unknown;
    try {
      parseConfig(
        yaml`
          listeners:
            http: {port: 8080}
            https: {port: 8443, cert: "\${CERT}", key: "\${CERT}"}
          logging: {level: "\${LEVEL}"}
          upstreams:
            api: {targets: ["\${UPSTREAM}"]}
          routes:
            - {name: "\${ROUTE}", paths: [/], methods: [GET], upstream: "\${ROUTE}", auth: {public: true}}
            - {name: "\${ROUTE}", paths: [/], methods: [GET], upstream: api, stages: [{type: "\${STAGE}"}], auth: {public: true}}
        `,
        'portcullis.yaml',
        { env, stageKinds: KINDS },
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    // Every check fired, and none printed the value.
    expect(config.issues.map((i) => i.path)).toEqual([
      'listeners.https.cert',
      'listeners.https.key',
      'logging.level',
      'upstreams.api.targets[0]',
      'routes[0].upstream',
      'routes[1].name',
      'routes[1].paths[0]',
      'routes[1].stages[0].type',
    ]);
    const everything = [config.message, String(config.stack), ...config.issues.map(String)];
    for (const text of everything) expect(text).not.toContain(secret);
    // What the file says is shown instead, so the operator knows which variable to look at.
    expect(config.message).toContain('unknown stage type "${STAGE}" (from the environment)');
    expect(config.message).toContain('cannot read file "${CERT}" (from the environment)');
  });

  it('refuses a YAML alias bomb without expanding it', () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...'bcdefghi'.split('').map((n, i) => {
        const prev = 'abcdefghi'[i] ?? 'a';
        return `${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]`;
      }),
    ].join('\n');
    expect(issuesOf(bomb)).toEqual([
      'portcullis.yaml:2:8 b[0]: aliases expand to too much data (more than 100 references): refused as a possible alias bomb',
    ]);
  });

  it.each([
    ['flow collections', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 1],
    ['compact sequences', `a:\n${'- '.repeat(100_000)}x\n`, 2],
    ['indentation', Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'), 258],
  ])('refuses YAML nested too deep (%s) before the parser recurses into it', (_, text, line) => {
    // Without the guard the parser runs out of stack, and V8 may abort the process outright.
    expect(issuesOf(text)).toEqual([
      `portcullis.yaml:${line}:1 (root): nests deeper than 256 levels`,
    ]);
  });

  it('keeps anchors and aliases working', () => {
    const config = parseConfig(
      yaml`
        listeners: {http: {port: 8080}}
        upstreams: {api: {targets: [http://a]}}
        routes:
          - {name: a, paths: [/a], methods: &rw [GET, POST], upstream: api, auth: {public: true}}
          - {name: b, paths: [/b], methods: *rw, upstream: api, auth: {public: true}}
      `,
      'portcullis.yaml',
      opts(),
    );
    expect(config.routes[1]?.methods).toEqual(['GET', 'POST']);
  });

  it('collects every issue into one error, in file order, one per line', () => {
    let error: unknown;
    try {
      parseConfig(
        yaml`
          listeners:
            http: {port: -1}
          upstreams: {api: {targets: []}}
          routes: [{name: r, paths: [/], methods: [GET], upstream: nope, auth: {public: true}}]
        `,
        'conf/p.yaml',
        opts(),
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    expect(config.code).toBe('PCL_CONFIG_INVALID');
    expect(config.message).toBe(
      [
        'conf/p.yaml:2:16 listeners.http.port: must be at least 0',
        'conf/p.yaml:3:28 upstreams.api.targets: must have at least one item',
        'conf/p.yaml:4:58 routes[0].upstream: unknown upstream "nope"; known: api',
      ].join('\n'),
    );
  });

  it('refuses an empty file', () => {
    expect(issuesOf('')).toEqual([
      'portcullis.yaml:1:1 (root): must be a mapping (key: value), not empty',
    ]);
  });
});

describe('config formats', () => {
  const config = (field: 'path' | 'host' | 'target' | 'cidr' | 'header', value: string) =>
    [
      'listeners: {http: {port: 8080}}',
      `server: {trustedProxies: [${JSON.stringify(field === 'cidr' ? value : '10.0.0.0/8')}]}`,
      `logging: {redactHeaders: [${JSON.stringify(field === 'header' ? value : 'x-token')}]}`,
      `upstreams: {api: {targets: [${JSON.stringify(field === 'target' ? value : 'http://a')}]}}`,
      'routes:',
      `  - name: r`,
      `    hosts: [${JSON.stringify(field === 'host' ? value : 'api.example.com')}]`,
      `    paths: [${JSON.stringify(field === 'path' ? value : '/')}]`,
      '    methods: [GET]',
      '    upstream: api',
      '    auth: {public: true}',
    ].join('\n');
  const accepted = (field: Parameters<typeof config>[0], value: string) => {
    try {
      parseConfig(config(field, value), 'portcullis.yaml', opts());
      return true;
    } catch (e) {
      if (e instanceof ConfigError) return false;
      throw e;
    }
  };

  it.each([
    ['path', '/', true],
    ['path', '/users/:id/orders', true],
    ['path', '/static/*', true],
    ['path', '/users/', true],
    ['path', 'users', false],
    ['path', '/a//b', false],
    ['path', '/a/../b', false],
    ['path', '/a/./b', false],
    ['path', '/a%2fb', false],
    ['path', '/a?b', false],
    ['path', '/a#b', false],
    ['path', '/a\\b', false],
    ['path', '/a;b', false],
    ['path', '/*/a', false],
    ['path', '/a:b', false],
    ['path', '/:id(^\\d+$)', false],
    ['host', 'api.example.com', true],
    ['host', '*.example.com', true],
    ['host', 'api.example.com:8443', true],
    ['host', '[::1]:8080', true],
    ['host', 'a.*.example.com', false],
    ['host', 'api.example.com.', false],
    ['host', 'api_1.example.com', false],
    ['host', 'api.example.com:0', false],
    ['host', 'api.example.com:65536', false],
    ['target', 'http://10.0.0.1:8080', true],
    ['target', 'https://api.example.com/v1', true],
    ['target', 'HTTPS://api.example.com', true],
    ['target', 'ws://api.example.com', false],
    ['target', 'http://user@api.example.com', false],
    ['target', 'http://@api.example.com', false],
    ['target', 'http://api.example.com/#frag', false],
    ['target', 'http://api.example.com/?', false],
    ['target', 'http://api.example.com/a b', false],
    ['target', 'http:api.example.com', false],
    ['target', '//api.example.com', false],
    ['cidr', '10.0.0.0/8', true],
    ['cidr', '2001:db8::/32', true],
    ['cidr', '192.0.2.1', true],
    ['cidr', '10.0.0.0/08', false],
    ['cidr', 'fe80::1%eth0', false],
    ['cidr', '10.0.0.0/', false],
    ['header', 'X-Api-Key', true],
    ['header', 'x key', false],
    ['header', 'x-key:', false],
  ] as const)('%s %j accepted: %s', (field, value, ok) => {
    expect(accepted(field, value)).toBe(ok);
  });
});

describe('ConfigIssue', () => {
  it('prints as file:line:column path: message', () => {
    const issue = new ConfigIssue(
      'portcullis.yaml',
      14,
      7,
      'routes[2].upstream',
      'must be an absolute http(s) URL',
    );
    expect(String(issue)).toBe(
      'portcullis.yaml:14:7 routes[2].upstream: must be an absolute http(s) URL',
    );
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a missing file with PCL_CONFIG_UNREADABLE', () => {
    const file = join(dir, 'missing.yaml');
    expect(() => loadConfigFile(file, opts())).toThrow(ConfigFileError);
    try {
      loadConfigFile(file, opts());
    } catch (e) {
      expect((e as ConfigFileError).code).toBe('PCL_CONFIG_UNREADABLE');
      expect((e as ConfigFileError).message).toContain(file);
    }
  });

  it('refuses a directory and a file that is not UTF-8', () => {
    expect(() => loadConfigFile(dir, opts())).toThrow(ConfigFileError);
    const latin1 = join(dir, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    expect(() => loadConfigFile(latin1, opts())).toThrow(/not valid UTF-8/);
  });

  it('resolves certificate and CA files against the config file and returns absolute paths', () => {
    mkdirSync(join(dir, 'tls'));
    for (const f of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, 'tls', f), 'pem');
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      yaml`
        listeners:
          https: {port: 8443, cert: tls/cert.pem, key: ./tls/key.pem}
        upstreams:
          api: {targets: [https://a], tls: {ca: tls/ca.pem}}
        routes: [{name: r, paths: [/], methods: [GET], upstream: api, auth: {public: true}}]
      `,
    );
    const config = loadConfigFile(file, opts());
    expect(config.listeners.https?.cert).toBe(join(dir, 'tls', 'cert.pem'));
    expect(config.listeners.https?.key).toBe(join(dir, 'tls', 'key.pem'));
    expect(config.upstreams.api?.tls.ca).toBe(join(dir, 'tls', 'ca.pem'));
    expect(config.listeners.https?.minVersion).toBe('TLSv1.2');
  });

  it('accepts the example config with the real stage kinds', () => {
    const example = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));
    const config = loadConfigFile(example, { env: {}, stageKinds: STAGE_KINDS });
    expect(config.routes.length).toBeGreaterThan(0);
  });

  it('reports a file-level issue with the path as given', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, VALID.replace('port: 8080', 'port: 8080\n    hots: x'));
    expect(() => loadConfigFile(file, opts())).toThrow(
      `${file}:4:5 listeners.http: unknown key "hots"; did you mean "host"?`,
    );
  });
});
