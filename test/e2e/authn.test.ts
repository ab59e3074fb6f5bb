import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/state/audit/fingerprint.js';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Authentication through the real gateway process: what the upstream receives once a caller is
 * authenticated (the identity, never the credential, never a client-forged identity header),
 * and what a client gets when it is refused.
 */

const IDENTITY_HEADERS = {
  'x-consumer-id': 'root',
  'x-consumer-scopes': 'admin:all',
  'x-consumer-roles': 'admin',
  'x-authenticated-by': 'mtls',
  'x-portcullis-identity': 'forged.token.here',
};

let upstream: RecordingUpstream;
let gw: GatewayProcess;
let apiKey: string;
let token: string;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function config(dir: string, upstreamPort: number): string {
  return `
listeners:
  http: { host: 127.0.0.1, port: 0 }
  ops: { host: 127.0.0.1, port: 0 }
logging: { level: info, access: false }
upstreams:
  api: { targets: ['http://127.0.0.1:${upstreamPort}'] }
consumers:
  - id: alice
    scopes: [accounts:read, orders:write]
    roles: [user]
authn:
  issuers:
    corp:
      issuer: https://login.example.com/
      keysFile: ${join(dir, 'corp.jwks.json')}
      audiences: [api]
      algorithms: [ES256]
  upstream:
    token: { enabled: true, ttlSeconds: 60, audience: api }
routes:
  - name: open
    paths: [/open]
    methods: [GET]
    upstream: api
    auth: { public: true }
  - name: keyed
    paths: [/keyed]
    methods: [GET]
    upstream: api
    auth: { methods: [api-key, jwt:corp] }
    authz: { anyAuthenticated: true }
  - name: query-keyed
    paths: [/query-keyed]
    methods: [GET]
    upstream: api
    auth: { methods: [api-key], allowQueryKey: true }
    authz: { anyAuthenticated: true }
state:
  store:
    sqlite: { path: ${join(dir, 'portcullis.db')} }
`;
}

