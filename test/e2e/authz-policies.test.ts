import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { portcullis } from '../support/cli.js';
import { startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';

/**
 * The Cedar policies through the real gateway, with the example's policies
 * (examples/policies/): a request the route's own rules allow is still refused by a forbid, the
 * event names the policy that decided, and what the policies permit reaches the upstream.
 */

const EXAMPLES = fileURLToPath(new URL('../../examples/policies/', import.meta.url));

type Consumer = 'alice' | 'carol' | 'ops' | 'dave';

let upstream: DemoUpstream;
let gw: GatewayProcess;
let dir: string;
const keys = {} as Record<Consumer, string>;

/** The example in a directory of its own, on this test's upstream, with dave, who has no tenant. */
function exampleConfig(dir: string): string {
  copyFileSync(join(EXAMPLES, 'portcullis.cedar'), join(dir, 'portcullis.cedar'));
  copyFileSync(join(EXAMPLES, 'portcullis.cedarschema'), join(dir, 'portcullis.cedarschema'));
  const text = readFileSync(join(EXAMPLES, 'portcullis.yaml'), 'utf8').replaceAll(
    'http://127.0.0.1:3000',
    upstream.url,
  );
  const config = parse(text) as Record<string, unknown>;
  config.listeners = { http: { host: '127.0.0.1', port: 0 } };
  config.logging = { level: 'info', access: false };
  (config.consumers as unknown[]).push({ id: 'dave', scopes: ['orders:read'] });
  config.state = {
    store: { sqlite: { path: join(dir, 'portcullis.db') } },
    encryption: { devMode: false },
  };
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

beforeAll(async () => {
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
  dir = mkdtempSync(join(tmpdir(), 'pcl-policies-'));
  const file = exampleConfig(dir);
  for (const consumer of ['alice', 'carol', 'ops', 'dave'] as const) {
    const created = await portcullis(['keys', 'create', '--consumer', consumer, '-c', file]);
    expect(created.code, created.stderr).toBe(0);
    keys[consumer] = created.stdout.trim();
  }
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

function call(who: Consumer, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { 'x-api-key': keys[who] };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(gw.http ?? 0, {
    method,
    path,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const ORDER = { items: [{ sku: 'WIDGET-1', qty: 1 }] };

/** A PATCH with the body exactly as given. */
function patch(who: Consumer, path: string, contentType: string, body: string) {
  return send(gw.http ?? 0, {
    method: 'PATCH',
    path,
    headers: { 'x-api-key': keys[who], 'content-type': contentType },
    body,
  });
}

async function eventOf(requestId: string): Promise<Record<string, unknown>> {
  return gw.waitForLog((l) => l.event === 'request.denied' && l.requestId === requestId, 5_000);
}

describe('routes that ask the Cedar policies', () => {
  it.each([
    // carol's scopes allow placing an order on her account; her readonly plan does not.
    ['carol', 'POST', '/accounts/acc_1003/orders', ORDER, 'readonly-plan-places-no-orders'],
    // dave has the scope, but no tenant: tenant-required.
    ['dave', 'GET', '/orders/ord_5001', undefined, 'tenant-required'],
  ] as const)(
    'refuses %s %s %s with 403, the event naming policy %s',
    async (who, method, path, body, rule) => {
      const reply = await call(who, method, path, body);

      const problem = expectProblem(reply, 403, 'forbidden');
      const event = await gw.waitForLog(
        (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
        5_000,
      );
      expect(event).toMatchObject({
        reason: 'authz.policy.denied',
        stage: 'authz',
        consumer: who,
        status: 403,
      });
      expect(event.details).toEqual({ rule, object: path });
    },
  );

  it.each([
    ['alice', 'POST', '/accounts/acc_1001/orders', ORDER, 201],
    ['carol', 'GET', '/accounts/acc_1003/orders', undefined, 200],
    // ops has no tenant, but the admin role: tenant-required does not hold for it.
    ['ops', 'GET', '/orders/ord_5003', undefined, 200],
  ] as const)('lets %s %s %s through (%i)', async (who, method, path, body, status) => {
    const reply = await call(who, method, path, body);

    expect(reply.status, reply.text).toBe(status);
  });

  it('never lets the refused order reach the upstream', async () => {
    await call('carol', 'POST', '/accounts/acc_1003/orders', ORDER);
    const reply = await call('carol', 'GET', '/accounts/acc_1003/orders');

    expect(reply.status).toBe(200);
    expect(JSON.stringify(JSON.parse(reply.text))).not.toContain('WIDGET-1');
  });

  it('runs the route rules first: a foreign account is refused before the policies', async () => {
    const reply = await call('carol', 'POST', '/accounts/acc_1001/orders', ORDER);

    const problem = expectProblem(reply, 404, 'not-found');
    const event = await gw.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
      5_000,
    );
    expect(event.reason).toBe('authz.owner_lookup.mismatch');
  });
});

describe('body fields given to the policies (policyBody: true)', () => {
  it('refuses a body field the policies forbid, naming the policy', async () => {
    const reply = await call('alice', 'PATCH', '/accounts/acc_1001', { tier: 'enterprise' });

    const problem = expectProblem(reply, 403, 'forbidden');
    const event = await eventOf(problem.requestId);
    expect(event).toMatchObject({ reason: 'authz.policy.denied', consumer: 'alice' });
    expect(event.details).toEqual({
      rule: 'enterprise-tier-by-admins',
      object: '/accounts/acc_1001',
    });
  });

  it.each([
    // The upstream might read a form body the policies never saw.
    [
      'a body that is not declared JSON',
      'application/x-www-form-urlencoded',
      'tier=enterprise',
      'authz.policy.body_not_json',
    ],
    ['malformed JSON', 'application/json', '{"tier":', 'authz.policy.body_malformed'],
    // A JSON Patch would set the tier in operations the policies never see as fields.
    [
      'a JSON Patch',
      'application/json-patch+json',
      '[{"op":"replace","path":"/tier","value":"enterprise"}]',
      'authz.policy.body_not_object',
    ],
    // Which tier would the upstream read? Neither: refused.
    [
      'a field sent twice',
      'application/json',
      '{"tier":"pro","tier":"enterprise"}',
      'authz.policy.body_malformed',
    ],
  ])('refuses %s with 400 (%s)', async (_, contentType, body, reason) => {
    const reply = await patch('alice', '/accounts/acc_1001', contentType, body);

    const problem = expectProblem(reply, 400, 'body-rejected');
    expect((await eventOf(problem.requestId)).reason).toBe(reason);
  });

  it.each([[{ name: 'Alice A.' }], [{ tier: 'pro' }]])('lets %j through', async (body) => {
    const reply = await call('alice', 'PATCH', '/accounts/acc_1001', body);

    expect(reply.status, reply.text).toBe(200);
  });
});

// Last: it changes the policies of the running gateway.
describe('reloading the policies', () => {
  const countOf = (msg: string) => gw.logs.filter((l) => l.msg === msg).length;

  it('enforces changed policies after SIGHUP, and keeps them when the new ones are refused', async () => {
    const file = join(dir, 'portcullis.cedar');
    const original = readFileSync(file, 'utf8');
    expect((await call('alice', 'GET', '/orders/ord_5001')).status).toBe(200);

    writeFileSync(
      file,
      `${original}\n@id("no-orders-for-alice")\nforbid (principal == Portcullis::Consumer::"alice", action == Portcullis::Action::"orders", resource);\n`,
    );
    const reloaded = countOf('config reloaded');
    gw.child.kill('SIGHUP');
    await gw.waitForLog(() => countOf('config reloaded') > reloaded, 10_000);
    const refused = await call('alice', 'GET', '/orders/ord_5001');
    const problem = expectProblem(refused, 403, 'forbidden');
    expect((await eventOf(problem.requestId)).details).toEqual({
      rule: 'no-orders-for-alice',
      object: '/orders/ord_5001',
    });

    // A policy that does not validate: the reload is refused and the running policies stay.
    writeFileSync(
      file,
      `${original}\n@id("typo")\nforbid (principal, action, resource) when { principal.role == "x" };\n`,
    );
    const rejected = countOf('reload refused; the running config stays');
    gw.child.kill('SIGHUP');
    await gw.waitForLog(
      () => countOf('reload refused; the running config stays') > rejected,
      10_000,
    );
    expect((await call('alice', 'GET', '/orders/ord_5001')).status).toBe(403);
  });
});
