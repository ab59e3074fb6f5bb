import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';

/**
 * The contract stage through the real gateway, against the demo upstream and its API
 * description: the same table of malformed and hostile requests answered alike whether the
 * description is the demo's OpenAPI 3.1 (src/demo/openapi.yaml) or a Swagger 2.0 version of it.
 */

const SPECS = {
  'OpenAPI 3.1': fileURLToPath(new URL('../../src/demo/openapi.yaml', import.meta.url)),
  'Swagger 2.0': fileURLToPath(new URL('../fixtures/contract/demo-swagger.yaml', import.meta.url)),
};

let upstream: DemoUpstream;
const gateways = new Map<string, GatewayProcess>();

function config(spec: string): string {
  const route = (name: string, path: string, methods: string[]) => ({
    name,
    paths: [path],
    methods,
    upstream: 'demo',
    auth: { public: true },
  });
  const dir = mkdtempSync(join(tmpdir(), 'pcl-contract-'));
  return writeConfig(
    JSON.stringify({
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      logging: { level: 'info', access: false },
      upstreams: { demo: { targets: [upstream.url] } },
      specs: { demo: { file: spec } },
      defaults: { contract: { spec: 'demo', request: 'enforce', response: 'enforce' } },
      routes: [
        route('account', '/accounts/:accountId', ['GET', 'PATCH']),
        route('orders', '/accounts/:accountId/orders', ['GET', 'POST']),
        route('order', '/orders/:orderId', ['GET']),
        route('catalog', '/catalog', ['GET']),
        route('health', '/health', ['GET']),
      ],
      state: { store: { sqlite: { path: join(dir, 'portcullis.db') } } },
    }),
    dir,
  );
}

beforeAll(async () => {
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
  for (const [name, spec] of Object.entries(SPECS))
    gateways.set(name, await startGateway(config(spec)));
}, 60_000);

