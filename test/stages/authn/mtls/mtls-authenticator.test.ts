import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerConfig } from '../../../../src/config/authn-schema.js';
import type { HttpsListenerConfig } from '../../../../src/config/schema.js';
import { secureContextOptions, tlsServerOptions } from '../../../../src/gateway/tls.js';
import { systemClock, type RequestContext } from '../../../../src/gateway/stage.js';
import type {
  AuthOutcome,
  ConsumerLookup,
  ConsumerRecord,
} from '../../../../src/stages/authn/authenticator.js';
import { clientCertificateThumbprint } from '../../../../src/stages/authn/mtls/certificate-thumbprint.js';
import { createMtlsAuthenticator } from '../../../../src/stages/authn/mtls/mtls-authenticator.js';
import { fingerprint } from '../../../../src/state/audit/fingerprint.js';
import {
  certificateAuthority,
  clientCertificate,
  selfSignedCertificate,
  type CertificateAuthority,
  type ClientCertificate,
  type SelfSigned,
} from '../../../support/certificates.js';

/**
 * The mtls method against real TLS connections: a server built with the https listener's own
 * options (src/gateway/tls.ts) asks for client certificates, and each request runs the
 * authenticator on its socket. Certificates come from a trusted test CA, another CA, or none.
 */

function consumer(id: string, mtls: Partial<ConsumerConfig['mtls']>, disabled = false) {
  return {
    id,
    scopes: [`${id}:read`],
    roles: ['service'],
    metadata: { tenant: id },
    disabled,
    mtls: { subjects: [], sans: [], ...mtls },
  } satisfies ConsumerConfig;
}

const CONSUMERS: ConsumerConfig[] = [
  consumer('billing', { subjects: ['billing-client'] }),
  consumer('payments', { sans: ['URI:spiffe://example.org/payments'] }),
  consumer('reports', { sans: ['DNS:reports.example.com'] }),
  consumer('trusted', { sans: ['URI:spiffe://trusted'] }),
  consumer('mailer', { sans: ['email:ops@example.com'] }),
  consumer('retired', { subjects: ['retired-client'] }, true),
];

function lookupOf(consumers: readonly ConsumerConfig[], overrides: ConsumerRecord[] = []) {
  const records = new Map<string, ConsumerRecord>(
    consumers.map((c) => [c.id, { ...c, name: undefined, source: 'config' as const }]),
  );
  for (const r of overrides) records.set(r.id, r);
  return { get: (id: string) => records.get(id) } satisfies ConsumerLookup;
}

const silent = pino({ level: 'silent' });

function ctxOf(raw: IncomingMessage, scheme: 'http' | 'https'): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    path: '/',
    query: '',
    params: {},
    clientIp: '127.0.0.1',
    scheme,
    host: 'localhost',
    route: { name: 'r', upstream: 'u' },
    headers: raw.headers,
    clock: systemClock,
    log: silent,
    raw,
    onFinished: () => undefined,
    readJsonBody: () => Promise.resolve(undefined),
    readBodyBytes: () => Promise.resolve(undefined),
  };
}