const echoOf = (reply: Reply): Echo => JSON.parse(reply.text) as Echo;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-authn-'));
  const jwk = { ...(await exportJWK(publicKey)), kid: 'corp-1', alg: 'ES256', use: 'sig' };
  writeFileSync(join(dir, 'corp.jwks.json'), JSON.stringify({ keys: [jwk] }));
  const file = writeConfig(config(dir, upstream.port), dir);
  const created = await portcullis(['keys', 'create', '--consumer', 'alice', '-c', file]);
  expect(created.code, created.stderr).toBe(0);
  apiKey = created.stdout.trim();
  token = await new SignJWT({ scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'corp-1' })
    .setIssuer('https://login.example.com/')
    .setAudience('api')
    .setSubject('bob')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('authentication through the gateway', () => {
  it('removes client-forged identity headers on a public route', async () => {
    const reply = await send(gw.http ?? 0, { path: '/open', headers: IDENTITY_HEADERS });
    expect(reply.status).toBe(200);
    const seen = echoOf(reply).headers;
    for (const name of Object.keys(IDENTITY_HEADERS)) expect(seen[name]).toBeUndefined();
  });

  it('hands the upstream the API key owner, not the key nor a forged identity', async () => {
    const reply = await send(gw.http ?? 0, {
      path: '/keyed',
      headers: { ...IDENTITY_HEADERS, 'x-api-key': apiKey },
    });
    expect(reply.status, reply.text).toBe(200);
    const seen = echoOf(reply).headers;
    expect(seen['x-consumer-id']).toBe('alice');
    expect(seen['x-consumer-scopes']).toBe('accounts:read orders:write');
    expect(seen['x-consumer-roles']).toBe('user');
    expect(seen['x-authenticated-by']).toBe('api-key');
    expect(seen['x-api-key']).toBeUndefined();
    expect(JSON.stringify(echoOf(reply))).not.toContain(apiKey);
  });

  it('hands the upstream the token subject and strips the Authorization header', async () => {
    const reply = await send(gw.http ?? 0, {
      path: '/keyed',
      headers: { ...IDENTITY_HEADERS, authorization: `Bearer ${token}` },
    });
    expect(reply.status, reply.text).toBe(200);
    const seen = echoOf(reply).headers;
    expect(seen['x-consumer-id']).toBe('bob');
    expect(seen['x-consumer-scopes']).toBe('orders:read');
    expect(seen['x-authenticated-by']).toBe('jwt:corp');
    expect(seen.authorization).toBeUndefined();
  });

  it('signs an identity token the upstream verifies against the ops JWKS', async () => {
    const reply = await send(gw.http ?? 0, {
      path: '/keyed',
      headers: { ...IDENTITY_HEADERS, 'x-api-key': apiKey },
    });
    const identity = echoOf(reply).headers['x-portcullis-identity'];
    expect(typeof identity).toBe('string');
    const jwks = JSON.parse(
      (await send(gw.ops ?? 0, { path: '/.well-known/jwks.json' })).text,
    ) as JSONWebKeySet;
    const { payload } = await jwtVerify(String(identity), createLocalJWKSet(jwks), {
      issuer: 'portcullis',
      audience: 'api',
    });
    expect(payload.sub).toBe('alice');
    // A client-sent token of the same name never reaches the upstream.
    expect(identity).not.toBe(IDENTITY_HEADERS['x-portcullis-identity']);
  });

  it('refuses a token whose fingerprint is blocked, as a playbook revoke of a token does', async () => {
    const revoked = await new SignJWT({ scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'corp-1' })
      .setIssuer('https://login.example.com/')
      .setAudience('api')
      .setSubject('bob')
      .setJti('stolen-1')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    const request = { path: '/keyed', headers: { authorization: `Bearer ${revoked}` } };
    expect((await send(gw.http ?? 0, request)).status).toBe(200);
    const added = await portcullis([
      'blocks',
      'add',
      '--credential',
      fingerprint(revoked),
      '--reason',
      'revoked',
      '-c',
      gw.configFile,
    ]);
    expect(added.code, added.stderr).toBe(0);
    // Every node reads the store's blocks within a second; the cached verified token too.
    const deadline = Date.now() + 3_000;
    let reply = await send(gw.http ?? 0, request);
    while (reply.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      reply = await send(gw.http ?? 0, request);
    }
    const body = expectProblem(reply, 403, 'forbidden');
    expect(await deniedReason(gw, body.requestId)).toBe('blocks.blocked.credential');
    // Only that token: another of the same subject still works.
    expect(
      (await send(gw.http ?? 0, { ...request, headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(200);
  });

  it('removes an allowed query key from the URL the upstream receives', async () => {
    const reply = await send(gw.http ?? 0, {
      path: `/query-keyed?page=2&api_key=${apiKey}&sort=asc`,
    });
    expect(reply.status, reply.text).toBe(200);
    expect(echoOf(reply).url).toBe('/query-keyed?page=2&sort=asc');
  });

  it.each([
    ['no credential', '/keyed', {}, 'authn.credentials.missing'],
    [
      'a key in the query string where not allowed',
      `/keyed?api_key=KEY`,
      {},
      'authn.api_key.in_query',
    ],
    ['a forged identity header alone', '/keyed', IDENTITY_HEADERS, 'authn.credentials.missing'],
    ['a key with a typo', '/keyed', { 'x-api-key': 'TYPO' }, 'authn.api_key.checksum'],
    [
      'a token with a flipped signature',
      '/keyed',
      { authorization: 'Bearer FLIPPED' },
      'authn.jwt.signature_invalid',
    ],
  ])('refuses %s with 401 and the reason in the event', async (_name, path, headers, reason) => {
    const h: Record<string, string> = { ...headers };
    if (h['x-api-key'] === 'TYPO')
      h['x-api-key'] = apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A');
    if (h.authorization === 'Bearer FLIPPED') {
      const [head, body, sig = ''] = token.split('.');
      const flipped = (sig.startsWith('A') ? 'B' : 'A') + sig.slice(1);
      h.authorization = `Bearer ${head}.${body}.${flipped}`;
    }
    const reply = await send(gw.http ?? 0, { path: path.replace('KEY', apiKey), headers: h });
    const problem = expectProblem(reply, 401, 'unauthenticated', [apiKey, token]);
    expect(reply.headers['www-authenticate']).toMatch(/realm="portcullis"/);
    expect(await deniedReason(gw, problem.requestId)).toBe(reason);
    expect(upstream.requests.some((r) => r.headers['x-request-id'] === problem.requestId)).toBe(
      false,
    );
  });
});
