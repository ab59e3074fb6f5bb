import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';

interface Account {
  id: string;
  ownerId: string;
  name: string;
  email: string;
  balance: number;
  tier: string;
  internalRiskScore?: number;
}

interface Order {
  id: string;
  accountId: string;
  items: { sku: string; qty: number; price: number }[];
  total: number;
  status: string;
}

const SEEDED: Readonly<Record<string, string>> = { accountId: 'acc_1001', orderId: 'ord_5001' };

let up: DemoUpstream;

beforeEach(async () => {
  // A fresh upstream per test: each starts from the same seeded data.
  up = await startDemoUpstream({});
});

afterEach(async () => {
  await up.close();
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function call(
  method: string,
  path: string,
  init: { json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers = { ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(up.url + path, { method, headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function jsonOf<T>(reply: Reply): T {
  expect(reply.headers.get('content-type')).toBe('application/json');
  return JSON.parse(reply.text) as T;
}

// --- the OpenAPI spec, read once --------------------------------------------------------------

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error(`${where} is not an object`);
  }
  return v as Record<string, unknown>;
}

const spec = obj(
  parse(readFileSync(new URL('../../src/demo/openapi.yaml', import.meta.url), 'utf8')),
  'the spec',
);

const escapeSegment = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');

function at(pointer: string): unknown {
  let node: unknown = spec;
  for (const seg of pointer.split('/').slice(1)) {
    node = obj(node, pointer)[seg.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node;
}

/** The node at `pointer`, following `$ref`s, and the pointer it was finally found at. */
function follow(pointer: string): { pointer: string; node: Record<string, unknown> } {
  let node = obj(at(pointer), pointer);
  while (typeof node.$ref === 'string') {
    pointer = node.$ref.slice(1);
    node = obj(at(pointer), pointer);
  }
  return { pointer, node };
}

const SPEC_ID = 'https://portcullis.test/demo/openapi.json';
// OpenAPI 3.1 schemas are JSON Schema 2020-12; strict off so that the document's
// non-schema members and the x- extensions are ignored rather than refused.
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(spec, SPEC_ID);

function conformsTo(pointer: string, value: unknown): void {
  const validate = ajv.compile({ $ref: `${SPEC_ID}#${encodeURI(pointer)}` });
  expect(validate(value), ajv.errorsText(validate.errors)).toBe(true);
}

interface Operation {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly pointer: string;
  readonly op: Record<string, unknown>;
}

const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'];

const operations: Operation[] = Object.entries(obj(spec.paths, 'paths')).flatMap(([path, item]) =>
  HTTP_METHODS.filter((m) => m in obj(item, path)).map((m) => ({
    label: `${m.toUpperCase()} ${path}`,
    method: m.toUpperCase(),
    path,
    pointer: `/paths/${escapeSegment(path)}/${m}`,
    op: obj(obj(item, path)[m], `${m} ${path}`),
  })),
);

const READ = [{ bearerAuth: ['accounts:read'] }, { apiKeyAuth: [] }];

/** Exactly the endpoints the upstream serves, and who may call them. */
const ENDPOINTS: readonly { label: string; security: unknown[] }[] = [
  { label: 'GET /accounts', security: READ },
  { label: 'GET /accounts/{accountId}', security: READ },
  {
    label: 'PATCH /accounts/{accountId}',
    security: [{ bearerAuth: ['accounts:write'] }, { apiKeyAuth: [] }],
  },
  { label: 'GET /accounts/{accountId}/orders', security: READ },
  {
    label: 'POST /accounts/{accountId}/orders',
    security: [{ bearerAuth: ['orders:write'] }, { apiKeyAuth: [] }],
  },
  { label: 'GET /orders/{orderId}', security: READ },
  { label: 'DELETE /admin/accounts/{accountId}', security: [{ bearerAuth: ['admin'] }] },
  { label: 'GET /catalog', security: [] },
  { label: 'GET /health', security: [] },
  { label: 'GET /internal/owners/accounts/{accountId}', security: [] },
  { label: 'GET /internal/owners/orders/{orderId}', security: [] },
];

function operation(label: string): Operation {
  const found = operations.find((o) => o.label === label);
  if (found === undefined) throw new Error(`the spec has no ${label}`);
  return found;
}

// --- behaviour --------------------------------------------------------------------------------

describe('demo upstream', () => {
  it('reports health', async () => {
    const reply = await call('GET', '/health');
    expect(reply.status).toBe(200);
    expect(jsonOf(reply)).toEqual({ status: 'ok' });
  });

  it('serves the catalog as the same 1024-byte JSON document every time', async () => {
    const first = await call('GET', '/catalog');
    const second = await call('GET', '/catalog');
    expect(first.status).toBe(200);
    expect(Buffer.byteLength(first.text)).toBe(1024);
    expect(first.headers.get('content-length')).toBe('1024');
    expect(second.text).toBe(first.text);
    const catalog = jsonOf<{ products: { sku: string; price: number }[] }>(first);
    expect(catalog.products.map((p) => p.sku)).toContain('WIDGET-1');
  });

  it('answers HEAD on the catalog with its headers and no body', async () => {
    const reply = await call('HEAD', '/catalog');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-length')).toBe('1024');
    expect(reply.text).toBe('');
  });

  it('lists every seeded account, admin-only risk score included (excessive exposure, by design)', async () => {
    const reply = await call('GET', '/accounts');
    expect(reply.status).toBe(200);
    const { items } = jsonOf<{ items: Account[] }>(reply);
    expect(items.map((a) => [a.id, a.ownerId])).toEqual([
      ['acc_1001', 'user_alice'],
      ['acc_1002', 'user_bob'],
      ['acc_1003', 'user_carol'],
    ]);
    for (const account of items) expect(account.internalRiskScore).toEqual(expect.any(Number));
  });

  it('reads any account by id, whoever asks (no authorization, by design)', async () => {
    const reply = await call('GET', '/accounts/acc_1002');
    expect(reply.status).toBe(200);
    expect(jsonOf(reply)).toEqual({
      id: 'acc_1002',
      ownerId: 'user_bob',
      name: 'Bob Brown',
      email: 'bob@example.com',
      balance: 89.1,
      tier: 'free',
      internalRiskScore: 47,
    });
  });

  it('merges a name and email patch and keeps it', async () => {
    const patch = { name: 'Alice A. Anders', email: 'alice.anders@example.com' };
    const reply = await call('PATCH', '/accounts/acc_1001', { json: patch });
    expect(reply.status).toBe(200);
    expect(jsonOf(reply)).toMatchObject({ ...patch, balance: 1250.75, tier: 'pro' });
    expect(jsonOf(await call('GET', '/accounts/acc_1001'))).toMatchObject(patch);
  });

  it('accepts a merge-patch media type', async () => {
    const reply = await call('PATCH', '/accounts/acc_1001', {
      json: { name: 'A' },
      headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' },
    });
    expect(reply.status).toBe(200);
  });

  it('accepts balance and tier in a PATCH (mass assignment, by design)', async () => {
    const reply = await call('PATCH', '/accounts/acc_1002', {
      json: { balance: 1_000_000, tier: 'enterprise' },
    });
    expect(reply.status).toBe(200);
    const after = jsonOf<Account>(await call('GET', '/accounts/acc_1002'));
    expect(after.balance).toBe(1_000_000);
    expect(after.tier).toBe('enterprise');
  });

  it('ignores a PATCH of id, ownerId and internalRiskScore', async () => {
    const reply = await call('PATCH', '/accounts/acc_1002', {
      json: { id: 'acc_1', ownerId: 'user_mallory', internalRiskScore: 0 },
    });
    expect(reply.status).toBe(200);
    expect(jsonOf(await call('GET', '/accounts/acc_1002'))).toMatchObject({
      id: 'acc_1002',
      ownerId: 'user_bob',
      internalRiskScore: 47,
    });
  });

  it("lists an account's orders", async () => {
    const { items } = jsonOf<{ items: Order[] }>(await call('GET', '/accounts/acc_1001/orders'));
    expect(items.map((o) => o.id)).toEqual(['ord_5001', 'ord_5002']);
    expect(items[0]).toEqual({
      id: 'ord_5001',
      accountId: 'acc_1001',
      items: [
        { sku: 'WIDGET-1', qty: 2, price: 9.99 },
        { sku: 'GADGET-2', qty: 1, price: 24.5 },
      ],
      total: 44.48,
      status: 'shipped',
    });
  });

  it('creates an order priced from the catalog, with its total and location', async () => {
    const reply = await call('POST', '/accounts/acc_1002/orders', {
      json: {
        items: [
          { sku: 'GASKET-6', qty: 3 },
          { sku: 'HINGE-8', qty: 1 },
        ],
      },
    });
    expect(reply.status).toBe(201);
    expect(reply.headers.get('location')).toBe('/orders/ord_5004');
    const order = jsonOf<Order>(reply);
    expect(order).toEqual({
      id: 'ord_5004',
      accountId: 'acc_1002',
      items: [
        { sku: 'GASKET-6', qty: 3, price: 0.85 },
        { sku: 'HINGE-8', qty: 1, price: 2.95 },
      ],
      total: 5.5,
      status: 'pending',
    });
    expect(jsonOf(await call('GET', '/orders/ord_5004'))).toEqual(order);
    const list = jsonOf<{ items: Order[] }>(await call('GET', '/accounts/acc_1002/orders'));
    expect(list.items.map((o) => o.id)).toEqual(['ord_5003', 'ord_5004']);
  });

  it('accepts a negative quantity and a negative total (no range check, by design)', async () => {
    const reply = await call('POST', '/accounts/acc_1001/orders', {
      json: { items: [{ sku: 'GIZMO-3', qty: -3 }] },
    });
    expect(reply.status).toBe(201);
    expect(jsonOf<Order>(reply).total).toBe(-297);
  });

  it('reads an order by id', async () => {
    const order = jsonOf<Order>(await call('GET', '/orders/ord_5003'));
    expect(order).toMatchObject({ accountId: 'acc_1002', total: 17.5, status: 'paid' });
  });

  it('deletes an account and its orders through the admin operation', async () => {
    const reply = await call('DELETE', '/admin/accounts/acc_1001');
    expect(reply.status).toBe(204);
    expect(reply.text).toBe('');
    expect((await call('GET', '/accounts/acc_1001')).status).toBe(404);
    expect((await call('GET', '/orders/ord_5001')).status).toBe(404);
    expect((await call('GET', '/orders/ord_5003')).status).toBe(200);
  });

  it.each([
    ['/internal/owners/accounts/acc_1001', 'user_alice'],
    ['/internal/owners/accounts/acc_1003', 'user_carol'],
    ['/internal/owners/orders/ord_5002', 'user_alice'],
    ['/internal/owners/orders/ord_5003', 'user_bob'],
  ])('tells the gateway who owns %s: %s', async (path, owner) => {
    const reply = await call('GET', path);
    expect(reply.status).toBe(200);
    const body = jsonOf<{ owner: string }>(reply);
    expect(body).toEqual({ owner });
    conformsTo('/components/schemas/Owner', body);
  });

  it('tells the owner of an order placed after the start', async () => {
    const placed = await call('POST', '/accounts/acc_1002/orders', {
      json: { items: [{ sku: 'WIDGET-1', qty: 1 }] },
    });
    const { id } = jsonOf<Order>(placed);
    expect(jsonOf(await call('GET', `/internal/owners/orders/${id}`))).toEqual({
      owner: 'user_bob',
    });
  });

  it.each([
    ['a request with an id', { 'x-request-id': 'req-42' }, '/health'],
    ['the catalog', { 'x-request-id': 'req-43' }, '/catalog'],
    ['a problem', { 'x-request-id': 'req-44' }, '/nowhere'],
  ])('echoes x-request-id on %s', async (_, headers, path) => {
    const reply = await call('GET', path, { headers });
    expect(reply.headers.get('x-request-id')).toBe(headers['x-request-id']);
  });

  it('announces itself with X-Powered-By (for the gateway to remove)', async () => {
    expect((await call('GET', '/health')).headers.get('x-powered-by')).toBeTruthy();
    expect((await call('GET', '/catalog')).headers.get('x-powered-by')).toBeTruthy();
  });
});

describe('demo upstream errors', () => {
  function expectProblem(reply: Reply, status: number, kind: string): void {
    expect(reply.status).toBe(status);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    const body = JSON.parse(reply.text) as { type: string; status: number };
    expect(body.type).toBe(`https://portcullis.dev/demo/problems/${kind}`);
    expect(body.status).toBe(status);
    conformsTo('/components/schemas/Problem', body);
  }

  it.each([
    ['GET', '/accounts/acc_9999'],
    ['PATCH', '/accounts/acc_9999'],
    ['GET', '/accounts/acc_9999/orders'],
    ['POST', '/accounts/acc_9999/orders'],
    ['GET', '/orders/ord_9999'],
    ['DELETE', '/admin/accounts/acc_9999'],
    ['GET', '/nowhere'],
    ['GET', '/accounts/'],
    ['GET', '/accounts//orders'],
    ['GET', '/accounts/acc_1001/orders/ord_5001'],
    ['GET', '/admin/accounts'],
    ['GET', '/internal/owners/accounts/acc_9999'],
    ['GET', '/internal/owners/orders/ord_9999'],
    ['GET', '/internal/owners/accounts/..'],
    ['GET', '/internal/owners/accounts/%2E%2E'],
  ])('answers %s %s with 404', async (method, path) => {
    const json = method === 'PATCH' || method === 'POST' ? { items: [] } : undefined;
    expectProblem(await call(method, path, { json }), 404, 'not-found');
  });

  it.each([
    ['POST', '/catalog', 'GET, HEAD'],
    ['PUT', '/accounts/acc_1001', 'GET, HEAD, PATCH'],
    ['DELETE', '/accounts/acc_1001', 'GET, HEAD, PATCH'],
    ['PATCH', '/accounts', 'GET, HEAD'],
    ['DELETE', '/accounts/acc_1001/orders', 'GET, HEAD, POST'],
    ['GET', '/admin/accounts/acc_1001', 'DELETE'],
  ])('answers %s %s with 405 and Allow: %s', async (method, path, allow) => {
    const reply = await call(method, path);
    expectProblem(reply, 405, 'method-not-allowed');
    expect(reply.headers.get('allow')).toBe(allow);
  });

  it.each([
    ['PATCH', '/accounts/acc_1001', '{"name":', 'bad-json'],
    ['PATCH', '/accounts/acc_1001', '', 'bad-json'],
    ['PATCH', '/accounts/acc_1001', '[]', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', 'null', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', '{"name":5}', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', '{"name":null}', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', '{"email":"nobody"}', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', '{"tier":"platinum"}', 'invalid-request'],
    ['PATCH', '/accounts/acc_1001', '{"balance":"lots"}', 'invalid-request'],
    ['POST', '/accounts/acc_1001/orders', '{"items":[{"sku":"WIDGET-1","qty":1}', 'bad-json'],
    ['POST', '/accounts/acc_1001/orders', '{}', 'invalid-request'],
    ['POST', '/accounts/acc_1001/orders', '{"items":[]}', 'invalid-request'],
    ['POST', '/accounts/acc_1001/orders', '{"items":[7]}', 'invalid-request'],
    [
      'POST',
      '/accounts/acc_1001/orders',
      '{"items":[{"sku":"NOPE-0","qty":1}]}',
      'invalid-request',
    ],
    [
      'POST',
      '/accounts/acc_1001/orders',
      '{"items":[{"sku":"WIDGET-1","qty":1.5}]}',
      'invalid-request',
    ],
    [
      'POST',
      '/accounts/acc_1001/orders',
      '{"items":[{"sku":"WIDGET-1","qty":"2"}]}',
      'invalid-request',
    ],
  ])('answers %s %s with body %j with 400 %s', async (method, path, body, kind) => {
    const reply = await call(method, path, {
      body,
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(reply, 400, kind);
  });

  it('leaves the account unchanged when a patch is refused', async () => {
    await call('PATCH', '/accounts/acc_1001', { json: { name: 'Mallory', tier: 'platinum' } });
    expect(jsonOf<Account>(await call('GET', '/accounts/acc_1001')).name).toBe('Alice Anders');
  });

  it.each([
    ['PATCH', '/accounts/acc_1001', 'text/plain', 'accept-patch'],
    ['PATCH', '/accounts/acc_1001', undefined, 'accept-patch'],
    ['PATCH', '/accounts/acc_1001', 'application/x-www-form-urlencoded', 'accept-patch'],
    ['POST', '/accounts/acc_1001/orders', 'text/json', 'accept-post'],
    ['POST', '/accounts/acc_1001/orders', 'application/merge-patch+json', 'accept-post'],
    ['POST', '/accounts/acc_1001/orders', undefined, 'accept-post'],
  ])('answers %s %s with content type %s with 415 and %s', async (method, path, type, accept) => {
    const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
    const reply = await fetch(up.url + path, {
      method,
      headers,
      body: new TextEncoder().encode('{"name":"x"}'),
    });
    expectProblem(
      { status: reply.status, headers: reply.headers, text: await reply.text() },
      415,
      'unsupported-media-type',
    );
    expect(reply.headers.get(accept)).toContain('application/json');
  });

  it('refuses a body over 64 KiB with 413', async () => {
    const body = JSON.stringify({ items: [], pad: 'x'.repeat(65_536) });
    const reply = await call('POST', '/accounts/acc_1001/orders', {
      body,
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(reply, 413, 'body-too-large');
  });

  it('refuses a chunked body that grows over 64 KiB with 413', async () => {
    const chunk = new TextEncoder().encode(' '.repeat(40_000));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${up.url}/accounts/acc_1001/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    });
    expectProblem(
      { status: res.status, headers: res.headers, text: await res.text() },
      413,
      'body-too-large',
    );
  });

  it('reads a body of exactly 64 KiB', async () => {
    const head = '{"items":[],"pad":"';
    const body = head + 'x'.repeat(65_536 - head.length - 2) + '"}';
    expect(Buffer.byteLength(body)).toBe(65_536);
    const reply = await call('POST', '/accounts/acc_1001/orders', {
      body,
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(reply, 400, 'invalid-request');
  });
});

describe('demo upstream lifecycle', () => {
  it('stops accepting connections once closed, and close() may be called twice', async () => {
    const other = await startDemoUpstream({ port: 0 });
    expect(other.url).toBe(`http://127.0.0.1:${other.port}`);
    expect((await fetch(`${other.url}/health`)).status).toBe(200);
    await other.close();
    await other.close();
    await expect(fetch(`${other.url}/health`)).rejects.toThrow();
  });

  it('keeps the data of two upstreams apart', async () => {
    const other = await startDemoUpstream({});
    try {
      await call('DELETE', '/admin/accounts/acc_1003');
      expect((await fetch(`${other.url}/accounts/acc_1003`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

// --- the spec agrees with the upstream --------------------------------------------------------

describe('demo OpenAPI spec', () => {
  it('is OpenAPI 3.1 and describes exactly the endpoints the upstream serves', () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    expect(operations.map((o) => o.label).sort()).toEqual(ENDPOINTS.map((e) => e.label).sort());
  });

  it.each(operations.map((o) => [o.label, o] as const))(
    'has the upstream serve %s with its example, as documented',
    async (_, o) => {
      const path = o.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const id = SEEDED[name];
        if (id === undefined) throw new Error(`no seeded id for {${name}}`);
        return id;
      });
      const example =
        o.op.requestBody === undefined
          ? undefined
          : follow(`${o.pointer}/requestBody/content/application~1json`).node.example;
      if (o.op.requestBody !== undefined) expect(example).toBeDefined();
      const reply = await call(o.method, path, { json: example });

      expect(reply.status).not.toBe(404);
      expect(reply.status).not.toBe(405);
      expect(reply.status).toBeLessThan(300);
      expect(Object.keys(obj(o.op.responses, o.label))).toContain(String(reply.status));
      const documented = follow(`${o.pointer}/responses/${reply.status}`);
      if (documented.node.content === undefined) {
        expect(reply.text).toBe('');
        return;
      }
      const mediaType = reply.headers.get('content-type') ?? '';
      expect(Object.keys(obj(documented.node.content, o.label))).toContain(mediaType);
      conformsTo(
        `${documented.pointer}/content/${escapeSegment(mediaType)}/schema`,
        JSON.parse(reply.text),
      );
    },
  );

  it.each(ENDPOINTS.map((e) => [e.label, e.security] as const))(
    'declares who may call %s',
    (label, security) => {
      expect(operation(label).op.security).toEqual(security);
    },
  );

  it('requires a credential by default, and tags only the admin operation admin', () => {
    expect(spec.security).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }]);
    const tagged = operations.filter((o) => (o.op.tags as unknown[]).includes('admin'));
    expect(tagged.map((o) => o.label)).toEqual(['DELETE /admin/accounts/{accountId}']);
  });

  it('defines the API key header and the bearer JWT with its scopes', () => {
    const schemes = follow('/components/securitySchemes').node;
    expect(schemes.apiKeyAuth).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(schemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const scopes = Object.keys(
      obj(obj(schemes.bearerAuth, 'bearerAuth')['x-portcullis-scopes'], 'scopes'),
    );
    expect(scopes.sort()).toEqual(['accounts:read', 'accounts:write', 'admin', 'orders:write']);
    const used = operations
      .flatMap((o) => (o.op.security as unknown[]).map((req) => obj(req, o.label).bearerAuth))
      .filter((roles) => roles !== undefined);
    expect(new Set(used.flat())).toEqual(new Set(scopes));
  });

  it('marks the risk score admin-only and the server-owned fields read-only', () => {
    const account = obj(follow('/components/schemas/Account').node.properties, 'Account');
    expect(account.internalRiskScore).toMatchObject({ 'x-portcullis-roles': ['admin'] });
    for (const field of ['id', 'ownerId', 'balance']) {
      expect(account[field]).toMatchObject({ readOnly: true });
    }
  });

  it('lets a patch change only the name and email', () => {
    conformsTo('/components/schemas/AccountPatch', { name: 'A', email: 'a@example.com' });
    for (const patch of [{ balance: 1 }, { tier: 'enterprise' }, { name: 'A', id: 'acc_1' }, {}]) {
      const validate = ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/AccountPatch` });
      expect(validate(patch)).toBe(false);
    }
  });

  it('refuses a non-positive quantity the upstream would accept', () => {
    const validate = ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/NewOrder` });
    expect(validate({ items: [{ sku: 'GIZMO-3', qty: 1 }] })).toBe(true);
    expect(validate({ items: [{ sku: 'GIZMO-3', qty: -3 }] })).toBe(false);
    expect(validate({ items: [{ sku: 'GIZMO-3', qty: 0 }] })).toBe(false);
  });

  it.each([
    ['AccountId', 'accountId', '^acc_[0-9]+$'],
    ['OrderId', 'orderId', '^ord_[0-9]+$'],
  ])('constrains the path parameter %s to %s', (component, name, pattern) => {
    const param = follow(`/components/parameters/${component}`).node;
    expect(param).toMatchObject({ name, in: 'path', required: true, schema: { pattern } });
    expect(SEEDED[name]).toMatch(new RegExp(pattern));
    expect(param.example).toBe(SEEDED[name]);
  });
});