interface Seen {
  readonly found: boolean;
  readonly outcome?: AuthOutcome;
  readonly thumbprint?: string;
}

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let server: SelfSigned;
const certs: Record<string, ClientCertificate> = {};
let selfSigned: SelfSigned;
let authenticator = createMtlsAuthenticator(CONSUMERS, {
  clock: systemClock,
  log: silent,
  consumers: lookupOf(CONSUMERS),
});
let listener: https.Server;
let port: number;
let listenerCfg: HttpsListenerConfig;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-mtls-'));
  ca = certificateAuthority(dir, 'client-ca');
  otherCa = certificateAuthority(dir, 'other-ca');
  server = selfSignedCertificate(join(dir, 'server.crt'), join(dir, 'server.key'));
  selfSigned = selfSignedCertificate(join(dir, 'self.crt'), join(dir, 'self.key'));
  const issue = (
    name: string,
    from: CertificateAuthority,
    opts: Parameters<typeof clientCertificate>[3],
  ) => (certs[name] = clientCertificate(from, dir, name, opts));
  issue('billing', ca, { cn: 'billing-client' });
  issue('payments', ca, { cn: 'some-host', sans: ['URI:spiffe://example.org/payments'] });
  issue('reports-upper', ca, { cn: 'x', sans: ['DNS:Reports.Example.COM'] });
  issue('mailer', ca, { cn: 'y', sans: ['email:ops@example.com'] });
  issue('unknown', ca, { cn: 'nobody', sans: ['DNS:nobody.example.com'] });
  issue('smuggled-san', ca, { cn: 'evil', sans: ['DNS:evil.com, URI:spiffe://trusted'] });
  issue('two-consumers', ca, { cn: 'billing-client', sans: ['URI:spiffe://example.org/payments'] });
  issue('retired', ca, { cn: 'retired-client' });
  issue('foreign-billing', otherCa, { cn: 'billing-client' });
  issue('expired-billing', ca, { cn: 'billing-client', days: -1 });
  copyFileSync(ca.certFile, join(dir, 'trusted-ca.pem'));

  listenerCfg = {
    host: '127.0.0.1',
    port: 0,
    cert: server.certFile,
    key: server.keyFile,
    minVersion: 'TLSv1.2',
    clientCa: join(dir, 'trusted-ca.pem'),
  };
  listener = https.createServer(tlsServerOptions(listenerCfg), (req, res) => {
    const ctx = ctxOf(req, 'https');
    const presented = authenticator.find(ctx, {
      public: false,
      methods: ['mtls'],
      allowQueryKey: false,
      onProviderDown: 'fail-closed',
    });
    const seen: Seen =
      presented === undefined
        ? { found: false }
        : {
            found: true,
            outcome: authenticator.authenticate(presented, ctx, {
              public: false,
              methods: ['mtls'],
              allowQueryKey: false,
              onProviderDown: 'fail-closed',
            }) as AuthOutcome,
            thumbprint: clientCertificateThumbprint(ctx),
          };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(seen));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as AddressInfo).port;
});

