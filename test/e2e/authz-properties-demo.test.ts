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
 * The property rules of the example (examples/portcullis.yaml) against the demo upstream, whose
 * flaws they exist for: it accepts balance and tier in an account patch, computes nothing but
 * trusts nothing either in a new order, and shows internalRiskScore to everyone.
 */

const EXAMPLE = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

let upstream: DemoUpstream;
let issuer: DemoIssuer;
let gw: GatewayProcess;
const keys: Record<string, string> = {};

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
  issuer = await startDemoIssuer(0);
  const dir = mkdtempSync(join(tmpdir(), 'pcl-props-demo-'));
  const file = exampleConfig(dir);
  for (const consumer of ['alice', 'ops']) {
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

function call(who: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { 'x-api-key': keys[who] ?? '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(gw.http ?? 0, {
    method,
    path,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function reasonOf(reply: Reply): Promise<unknown> {
  const problem = expectProblem(reply, 403, 'forbidden');
  const line = await gw.waitForLog(
    (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
  );
  return { reason: line.reason, details: line.details };
}

describe('the example refuses mass assignment on every writable demo resource', () => {
  it.each([
    ['PATCH', '/accounts/acc_1001', { name: 'A', balance: 1e9 }, 'balance'],
    ['PATCH', '/accounts/acc_1001', { tier: 'enterprise' }, 'tier'],
    ['PATCH', '/accounts/acc_1001', { ownerId: 'user_bob' }, 'ownerId'],
    ['PATCH', '/accounts/acc_1001', { internalRiskScore: 0 }, 'internalRiskScore'],
    [
      'POST',
      '/accounts/acc_1001/orders',
      { items: [{ sku: 'GIZMO-3', qty: 1 }], total: 0 },
      'total',
    ],
    [
      'POST',
      '/accounts/acc_1001/orders',
      { items: [{ sku: 'GIZMO-3', qty: 1 }], status: 'paid' },
      'status',
    ],
    [
      'POST',
      '/accounts/acc_1001/orders',
      { items: [{ sku: 'GIZMO-3', qty: 1, price: 0 }] },
      'items[].price',
    ],
  ])('%s %s setting %j', async (method, path, body, property) => {
    expect(await reasonOf(await call('alice', method, path, body))).toEqual({
      reason: 'authz.property.write_denied',
      details: { rule: 'properties.write', property },
    });
  });

  it('lets the allowed properties through, and the upstream applies them', async () => {
    const patched = await call('alice', 'PATCH', '/accounts/acc_1001', { name: 'Alice A.' });
    expect(patched.status, patched.text).toBe(200);
    const order = await call('alice', 'POST', '/accounts/acc_1001/orders', {
      items: [{ sku: 'WIDGET-1', qty: 2 }],
    });
    expect(order.status, order.text).toBe(201);
    expect(JSON.parse(order.text)).toMatchObject({ total: 19.98, status: 'pending' });
  });
});

describe('the example hides internalRiskScore from all but admins', () => {
  it('removes it from alice’s own account and keeps it for ops', async () => {
    const own = JSON.parse((await call('alice', 'GET', '/accounts/acc_1001')).text) as object;
    expect(own).not.toHaveProperty('internalRiskScore');
    expect(own).toMatchObject({ id: 'acc_1001', ownerId: 'user_alice' });
    const admin = JSON.parse((await call('ops', 'GET', '/accounts/acc_1001')).text) as object;
    expect(admin).toHaveProperty('internalRiskScore', 12);
  });
});
