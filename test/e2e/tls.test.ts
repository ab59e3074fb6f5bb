import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate, type SelfSigned } from '../support/certificates.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { expectProblem, upstreamFailureReason } from '../support/problem-assertions.js';
import {
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * TLS on both sides of the gateway: the https listener's protocol and cipher policy (each
 * refusal checked against a permissive server that accepts the same client, so that a refusal
 * is the gateway's doing), HSTS, certificate reload on SIGHUP, the HTTP to HTTPS redirect, and
 * certificate verification towards upstreams.
 */

const HSTS = 'max-age=600; includeSubDomains';

let dir: string;
let serverCert: SelfSigned;
let upstreamCert: SelfSigned;
let plain: RecordingUpstream;
let secure: RecordingUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-tls-'));
  mkdirSync(join(dir, 'tls'));
  serverCert = selfSignedCertificate(join(dir, 'tls/server.crt'), join(dir, 'tls/server.key'));
  upstreamCert = selfSignedCertificate(
    join(dir, 'tls/upstream.crt'),
    join(dir, 'tls/upstream.key'),
  );
  plain = await startRecordingUpstream();
  secure = await startRecordingUpstream({
    tls: { cert: upstreamCert.cert, key: upstreamCert.key },
  });
  gw = await startGateway(
    writeConfig(
      `
listeners:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: true }
  https:
    host: 127.0.0.1
    port: 0
    cert: tls/server.crt
    key: tls/server.key
    hsts: { maxAge: 600, includeSubDomains: true }
upstreams:
  plain:
    targets: [${plain.origin}]
  secure:
    targets: [${secure.origin}]
    tls: { ca: tls/upstream.crt }
  secure-no-ca:
    targets: [${secure.origin}]
  secure-unverified:
    targets: [${secure.origin}]
    tls: { verify: false }
routes:
  - { name: plain, paths: [/echo], methods: [GET], upstream: plain, auth: { public: true } }
  - { name: secure, paths: [/secure], methods: [GET], upstream: secure, auth: { public: true } }
  - { name: secure-no-ca, paths: [/secure-no-ca], methods: [GET], upstream: secure-no-ca, auth: { public: true } }
  - { name: secure-unverified, paths: [/secure-unverified], methods: [GET], upstream: secure-unverified, auth: { public: true } }
`,
      dir,
    ),
  );
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([plain?.close(), secure?.close()]);
});

type Handshake =
  | {
      readonly ok: true;
      readonly protocol: string | null;
      readonly cipher: string;
      readonly fingerprint256: string;
    }
  | { readonly ok: false; readonly code: string };

/** One TLS handshake, nothing more: a fresh connection, no session to resume. */
function handshake(port: number, opts: ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: 'localhost', ...opts },
      () => {
        resolve({
          ok: true,
          protocol: socket.getProtocol(),
          cipher: socket.getCipher().name,
          fingerprint256: socket.getPeerCertificate().fingerprint256,
        });
        socket.destroy();
      },
    );
    socket.on('error', (err: Error & { code?: string }) => {
      resolve({ ok: false, code: err.code ?? err.message });
      socket.destroy();
    });
  });
}

