import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { routesFromOpenApi } from '../../src/config/openapi-routes.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** Routes from an OpenAPI document's security requirements: exactly what it says, or an error. */

const SCHEMES = { apiKeyAuth: 'api-key', bearerAuth: 'jwt:corp', oauth: 'introspection:idp' };

/** A document with one operation, `GET /items/{itemId}`, with `security` (when given). */
function doc(security: unknown, root?: unknown): Record<string, unknown> {
  const op: Record<string, unknown> = { operationId: 'getItem', responses: {} };
  if (security !== undefined) op.security = security;
  return {
    openapi: '3.1.0',
    ...(root === undefined ? {} : { security: root }),
    paths: { '/items/{itemId}': { get: op } },
  };
}

const access = (security: unknown, root?: unknown) => {
  const [route] = routesFromOpenApi(doc(security, root), { upstream: 'api', schemes: SCHEMES });
  return { auth: route?.auth, authz: route?.authz };
};

describe('routes from OpenAPI security requirements', () => {
  it.each([
    ['security: [] is public', [], { auth: { public: true }, authz: undefined }],
    [
      'one scheme with scopes needs all of them',
      [{ bearerAuth: ['items:read', 'items:list'] }],
      {
        auth: { methods: ['jwt:corp'] },
        authz: { scopes: { allOf: ['items:read', 'items:list'] } },
      },
    ],
    [
      'one scheme without scopes is any authenticated caller',
      [{ apiKeyAuth: [] }],
      { auth: { methods: ['api-key'] }, authz: { anyAuthenticated: true } },
    ],
    [
      'an alternative without scopes makes the others no stricter',
      [{ bearerAuth: ['items:read'] }, { apiKeyAuth: [] }],
      { auth: { methods: ['jwt:corp', 'api-key'] }, authz: { anyAuthenticated: true } },
    ],
    [
      'alternatives of one scope each need any one',
      [{ bearerAuth: ['items:read'] }, { oauth: ['items:admin'] }],
      {
        auth: { methods: ['jwt:corp', 'introspection:idp'] },
        authz: { scopes: { anyOf: ['items:read', 'items:admin'] } },
      },
    ],
  ])('%s', (_what, security, expected) => {
    expect(access(security)).toEqual(expected);
  });

  it("takes the document's security when the operation has none, and the operation's over it", () => {
    expect(access(undefined, [{ apiKeyAuth: [] }])).toEqual({
      auth: { methods: ['api-key'] },
      authz: { anyAuthenticated: true },
    });
    expect(access([], [{ apiKeyAuth: [] }])).toEqual({ auth: { public: true }, authz: undefined });
  });

  it.each([
    ['no security anywhere (open by omission)', undefined, /has no security requirement/],
    [
      'an empty requirement beside others ({} is anonymous)',
      [{ apiKeyAuth: [] }, {}],
      /empty requirement/,
    ],
    ['two schemes at once', [{ apiKeyAuth: [], bearerAuth: [] }], /several schemes at once/],
    [
      'a scheme with no gateway method',
      [{ basicAuth: [] }],
      /scheme basicAuth has no gateway method/,
    ],
    [
      'a scheme named like a prototype member',
      [{ toString: [] }],
      /scheme toString has no gateway method/,
    ],
    [
      'alternatives of several scopes',
      [{ bearerAuth: ['a', 'b'] }, { oauth: ['c'] }],
      /write this route by hand/,
    ],
    ['scopes that are not strings', [{ bearerAuth: [1] }], /not a list of strings/],
  ])('refuses %s', (_what, security, message) => {
    expect(() => routesFromOpenApi(doc(security), { upstream: 'api', schemes: SCHEMES })).toThrow(
      message,
    );
  });

  it.each([
    ['/a/{b}/c', '/a/:b/c'],
    ['/', '/'],
  ])('routes %s as %s', (template, path) => {
    const [route] = routesFromOpenApi(
      { openapi: '3.0.3', paths: { [template]: { get: { security: [] } } } },
      { upstream: 'api', schemes: {} },
    );
    expect(route?.paths).toEqual([path]);
    expect(route?.name).toMatch(/^get/);
  });

  it.each([['/a/{b-c}'], ['/a/x{b}'], ['/a/:b'], ['a/b']])('refuses the path %s', (template) => {
    expect(() =>
      routesFromOpenApi(
        { openapi: '3.0.3', paths: { [template]: { get: { security: [] } } } },
        { upstream: 'api', schemes: {} },
      ),
    ).toThrow();
  });

  it('refuses what is not an OpenAPI 3 document', () => {
    expect(() =>
      routesFromOpenApi({ swagger: '2.0', paths: {} }, { upstream: 'api', schemes: {} }),
    ).toThrow('not an OpenAPI 3 document');
  });
});

describe('routes from the demo spec', () => {
  const spec: unknown = parse(
    readFileSync(new URL('../../src/demo/openapi.yaml', import.meta.url), 'utf8'),
  );
  const routes = routesFromOpenApi(spec, {
    upstream: 'demo',
    schemes: { apiKeyAuth: 'api-key', bearerAuth: 'jwt:demo' },
  });

  it('gives each operation its route and leaves the internal ones out', () => {
    expect(routes.map((r) => `${r.methods.join()} ${r.paths.join()}`)).toEqual([
      'GET /accounts',
      'GET /accounts/:accountId',
      'PATCH /accounts/:accountId',
      'GET /accounts/:accountId/orders',
      'POST /accounts/:accountId/orders',
      'GET /orders/:orderId',
      'DELETE /admin/accounts/:accountId',
      'GET /catalog',
      'GET /health',
    ]);
    expect(routes.find((r) => r.name === 'deleteAccount')).toMatchObject({
      auth: { methods: ['jwt:demo'] },
      authz: { scopes: { allOf: ['admin'] } },
    });
  });

  it('makes routes the loader accepts as they are', () => {
    const config = {
      listeners: { http: { port: 8080 } },
      upstreams: { demo: { targets: ['http://127.0.0.1:3000'] } },
      authn: {
        issuers: {
          demo: { issuer: 'https://idp', jwksUrl: 'https://idp/jwks', audiences: ['demo'] },
        },
      },
      routes,
    };
    const loaded = parseConfig(stringify(config), 'generated.yaml', {
      env: {},
      stageKinds: STAGE_KINDS,
    });
    expect(loaded.routes).toHaveLength(9);
  });
});
