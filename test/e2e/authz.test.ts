import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startDemoIssuer, type DemoIssuer } from '../../src/demo/demo-issuer.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { portcullis } from '../support/cli.js';
import { startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';

/**
 * Authorization through the real gateway with the example's rules (examples/portcullis.yaml):
 * three consumers with real API keys (alice and bob, two tenants; ops, an admin) against every
 * demo route with their own and someone else's object ids, each cell with its expected status
 * and reason; path spellings that try to reach the admin operation; and what a refusal records.
 */

const EXAMPLE = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

type Consumer = 'alice' | 'bob' | 'ops';

let upstream: DemoUpstream;
let issuer: DemoIssuer;
let gw: GatewayProcess;
const keys = {} as Record<Consumer, string>;

/**
 * The example, pointed at this test's upstream and issuer, on port 0, with its own store. The
 * admin route's ip-restriction goes (every client here is 127.0.0.1): what is under test is
 * the admin role behind it. Everything else is the example's, rules included.
 */
function exampleConfig(dir: string): string {
  const text = readFileSync(EXAMPLE, 'utf8').replaceAll('http://127.0.0.1:3000', upstream.url);
  const config = parse(text) as Record<string, unknown>;
  config.listeners = { http: { host: '127.0.0.1', port: 0 } };
  // The copy lives elsewhere: its spec is the demo's own.
  config.specs = {
    demo: { file: fileURLToPath(new URL('../../src/demo/openapi.yaml', import.meta.url)) },
  };
  config.logging = { level: 'info', access: false };
  config.upstreams = { demo: { targets: [upstream.url] } };
  const authn = config.authn as { issuers: Record<string, Record<string, unknown>> };
  authn.issuers.demo = {
    ...authn.issuers.demo,
    issuer: issuer.url,
    jwksUrl: `${issuer.url}/jwks.json`,
  };
  for (const route of config.routes as Record<string, unknown>[]) {
    if (route.name === 'admin')
      route.stages = (route.stages as { type: string }[]).filter(
        (s) => s.type !== 'ip-restriction',
      );
  }
  config.state = {
    store: { sqlite: { path: join(dir, 'portcullis.db') } },
    encryption: { devMode: false },
  };
  const file = join(dir, 'portcullis.yaml');
  // JSON is YAML; the anchors of the example were resolved by parse().
  writeFileSync(file, JSON.stringify(config));
  return file;
}

beforeAll(async () => {
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
  issuer = await startDemoIssuer(0);
  const dir = mkdtempSync(join(tmpdir(), 'pcl-authz-'));
  const file = exampleConfig(dir);
  for (const consumer of ['alice', 'bob', 'ops'] as const) {
    const created = await portcullis(['keys', 'create', '--consumer', consumer, '-c', file]);
    expect(created.code, created.stderr).toBe(0);
    keys[consumer] = created.stdout.trim();
  }
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await issuer?.close();
  await upstream?.close();
});

function call(
  who: Consumer | { bearer: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply> {
  const headers: Record<string, string> =
    typeof who === 'string'
      ? { 'x-api-key': keys[who] }
      : { authorization: `Bearer ${who.bearer}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(gw.http ?? 0, {
    method,
    path,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The security event of a refusal: its reason and what it records about the caller. */
async function eventOf(requestId: string): Promise<Record<string, unknown>> {
  return gw.waitForLog((l) => l.event === 'request.denied' && l.requestId === requestId, 5_000);
}

interface Cell {
  readonly who: Consumer;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  /** The status the client gets. */
  readonly status: number;
  /** The refusal's reason; undefined when the gateway lets the request through. */
  readonly reason?: string;
  /** The rule the event names. */
  readonly rule?: string;
  /** The object id the event names. */
  readonly object?: string;
}

const PATCH = { name: 'Renamed' };
const ORDER = { items: [{ sku: 'WIDGET-1', qty: 1 }] };

/** Own and foreign ids: alice owns acc_1001 and ord_5001, bob acc_1002 and ord_5003. */
const MATRIX: Cell[] = [
  // GET /accounts: every account of every owner, administrators only.
  {
    who: 'alice',
    method: 'GET',
    path: '/accounts',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  {
    who: 'bob',
    method: 'GET',
    path: '/accounts',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  { who: 'ops', method: 'GET', path: '/accounts', status: 200 },
  // GET /accounts/{id}: one's own; ops any.
  { who: 'alice', method: 'GET', path: '/accounts/acc_1001', status: 200 },
  {
    who: 'alice',
    method: 'GET',
    path: '/accounts/acc_1002',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1002',
  },
  { who: 'bob', method: 'GET', path: '/accounts/acc_1002', status: 200 },
  {
    who: 'bob',
    method: 'GET',
    path: '/accounts/acc_1001',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1001',
  },
  { who: 'ops', method: 'GET', path: '/accounts/acc_1001', status: 200 },
  { who: 'ops', method: 'GET', path: '/accounts/acc_1003', status: 200 },
  // PATCH /accounts/{id}: accounts:write (alice only), one's own only, no admin bypass.
  { who: 'alice', method: 'PATCH', path: '/accounts/acc_1001', body: PATCH, status: 200 },
  {
    who: 'alice',
    method: 'PATCH',
    path: '/accounts/acc_1002',
    body: PATCH,
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1002',
  },
  {
    who: 'bob',
    method: 'PATCH',
    path: '/accounts/acc_1002',
    body: PATCH,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'scopes.allOf',
  },
  {
    who: 'bob',
    method: 'PATCH',
    path: '/accounts/acc_1001',
    body: PATCH,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'scopes.allOf',
  },
  {
    who: 'ops',
    method: 'PATCH',
    path: '/accounts/acc_1003',
    body: PATCH,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'scopes.allOf',
  },
  {
    who: 'ops',
    method: 'PATCH',
    path: '/accounts/acc_1001',
    body: PATCH,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'scopes.allOf',
  },
  // GET /accounts/{id}/orders: one's own; ops any.
  { who: 'alice', method: 'GET', path: '/accounts/acc_1001/orders', status: 200 },
  {
    who: 'alice',
    method: 'GET',
    path: '/accounts/acc_1002/orders',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1002',
  },
  { who: 'bob', method: 'GET', path: '/accounts/acc_1002/orders', status: 200 },
  {
    who: 'bob',
    method: 'GET',
    path: '/accounts/acc_1001/orders',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1001',
  },
  { who: 'ops', method: 'GET', path: '/accounts/acc_1001/orders', status: 200 },
  { who: 'ops', method: 'GET', path: '/accounts/acc_1003/orders', status: 200 },
  // POST /accounts/{id}/orders: orders:write (alice only, by its own method rule), one's own.
  { who: 'alice', method: 'POST', path: '/accounts/acc_1001/orders', body: ORDER, status: 201 },
  {
    who: 'alice',
    method: 'POST',
    path: '/accounts/acc_1002/orders',
    body: ORDER,
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'acc_1002',
  },
  {
    who: 'bob',
    method: 'POST',
    path: '/accounts/acc_1002/orders',
    body: ORDER,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'methods.POST.scopes.allOf',
  },
  {
    who: 'bob',
    method: 'POST',
    path: '/accounts/acc_1001/orders',
    body: ORDER,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'methods.POST.scopes.allOf',
  },
  {
    who: 'ops',
    method: 'POST',
    path: '/accounts/acc_1003/orders',
    body: ORDER,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'methods.POST.scopes.allOf',
  },
  {
    who: 'ops',
    method: 'POST',
    path: '/accounts/acc_1001/orders',
    body: ORDER,
    status: 403,
    reason: 'authz.scope.missing',
    rule: 'methods.POST.scopes.allOf',
  },
  // GET /orders/{id}: the order's account must be one's own; ops any.
  { who: 'alice', method: 'GET', path: '/orders/ord_5001', status: 200 },
  {
    who: 'alice',
    method: 'GET',
    path: '/orders/ord_5003',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'ord_5003',
  },
  { who: 'bob', method: 'GET', path: '/orders/ord_5003', status: 200 },
  {
    who: 'bob',
    method: 'GET',
    path: '/orders/ord_5001',
    status: 404,
    reason: 'authz.owner_lookup.mismatch',
    rule: 'ownerLookup',
    object: 'ord_5001',
  },
  { who: 'ops', method: 'GET', path: '/orders/ord_5001', status: 200 },
  { who: 'ops', method: 'GET', path: '/orders/ord_5003', status: 200 },
  // Public routes: whoever calls.
  { who: 'alice', method: 'GET', path: '/catalog', status: 200 },
  { who: 'bob', method: 'GET', path: '/health', status: 200 },
  { who: 'ops', method: 'GET', path: '/catalog', status: 200 },
  // DELETE /admin/accounts/{id}, last: ops really deletes.
  {
    who: 'alice',
    method: 'DELETE',
    path: '/admin/accounts/acc_1001',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  {
    who: 'alice',
    method: 'DELETE',
    path: '/admin/accounts/acc_1002',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  {
    who: 'bob',
    method: 'DELETE',
    path: '/admin/accounts/acc_1002',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  {
    who: 'bob',
    method: 'DELETE',
    path: '/admin/accounts/acc_1001',
    status: 403,
    reason: 'authz.admin.required',
    rule: 'admin',
  },
  { who: 'ops', method: 'DELETE', path: '/admin/accounts/acc_1003', status: 204 },
];

describe('authorization of the demo routes, consumer by route by object', () => {
  it.each(MATRIX)(
    '$who $method $path: $status $reason',
    async ({ who, method, path, body, status, reason, rule, object }) => {
      const reply = await call(who, method, path, body);
      if (reason === undefined) {
        expect(reply.status, reply.text).toBe(status);
        return;
      }
      const problem = expectProblem(reply, status, status === 404 ? 'not-found' : 'forbidden');
      const event = await eventOf(problem.requestId);
      expect(event).toMatchObject({ reason, stage: 'authz', consumer: who, status });
      expect(String(event.credential)).toMatch(/^fp:/);
      expect(event.details).toEqual(object === undefined ? { rule } : { rule, object });
    },
  );

  it('left every account a refusal named as it was', async () => {
    // The refused PATCHes did not reach the upstream: acc_1002 keeps its name.
    const reply = await call('bob', 'GET', '/accounts/acc_1002');
    expect(JSON.parse(reply.text)).toMatchObject({ id: 'acc_1002', name: 'Bob Brown' });
  });
});

describe('existence does not leak', () => {
  it("answers someone else's account exactly as an account that does not exist", async () => {
    const foreign = await call('alice', 'GET', '/accounts/acc_1002');
    const missing = await call('alice', 'GET', '/accounts/acc_9999');
    const a = expectProblem(foreign, 404, 'not-found');
    const b = expectProblem(missing, 404, 'not-found');
    expect({ ...a, requestId: '' }).toEqual({ ...b, requestId: '' });
    expect((await eventOf(b.requestId)).reason).toBe('authz.owner_lookup.not_found');
  });

  it('refuses a bearer token of bob on alice’s account the same way as his API key', async () => {
    const token = await issuer.token('bob', ['accounts:read', 'orders:read']);
    const reply = await call({ bearer: token }, 'GET', '/accounts/acc_1001');
    const problem = expectProblem(reply, 404, 'not-found', [token]);
    const event = await eventOf(problem.requestId);
    expect(event).toMatchObject({ reason: 'authz.owner_lookup.mismatch', consumer: 'bob' });
    expect((await call({ bearer: token }, 'GET', '/accounts/acc_1002')).status).toBe(200);
  });
});

describe("spellings of someone else's object id", () => {
  it.each([
    ['/accounts/acc%5F1002'],
    ['/accounts/%61cc_1002'],
    ['/accounts/acc_1002%20'],
    ['/accounts/ACC_1002'],
    ['/accounts/./acc_1002'],
    ['/accounts/acc_1001/../acc_1002'],
    ['/accounts/acc_1002?accountId=acc_1001'],
    ['/orders/ord%5F5003'],
  ])("never gives alice bob's data through %s", async (path) => {
    const reply = await call('alice', 'GET', path);
    expect(reply.status, reply.text).not.toBe(200);
    expect(reply.text).not.toMatch(/Bob Brown|acc_1002"|user_bob/);
  });
});

describe('path spellings that try to reach the admin operation', () => {
  it.each([
    ['/admin/accounts/acc_1001', 403, 'authz.admin.required'],
    ['/ADMIN/accounts/acc_1001', 404, 'route.not_found'],
    ['/Admin/Accounts/acc_1001', 404, 'route.not_found'],
    ['/admin//accounts/acc_1001', 403, 'authz.admin.required'],
    ['/admin/./accounts/acc_1001', 403, 'authz.admin.required'],
    ['/admin/accounts/./acc_1001', 403, 'authz.admin.required'],
    ['/accounts/../admin/accounts/acc_1001', 403, 'authz.admin.required'],
    ['/accounts/%2e%2e/admin/accounts/acc_1001', 403, 'authz.admin.required'],
    ['/accounts/%2E%2E/admin/accounts/acc_1001', 403, 'authz.admin.required'],
    ['/accounts/..%2fadmin/accounts/acc_1001', 400, 'normalize.path.encoded_slash'],
    ['/%61dmin/accounts/acc_1001', 403, 'authz.admin.required'],
    ['/admin/accounts/acc_1001/', 404, 'route.not_found'],
    ['/admin;x=1/accounts/acc_1001', 400, 'normalize.path.semicolon'],
    ['/admin/accounts/acc_1001%00', 400, 'normalize.path.control_char'],
    ['/admin\\accounts\\acc_1001', 400, 'normalize.path.backslash'],
  ])('refuses DELETE %s for alice: %i %s', async (path, status, reason) => {
    const reply = await call('alice', 'DELETE', path);
    expect(reply.status, reply.text).toBe(status);
    const problem = JSON.parse(reply.text) as { requestId: string };
    expect((await eventOf(problem.requestId)).reason).toBe(reason);
  });

  it('left acc_1001 in place', async () => {
    expect((await call('alice', 'GET', '/accounts/acc_1001')).status).toBe(200);
  });
});