/** A server that accepts anything OpenSSL can still speak, with the same certificate. */
async function withPermissiveServer<T>(
  cert: SelfSigned,
  run: (port: number) => Promise<T>,
): Promise<T> {
  const server = tls.createServer(
    { cert: cert.cert, key: cert.key, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
    (socket) => socket.end(),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await run((server.address() as { port: number }).port);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** `hostile` is refused by the gateway, though a permissive server accepts the same client. */
async function expectRefused(cert: SelfSigned, hostile: ConnectionOptions): Promise<string> {
  const control = await withPermissiveServer(cert, (port) =>
    handshake(port, { ca: cert.cert, ...hostile }),
  );
  expect(control.ok, 'the client can speak this at all').toBe(true);
  const result = await handshake(gw.https as number, { ca: cert.cert, ...hostile });
  expect(result.ok).toBe(false);
  return result.ok ? '' : result.code;
}

describe('the https listener', () => {
  it.each([
    { path: '/echo', status: 200 },
    { path: '/nowhere', status: 404 },
  ])('serves GET $path over TLS with HSTS ($status)', async ({ path, status }) => {
    const reply = await send(gw.https as number, { path, tls: { ca: serverCert.cert } });

    expect(reply.status).toBe(status);
    expect(reply.headers['strict-transport-security']).toBe(HSTS);
    if (status === 200) {
      const echo = JSON.parse(reply.text) as Echo;
      expect(echo.headers['x-forwarded-proto']).toBe('https');
    } else {
      expectProblem(reply, 404, 'not-found', [String(plain.port)]);
    }
  });

  it.each([
    { version: 'TLSv1.3', ok: true },
    { version: 'TLSv1.2', ok: true },
  ] as const)('negotiates $version', async ({ version }) => {
    const result = await handshake(gw.https as number, {
      ca: serverCert.cert,
      minVersion: version,
      maxVersion: version,
    });

    expect(result).toMatchObject({
      ok: true,
      protocol: version,
      fingerprint256: serverCert.fingerprint256,
    });
  });

  it.each(['TLSv1.1', 'TLSv1'] as const)('refuses %s', async (version) => {
    const code = await expectRefused(serverCert, {
      minVersion: 'TLSv1',
      maxVersion: version,
      ciphers: 'DEFAULT@SECLEVEL=0',
    });

    expect(code).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
  });

  it.each(['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256'])(
    'refuses the CBC suite %s over TLS 1.2',
    async (cipher) => {
      const code = await expectRefused(serverCert, { maxVersion: 'TLSv1.2', ciphers: cipher });

      expect(code).toMatch(/HANDSHAKE_FAILURE|NO_SHARED_CIPHER/);
    },
  );

  it.each(['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'])(
    'accepts the AEAD suite %s over TLS 1.2',
    async (cipher) => {
      const result = await handshake(gw.https as number, {
        ca: serverCert.cert,
        maxVersion: 'TLSv1.2',
        ciphers: cipher,
      });

      expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.2', cipher });
    },
  );
});

describe('the http listener with redirectToHttps', () => {
  it('answers 308 to the https listener, keeping path and query', async () => {
    const reply = await send(gw.http as number, {
      path: '/echo?page=2',
      headers: { host: `localhost:${gw.http}` },
    });

    expect(reply.status).toBe(308);
    expect(reply.headers.location).toBe(`https://localhost:${gw.https}/echo?page=2`);
    expect(plain.requests.some((r) => r.url === '/echo?page=2')).toBe(false);

    const location = new URL(reply.headers.location ?? '');
    const followed = await send(Number(location.port), {
      path: location.pathname + location.search,
      tls: { ca: serverCert.cert },
    });
    expect(followed.status).toBe(200);
  });
});

describe('TLS towards upstreams', () => {
  it('proxies to an HTTPS upstream verified against tls.ca', async () => {
    const reply = await send(gw.https as number, { path: '/secure', tls: { ca: serverCert.cert } });

    expect(reply.status).toBe(200);
    expect((JSON.parse(reply.text) as Echo).url).toBe('/secure');
  });

  it('refuses with 502 upstream.tls when the upstream certificate cannot be verified', async () => {
    const seen = secure.requests.length;

    const reply = await send(gw.https as number, {
      path: '/secure-no-ca',
      tls: { ca: serverCert.cert },
    });

    const problem = expectProblem(reply, 502, 'bad-gateway', [
      String(secure.port),
      'SELF_SIGNED',
      'CERT',
    ]);
    expect(await upstreamFailureReason(gw, problem.requestId)).toBe('upstream.tls');
    expect(secure.requests.length).toBe(seen);
  });

  it('warns at start about an upstream with tls.verify: false, and still serves it', async () => {
    const warning = await gw.waitForLog(
      (l) => l.upstream === 'secure-unverified' && l.level === 'warn',
    );
    expect(String(warning.msg)).toMatch(/TLS verification .* is OFF/);
    expect(gw.logs.filter((l) => /TLS verification/.test(String(l.msg)))).toHaveLength(1);

    const reply = await send(gw.https as number, {
      path: '/secure-unverified',
      tls: { ca: serverCert.cert },
    });
    expect(reply.status).toBe(200);
  });
});

describe('after SIGHUP with a new (RSA) certificate in the same files', () => {
  let next: SelfSigned;

  beforeAll(async () => {
    const reloads = gw.logs.filter((l) => l.msg === 'config reloaded').length;
    next = selfSignedCertificate(serverCert.certFile, serverCert.keyFile, 'rsa');
    gw.child.kill('SIGHUP');
    await gw.waitForLog(
      (l) =>
        l.msg === 'config reloaded' &&
        gw.logs.filter((m) => m.msg === 'config reloaded').length > reloads,
    );
  });

  it('presents the new certificate on a new connection', async () => {
    const result = await handshake(gw.https as number, { ca: next.cert });

    expect(result).toMatchObject({ ok: true, fingerprint256: next.fingerprint256 });
    expect(next.fingerprint256).not.toBe(serverCert.fingerprint256);
  });

  it.each(['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA'])(
    'keeps refusing %s (no RSA key exchange, no CBC)',
    async (cipher) => {
      const code = await expectRefused(next, { maxVersion: 'TLSv1.2', ciphers: cipher });

      expect(code).toMatch(/HANDSHAKE_FAILURE|NO_SHARED_CIPHER/);
    },
  );

  it('accepts ECDHE-RSA-AES128-GCM-SHA256', async () => {
    const result = await handshake(gw.https as number, {
      ca: next.cert,
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
    });

    expect(result).toMatchObject({ ok: true, cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
  });
});