afterAll(async () => {
  for (const gw of gateways.values()) await gw.stop();
  await upstream?.close();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const json = (v: unknown) => JSON.stringify(v);
const order = (items: unknown[], extra: Record<string, unknown> = {}) => json({ items, ...extra });
const line = (sku: unknown, qty: unknown, extra: Record<string, unknown> = {}) => ({
  sku,
  qty,
  ...extra,
});

interface Case {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly status: number;
  readonly reason: string;
  /** The violation the refusal must list (pointer and rule). */
  readonly pointer: string;
  readonly rule: string;
}

const acc = '/accounts/acc_1001';
const orders = '/accounts/acc_1001/orders';
const c = (
  method: string,
  path: string,
  body: string | undefined,
  pointer: string,
  rule: string,
  reason = 'contract.request.body',
  status = 400,
  headers: Record<string, string> | undefined = body === undefined ? undefined : JSON_TYPE,
): Case => ({ method, path, body, headers, status, reason, pointer, rule });
const q = (query: string, pointer: string, rule: string) =>
  c('GET', `${orders}?${query}`, undefined, pointer, rule, 'contract.request.query');
const p = (path: string, pointer: string, rule: string) =>
  c('GET', path, undefined, pointer, rule, 'contract.request.path');

const CASES: Case[] = [
  // Path parameters.
  p('/accounts/bob', '/path/accountId', 'pattern'),
  p('/accounts/acc_', '/path/accountId', 'pattern'),
  p("/accounts/acc_1'%20OR%201=1--", '/path/accountId', 'pattern'),
  p(`/accounts/acc_${'1'.repeat(40)}`, '/path/accountId', 'maxLength'),
  p('/accounts/%3Cscript%3Ealert(1)', '/path/accountId', 'pattern'),
  p('/accounts/ACC_1001', '/path/accountId', 'pattern'),
  p('/orders/acc_1001', '/path/orderId', 'pattern'),
  p('/orders/ord_-1', '/path/orderId', 'pattern'),
  p('/accounts/acc_%E2%80%AE1001/orders', '/path/accountId', 'pattern'),
  p('/accounts/acc_1001x', '/path/accountId', 'pattern'),
  // Query parameters: types, bounds, style, pollution, undeclared keys.
  q('limit=0', '/query/limit', 'minimum'),
  q('limit=51', '/query/limit', 'maximum'),
  q('limit=-1', '/query/limit', 'minimum'),
  q('limit=abc', '/query/limit', 'type'),
  q('limit=1.5', '/query/limit', 'type'),
  q('limit=1e3', '/query/limit', 'maximum'),
  q('limit=1&limit=50', '/query/limit', 'duplicate'),
  q('limit=', '/query/limit', 'allowEmptyValue'),
  q('status=refunded', '/query/status/0', 'enum'),
  q('status=paid&status=paid', '/query/status', 'uniqueItems'),
  q(
    'status=paid&status=shipped&status=pending&status=cancelled&status=paid',
    '/query/status',
    'maxItems',
  ),
  q('debug=true', '/query/debug', 'additionalProperties'),
  q('limit=5&admin=1', '/query/admin', 'additionalProperties'),
  q('__proto__[admin]=1', '/query/__proto__[admin]', 'additionalProperties'),
  q('limit[$gt]=0', '/query/limit[$gt]', 'additionalProperties'),
  q('limit=%ZZ', '/query', 'encoding'),
  c(
    'GET',
    '/catalog?callback=alert',
    undefined,
    '/query/callback',
    'additionalProperties',
    'contract.request.query',
  ),
  c(
    'GET',
    '/health?verbose',
    undefined,
    '/query/verbose',
    'additionalProperties',
    'contract.request.query',
  ),
  // The account patch: schema, mass assignment, prototype pollution, media types.
  c('PATCH', acc, json({}), '/body', 'minProperties'),
  c('PATCH', acc, json({ name: '' }), '/body/name', 'minLength'),
  c('PATCH', acc, json({ name: 'a'.repeat(101) }), '/body/name', 'maxLength'),
  c('PATCH', acc, json({ email: 'not-an-email' }), '/body/email', 'format'),
  c('PATCH', acc, json({ name: 42 }), '/body/name', 'type'),
  c('PATCH', acc, json({ name: null }), '/body/name', 'type'),
  c('PATCH', acc, json({ name: ['Alice'] }), '/body/name', 'type'),
  c('PATCH', acc, json([{ name: 'Alice' }]), '/body', 'type'),
  c('PATCH', acc, json('Alice'), '/body', 'type'),
  c('PATCH', acc, json({ name: 'A', balance: 1e9 }), '/body/balance', 'additionalProperties'),
  c('PATCH', acc, json({ tier: 'enterprise' }), '/body/tier', 'additionalProperties'),
  c(
    'PATCH',
    acc,
    '{"name":"A","__proto__":{"admin":true}}',
    '/body/__proto__',
    'additionalProperties',
  ),
  c(
    'PATCH',
    acc,
    json({ constructor: { prototype: { admin: true } } }),
    '/body/constructor',
    'additionalProperties',
  ),
  c('PATCH', acc, '{"name":', '/body', 'json', 'contract.request.body_malformed'),
  c('PATCH', acc, undefined, '/body', 'required', 'contract.request.body_missing'),
  c(
    'PATCH',
    acc,
    'name=Eve',
    '/header/content-type',
    'mediaType',
    'contract.request.media_type',
    415,
    {
      'content-type': 'application/x-www-form-urlencoded',
    },
  ),
  c(
    'PATCH',
    acc,
    json({ name: 'Eve' }),
    '/header/content-type',
    'mediaType',
    'contract.request.media_type',
    415,
    {
      'content-type': 'text/plain',
    },
  ),
  c(
    'PATCH',
    acc,
    '<name>Eve</name>',
    '/header/content-type',
    'mediaType',
    'contract.request.media_type',
    415,
    {
      'content-type': 'application/xml',
    },
  ),
  c(
    'PATCH',
    acc,
    json({ name: 'Eve' }),
    '/header/content-type',
    'mediaType',
    'contract.request.media_type',
    415,
    {},
  ),
  c(
    'PATCH',
    acc,
    json({ name: 'A', email: 1 }),
    '/body/email',
    'type',
    'contract.request.body',
    400,
    {
      'content-type': 'application/merge-patch+json',
    },
  ),
  // A new order: nested arrays, bounds, no coercion in bodies, readOnly and undeclared fields.
  c('POST', orders, json({}), '/body/items', 'required'),
  c('POST', orders, order([]), '/body/items', 'minItems'),
  c('POST', orders, order([line('WIDGET-1', 0)]), '/body/items/0/qty', 'minimum'),
  c('POST', orders, order([line('WIDGET-1', -5)]), '/body/items/0/qty', 'minimum'),
  c('POST', orders, order([line('WIDGET-1', 101)]), '/body/items/0/qty', 'maximum'),
  c('POST', orders, order([line('WIDGET-1', 1.5)]), '/body/items/0/qty', 'type'),
  c('POST', orders, order([line('WIDGET-1', '3')]), '/body/items/0/qty', 'type'),
  c('POST', orders, order([line('widget-1', 1)]), '/body/items/0/sku', 'pattern'),
  c('POST', orders, order([line('<script>', 1)]), '/body/items/0/sku', 'pattern'),
  c(
    'POST',
    orders,
    order([line('WIDGET-1', 1), { sku: 'GIZMO-3' }]),
    '/body/items/1/qty',
    'required',
  ),
  c(
    'POST',
    orders,
    order(Array.from({ length: 51 }, () => line('WIDGET-1', 1))),
    '/body/items',
    'maxItems',
  ),
  c(
    'POST',
    orders,
    order([line('WIDGET-1', 1, { price: 0 })]),
    '/body/items/0/price',
    'additionalProperties',
  ),
  c(
    'POST',
    orders,
    order([line('WIDGET-1', 1)], { total: 0 }),
    '/body/total',
    'additionalProperties',
  ),
  c(
    'POST',
    orders,
    order([line('WIDGET-1', 1)], { status: 'paid' }),
    '/body/status',
    'additionalProperties',
  ),
  c('PATCH', acc, json({ name: 'A', id: 'acc_1002' }), '/body/id', 'additionalProperties'),
];

describe.each(Object.keys(SPECS))('the contract of the demo API as %s', (name) => {
  const gw = () => gateways.get(name) as GatewayProcess;

  it('has a table of at least 50 hostile requests', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
  });

  it.each(CASES)(
    'refuses $method $path $body with $status at $pointer ($rule)',
    async ({ method, path, headers, body, status, reason, pointer, rule }) => {
      const reply = await send(gw().http ?? 0, { method, path, headers, body });
      const problem = expectProblem(
        reply,
        status,
        status === 415 ? 'unsupported-media-type' : 'contract-violation',
      );
      const { violations } = JSON.parse(reply.text) as {
        violations: { pointer: string; rule: string; message: string }[];
      };
      expect(violations).toContainEqual(expect.objectContaining({ pointer, rule }));
      // Never the value sent back: the hostile input stays out of the answer.
      if (body !== undefined && body.length > 8) expect(reply.text).not.toContain(body);
      const event = await gw().waitForLog(
        (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
      );
      expect(event).toMatchObject({ reason, stage: 'contract' });
    },
  );

  it.each([
    ['GET', acc, undefined, 200],
    ['GET', `${orders}?limit=2&status=paid&status=shipped`, undefined, 200],
    ['GET', '/orders/ord_5001', undefined, 200],
    ['GET', '/catalog', undefined, 200],
    ['PATCH', acc, json({ name: 'Alice A.' }), 200],
    ['POST', orders, order([line('WIDGET-1', 2)]), 201],
  ])('lets the valid %s %s through', async (method, path, body, status) => {
    const reply = await send(gw().http ?? 0, {
      method,
      path,
      headers: body === undefined ? undefined : JSON_TYPE,
      body,
    });
    expect(reply.status, reply.text).toBe(status);
  });

  it('removes what the account schema does not declare from the response', async () => {
    // The demo upstream sends internalRiskScore to everyone; the 3.1 spec declares it (readOnly,
    // admin only), so it stays: the contract removes only what no schema declares.
    const reply = await send(gw().http ?? 0, { path: acc });
    expect(Object.keys(JSON.parse(reply.text) as object).sort()).toEqual(
      ['balance', 'email', 'id', 'internalRiskScore', 'name', 'ownerId', 'tier'].sort(),
    );
  });

  it('does not echo a megabyte property name back', async () => {
    const key = 'k'.repeat(20_000);
    const reply = await send(gw().http ?? 0, {
      method: 'PATCH',
      path: acc,
      headers: JSON_TYPE,
      body: `{"name":"A","${key}":1}`,
    });
    expectProblem(reply, 400, 'contract-violation');
    expect(reply.body.length).toBeLessThan(2_000);
  });
});
