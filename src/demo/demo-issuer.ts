import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT } from 'jose';

/**
 * The identity provider of `npm start`: an Ed25519 key made at each start, its public half
 * served as a JWKS, and tokens signed with it for the demo's users. It listens on plain HTTP on
 * the loopback interface, which is why the example issuer says `allowInsecureHttp: true`; a
 * real issuer publishes its keys over HTTPS.
 */
export interface DemoIssuer {
  readonly url: string;
  readonly audience: string;
  token(subject: string, scopes: readonly string[], ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

export const DEMO_AUDIENCE = 'portcullis-demo';

export async function startDemoIssuer(port: number, host = '127.0.0.1'): Promise<DemoIssuer> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = `demo-${Date.now().toString(36)}`;
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }],
  });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    audience: DEMO_AUDIENCE,
    token: (subject, scopes, ttlSeconds = 3600) =>
      sign(privateKey, kid, url, subject, scopes, ttlSeconds),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function sign(
  key: KeyObject,
  kid: string,
  issuer: string,
  subject: string,
  scopes: readonly string[],
  ttlSeconds: number,
): Promise<string> {
  return new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(DEMO_AUDIENCE)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .setJti(crypto.randomUUID())
    .sign(key);
}
