import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Ownership read from the JSON body and from headers and the query, through the real gateway:
 * a transfer may only move money out of the caller's own tenant, however the request tries to
 * say otherwise (a second member, a second header, a second query parameter).
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;
let key: string;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-authz-body-'));
  const file = writeConfig(
    `
listeners: { http: { host: 127.0.0.1, port: 0 } }
logging: { level: info, access: false }
upstreams: { api: { targets: ['http://127.0.0.1:${upstream.port}'] } }
consumers:
  - { id: alice, scopes: [transfers:write], metadata: { tenant: t-alice } }
routes:
  - name: transfers
    paths: [/transfers]
    methods: [POST]
    upstream: api
    auth: { methods: [api-key] }
    authz:
      scopes: { allOf: [transfers:write] }
      owner:
        - { name: from, value: { body: /from/tenant }, equals: { metadata: tenant } }
        - { name: header, value: { header: x-tenant }, equals: { metadata: tenant } }
  - name: reports
    paths: [/reports]
    methods: [GET]
    upstream: api
    auth: { methods: [api-key] }
    authz:
      anyAuthenticated: true
      owner: [{ name: tenant, value: { query: tenant }, equals: { metadata: tenant } }]
      hideExistence: true
state:
  store: { sqlite: { path: ${join(dir, 'portcullis.db')} } }
`,
    dir,
  );
  const created = await portcullis(['keys', 'create', '--consumer', 'alice', '-c', file]);
  expect(created.code, created.stderr).toBe(0);
  key = created.stdout.trim();
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

function transfer(
  body: string,
  headers: Record<string, string | string[]> = { 'x-tenant': 't-alice' },
) {
  return send(gw.http ?? 0, {
    method: 'POST',
    path: '/transfers',
    headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers },
    body,
  });
}

describe('ownership from the JSON body through the gateway', () => {
  it('lets an own transfer through with the very bytes the client sent', async () => {
    const body = '{ "from": {"tenant": "t-alice"}, "to": {"tenant": "t-bob"}, "amount": 5 }';
    const reply = await transfer(body);
    expect(reply.status, reply.text).toBe(200);
    expect((JSON.parse(reply.text) as Echo).body).toBe(body);
  });

  it.each([
    ['a foreign tenant', '{"from":{"tenant":"t-bob"}}', 403, 'forbidden', 'authz.owner.mismatch'],
    ['no tenant', '{"to":{"tenant":"t-alice"}}', 403, 'forbidden', 'authz.owner.missing_value'],
    [
      'a tenant that is a number',
      '{"from":{"tenant":1}}',
      403,
      'forbidden',
      'authz.owner.missing_value',
    ],
    [
      'the tenant twice (the upstream may read the second)',
      '{"from":{"tenant":"t-alice","tenant":"t-bob"}}',
      400,
      'body-rejected',
      'authz.owner.body_malformed',
    ],
    ['broken JSON', '{"from":', 400, 'body-rejected', 'authz.owner.body_malformed'],
  ] as const)('refuses %s', async (_what, body, status, kind, reason) => {
    const reply = await transfer(body);
    const problem = expectProblem(reply, status, kind);
    expect(await deniedReason(gw, problem.requestId)).toBe(reason);
    expect(upstream.requests.some((r) => r.headers['x-request-id'] === problem.requestId)).toBe(
      false,
    );
  });

  it.each([
    ['a foreign tenant header', { 'x-tenant': 't-bob' }, 'authz.owner.mismatch'],
    [
      'the tenant header twice',
      { 'x-tenant': ['t-alice', 't-bob'] },
      'authz.owner.ambiguous_value',
    ],
    ['no tenant header', {}, 'authz.owner.missing_value'],
  ])('refuses %s beside an own body', async (_what, headers, reason) => {
    const reply = await transfer('{"from":{"tenant":"t-alice"}}', headers);
    const problem = expectProblem(reply, 403, 'forbidden');
    expect(await deniedReason(gw, problem.requestId)).toBe(reason);
  });
});

describe('ownership from the query through the gateway', () => {
  const report = (query: string) =>
    send(gw.http ?? 0, { path: `/reports?${query}`, headers: { 'x-api-key': key } });

  it.each([['tenant=t-alice'], ['tenant=t%2Dalice'], ['x=1&tenant=t-alice']])(
    'lets %s through',
    async (query) => {
      expect((await report(query)).status).toBe(200);
    },
  );

  it.each([
    ['tenant=t-bob', 'authz.owner.mismatch'],
    ['tenant=t-alice&tenant=t-bob', 'authz.owner.ambiguous_value'],
    ['tenant=t-bob&tenant=t-alice', 'authz.owner.ambiguous_value'],
    ['tenant=t-alice&%74enant=t-bob', 'authz.owner.ambiguous_value'],
    ['tenant=T-ALICE', 'authz.owner.mismatch'],
    ['tenants=t-alice', 'authz.owner.missing_value'],
  ])('refuses %s with 404 (hideExistence)', async (query, reason) => {
    const problem = expectProblem(await report(query), 404, 'not-found');
    expect(await deniedReason(gw, problem.requestId)).toBe(reason);
  });
});
