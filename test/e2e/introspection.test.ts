import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/state/audit/fingerprint.js';
import { selfSignedCertificate, type SelfSigned } from '../support/certificates.js';
import { portcullis, type CliRun } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Opaque tokens through the real gateway: the client secret is stored with
 * `portcullis secrets set` and used to authenticate to a real HTTPS introspection endpoint;
 * active tokens reach the upstream as an identity, others are refused with their reason, and
 * an endpoint that is down is a 503, or no identity on a route that allows it.
 */

const SECRET = `cs-${randomBytes(18).toString('base64url')}`;
const NOW_S = Math.floor(Date.now() / 1000);

let dir: string;
let asCert: SelfSigned;
let as: https.Server;
let asPort: number;
const answers = new Map<string, unknown>();
const authorizations: string[] = [];
let upstream: RecordingUpstream;
let gw: GatewayProcess;

function storeSecret(configFile: string): Promise<CliRun> {
  return portcullis(['secrets', 'set', 'oauth/idp', '-c', configFile], { stdin: `${SECRET}\n` });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-introspection-e2e-'));
  mkdirSync(join(dir, 'tls'));
  asCert = selfSignedCertificate(join(dir, 'tls/as.crt'), join(dir, 'tls/as.key'));
  as = https.createServer({ cert: asCert.cert, key: asCert.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      authorizations.push(req.headers.authorization ?? '');
      const token = new URLSearchParams(body).get('token') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers.get(token) ?? { active: false }));
    });
  });
  await new Promise<void>((resolve) => as.listen(0, '127.0.0.1', resolve));
  asPort = (as.address() as AddressInfo).port;
  upstream = await startRecordingUpstream();
  const configFile = writeConfig(
    `
listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  api:
    targets: [${upstream.origin}]
authn:
  introspection:
    idp:
      endpoint: https://localhost:${asPort}/oauth2/introspect
      clientId: portcullis-gw
      clientSecret: oauth/idp
      caFile: tls/as.crt
      timeoutMs: 1000
routes:
  - name: orders
    paths: [/orders]
    methods: [GET]
    upstream: api
    auth: { methods: ['introspection:idp'] }
    authz: { anyAuthenticated: true }
  - name: catalog
    paths: [/catalog]
    methods: [GET]
    upstream: api
    auth: { methods: ['introspection:idp'], onProviderDown: anonymous }
    authz: { anyAuthenticated: true }
`,
    dir,
  );
  const stored = await storeSecret(configFile);
  expect(stored.stderr).toBe('');
  expect(stored.code).toBe(0);
  gw = await startGateway(configFile);
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  as?.closeAllConnections();
  await new Promise<void>((resolve) => (as ? as.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const token = () => randomBytes(24).toString('base64url');

describe('the introspection method through the gateway', () => {
  it('hands the upstream the identity of an active token, never the token', async () => {
    const t = token();
    answers.set(t, {
      active: true,
      sub: 'alice',
      scope: 'orders:read',
      exp: NOW_S + 3600,
    });
    const reply = await send(gw.http as number, {
      path: '/orders',
      headers: { authorization: `Bearer ${t}` },
    });
    expect(reply.status, reply.text).toBe(200);
    const echo = JSON.parse(reply.text) as Echo;
    expect(echo.headers['x-consumer-id']).toBe('alice');
    expect(echo.headers['x-consumer-scopes']).toBe('orders:read');
    expect(echo.headers['x-authenticated-by']).toBe('introspection:idp');
    expect(echo.headers.authorization).toBeUndefined();
    // Authenticated to the endpoint with the secret stored by the CLI.
    const basic = authorizations.at(-1) ?? '';
    expect(Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString()).toBe(
      `portcullis-gw:${SECRET}`,
    );
  });

  it.each([
    ['an inactive token', { active: false }, 'authn.introspection.inactive'],
    [
      'active as the string "true"',
      { active: 'true', sub: 'alice' },
      'authn.introspection.inactive',
    ],
    [
      'an expired token',
      { active: true, sub: 'alice', exp: NOW_S - 60 },
      'authn.introspection.expired',
    ],
  ])('refuses %s with 401 and %s in the event', async (_name, answer, reason) => {
    const t = token();
    answers.set(t, answer);
    const reply = await send(gw.http as number, {
      path: '/orders',
      headers: { authorization: `Bearer ${t}` },
    });
    const body = expectProblem(reply, 401, 'unauthenticated', [t]);
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer realm="portcullis", error="invalid_token"',
    );
    expect(await deniedReason(gw, body.requestId)).toBe(reason);
    const line = await gw.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === body.requestId,
    );
    expect(JSON.stringify(line)).toContain(fingerprint(t));
    expect(JSON.stringify(line)).not.toContain(t);
  });

  it('answers 503 when the endpoint is down, and lets the anonymous route through without an identity', async () => {
    as.closeAllConnections();
    await new Promise<void>((resolve) => as.close(() => resolve()));
    const reply = await send(gw.http as number, {
      path: '/orders',
      headers: { authorization: `Bearer ${token()}` },
    });
    const body = expectProblem(reply, 503, 'service-unavailable', [String(asPort)]);
    expect(reply.headers['retry-after']).toBe('5');
    expect(await deniedReason(gw, body.requestId)).toBe('authn.introspection.unavailable');

    const anonymous = await send(gw.http as number, {
      path: '/catalog',
      headers: { authorization: `Bearer ${token()}`, 'x-consumer-id': 'root' },
    });
    expect(anonymous.status).toBe(200);
    const echo = JSON.parse(anonymous.text) as Echo;
    expect(echo.headers['x-consumer-id']).toBeUndefined();
    expect(echo.headers.authorization).toBeUndefined();
  });

  it('never writes the client secret to its log', () => {
    const everything = JSON.stringify(gw.logs) + gw.stderr();
    expect(gw.logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(Buffer.from(`portcullis-gw:${SECRET}`).toString('base64'));
  });
});