afterAll(async () => {
  listener.closeAllConnections();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function call(client?: { cert: string; key: string }): Promise<{ status: number; seen: Seen }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        servername: 'localhost',
        ca: server.cert,
        agent: false,
        ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, seen: JSON.parse(body) as Seen }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the mtls authenticator on a real TLS connection', () => {
  it.each([
    ['billing', 'billing', 'the subject CN'],
    ['payments', 'payments', 'a URI SAN (SPIFFE id)'],
    ['reports-upper', 'reports', 'a DNS SAN, without case'],
    ['mailer', 'mailer', 'an email SAN'],
  ])('maps a certificate of the trusted CA (%s) to its consumer through %s', async (name, id) => {
    const cert = certs[name] as ClientCertificate;
    const { seen } = await call(cert);
    expect(seen.found).toBe(true);
    expect(seen.outcome?.ok).toBe(true);
    if (seen.outcome?.ok !== true) return;
    const consumer = CONSUMERS.find((c) => c.id === id) as ConsumerConfig;
    expect(seen.outcome.identity).toEqual({
      consumerId: id,
      method: 'mtls',
      credential: fingerprint(new X509Certificate(cert.cert).raw),
      scopes: consumer.scopes,
      roles: consumer.roles,
      metadata: consumer.metadata,
    });
    // The RFC 8705 thumbprint the stage compares with a bound token's cnf.x5t#S256.
    expect(seen.thumbprint).toBe(cert.thumbprint);
  });

  it.each([
    ['foreign-billing', 'authn.mtls.untrusted', 'a certificate of another CA, with a claimed CN'],
    ['expired-billing', 'authn.mtls.expired', 'an expired certificate of the trusted CA'],
    ['unknown', 'authn.mtls.unknown_subject', 'a trusted certificate no consumer claims'],
    [
      'smuggled-san',
      'authn.mtls.unknown_subject',
      'a DNS SAN that spells `, URI:spiffe://trusted` inside its value',
    ],
    ['two-consumers', 'authn.mtls.ambiguous_subject', 'a certificate two consumers claim'],
    ['retired', 'authn.mtls.consumer_disabled', 'the certificate of a disabled consumer'],
  ])('refuses %s with %s: %s', async (name, reason) => {
    const { status, seen } = await call(certs[name]);
    // The handshake lets every certificate through: refusing is the method's job.
    expect(status).toBe(200);
    expect(seen.found).toBe(true);
    expect(seen.outcome?.ok).toBe(false);
    if (seen.outcome?.ok !== false) return;
    expect(seen.outcome.denial.kind).toBe('unauthenticated');
    expect(seen.outcome.denial.reason).toBe(reason);
    // No HTTP scheme to challenge with: a client certificate is not sent in a header.
    expect(seen.outcome.denial.headers?.['www-authenticate']).toBeUndefined();
    expect(seen.outcome.denial.audit?.credential).toBe(
      fingerprint(new X509Certificate((certs[name] as ClientCertificate).cert).raw),
    );
  });

  it('refuses a self-signed certificate, naming the verification error in the event', async () => {
    const { seen } = await call(selfSigned);
    expect(seen.outcome?.ok).toBe(false);
    if (seen.outcome?.ok !== false) return;
    expect(seen.outcome.denial.reason).toBe('authn.mtls.untrusted');
    expect(seen.outcome.denial.audit?.details?.error).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('names the verification error of a certificate from another CA', async () => {
    const { seen } = await call(certs['foreign-billing']);
    if (seen.outcome?.ok !== false) throw new Error('accepted');
    expect(seen.outcome.denial.audit?.details?.error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('finds nothing on a connection without a client certificate', async () => {
    const { status, seen } = await call();
    expect(status).toBe(200);
    expect(seen).toEqual({ found: false });
  });

  it('refuses a consumer the store has disabled since the config declared it', async () => {
    const disabledInStore = createMtlsAuthenticator(CONSUMERS, {
      clock: systemClock,
      log: silent,
      consumers: lookupOf(CONSUMERS, [
        {
          id: 'billing',
          name: undefined,
          scopes: [],
          roles: [],
          metadata: {},
          disabled: true,
          source: 'store',
        },
      ]),
    });
    const previous = authenticator;
    authenticator = disabledInStore;
    try {
      const { seen } = await call(certs.billing);
      if (seen.outcome?.ok !== false) throw new Error('accepted');
      expect(seen.outcome.denial.reason).toBe('authn.mtls.consumer_disabled');
      expect(seen.outcome.denial.audit?.consumer).toBe('billing');
    } finally {
      authenticator = previous;
    }
  });

  it('trusts a new client CA after a reload (setSecureContext), and no longer the old one', async () => {
    copyFileSync(otherCa.certFile, join(dir, 'trusted-ca.pem'));
    listener.setSecureContext(secureContextOptions(listenerCfg));
    try {
      const foreign = await call(certs['foreign-billing']);
      expect(foreign.seen.outcome?.ok).toBe(true);
      const old = await call(certs.billing);
      if (old.seen.outcome?.ok !== false) throw new Error('accepted');
      expect(old.seen.outcome.denial.reason).toBe('authn.mtls.untrusted');
    } finally {
      copyFileSync(ca.certFile, join(dir, 'trusted-ca.pem'));
      listener.setSecureContext(secureContextOptions(listenerCfg));
    }
  });
});

describe('the mtls authenticator without TLS', () => {
  it('finds nothing on a plain HTTP request', async () => {
    const plain = http.createServer((req, res) => {
      const found = authenticator.find(ctxOf(req, 'http'), {
        public: false,
        methods: ['mtls'],
        allowQueryKey: false,
        onProviderDown: 'fail-closed',
      });
      res.end(JSON.stringify({ found: found !== undefined }));
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get(
            { host: '127.0.0.1', port: (plain.address() as AddressInfo).port, agent: false },
            (res) => {
              let text = '';
              res.setEncoding('utf8').on('data', (c: string) => (text += c));
              res.on('end', () => resolve(text));
            },
          )
          .on('error', reject);
      });
      expect(JSON.parse(body)).toEqual({ found: false });
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });
});

describe('the mtls consumer index', () => {
  it.each([
    ['subject', { subjects: ['shared-cn'] }, { subjects: ['shared-cn'] }],
    ['SAN', { sans: ['DNS:shared.example.com'] }, { sans: ['DNS:SHARED.example.com'] }],
  ])('refuses a config where two consumers claim the same certificate %s', (_what, a, b) => {
    expect(() =>
      createMtlsAuthenticator([consumer('a', a), consumer('b', b)], {
        clock: systemClock,
        log: silent,
        consumers: lookupOf([]),
      }),
    ).toThrow(/consumers a and b both claim/);
  });
});

describe('the https listener options', () => {
  it('asks for a client certificate without requiring one, only with clientCa', () => {
    const base: HttpsListenerConfig = { ...listenerCfg, clientCa: undefined };
    expect(tlsServerOptions(base).requestCert).toBeUndefined();
    expect(secureContextOptions(base).ca).toBeUndefined();
    const withCa = tlsServerOptions(listenerCfg);
    expect(withCa.requestCert).toBe(true);
    expect(withCa.rejectUnauthorized).toBe(false);
    expect(String(secureContextOptions(listenerCfg).ca)).toContain('BEGIN CERTIFICATE');
  });
});
