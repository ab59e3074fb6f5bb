import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateAuthority,
  clientCertificate,
  selfSignedCertificate,
  type ClientCertificate,
  type SelfSigned,
} from '../support/certificates.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';

/**
 * Certificate-bound access tokens (RFC 8705) through the real gateway over real mutual TLS: a
 * token whose `cnf.x5t#S256` names a client certificate is good only on a connection that
 * presents that certificate; replayed by another client, or without one, it is refused.
 */

let dir: string;
let serverCert: SelfSigned;
let upstream: RecordingUpstream;
let gw: GatewayProcess;
let owner: ClientCertificate;
let thief: ClientCertificate;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function token(cnf: Record<string, string> | undefined): Promise<string> {
  return new SignJWT(cnf === undefined ? { scope: 'pay' } : { scope: 'pay', cnf })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer('https://login.example.com/')
    .setAudience('api')
    .setSubject('payments')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
}

function get(bearer: string, client?: ClientCertificate): Promise<Reply> {
  return send(gw.https ?? 0, {
    path: '/pay',
    headers: { authorization: `Bearer ${bearer}` },
    tls: {
      ca: serverCert.cert,
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-bound-'));
  mkdirSync(join(dir, 'tls'));
  serverCert = selfSignedCertificate(join(dir, 'tls/server.crt'), join(dir, 'tls/server.key'));
  const ca = certificateAuthority(join(dir, 'tls'), 'client-ca');
  owner = clientCertificate(ca, dir, 'owner', { cn: 'payments-client' });
  thief = clientCertificate(ca, dir, 'thief', { cn: 'other-client' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  upstream = await startRecordingUpstream();
  gw = await startGateway(
    writeConfig(
      `
listeners:
  https:
    host: 127.0.0.1
    port: 0
    cert: tls/server.crt
    key: tls/server.key
    clientCa: tls/client-ca.crt
upstreams:
  api: { targets: ['${upstream.origin}'] }
authn:
  issuers:
    corp:
      issuer: https://login.example.com/
      keysFile: jwks.json
      audiences: [api]
      algorithms: [ES256]
routes:
  - name: pay
    paths: [/pay]
    methods: [GET]
    upstream: api
    auth: { methods: [jwt:corp] }
    authz: { anyAuthenticated: true }
`,
      dir,
    ),
  );
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('certificate-bound tokens', () => {
  it('accepts a bound token on a connection with its certificate', async () => {
    const reply = await get(await token({ 'x5t#S256': owner.thumbprint }), owner);
    expect(reply.status, reply.text).toBe(200);
  });

  it('accepts an unbound token with or without a client certificate', async () => {
    const plain = await token(undefined);
    expect((await get(plain)).status).toBe(200);
    expect((await get(plain, thief)).status).toBe(200);
  });

  it.each([
    ['replayed by another trusted client', () => thief],
    ['sent without a client certificate', () => undefined],
  ])('refuses a bound token %s', async (_name, client) => {
    const before = upstream.requests.length;
    const reply = await get(await token({ 'x5t#S256': owner.thumbprint }), client());
    const problem = expectProblem(reply, 401, 'unauthenticated');
    expect(reply.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(await deniedReason(gw, problem.requestId)).toBe('authn.token.certificate_mismatch');
    expect(upstream.requests.length).toBe(before);
  });
});
