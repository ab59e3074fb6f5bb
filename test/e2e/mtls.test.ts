import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/state/audit/fingerprint.js';
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
import {
  startRecordingUpstream,
  type Echo,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Client certificates through the real gateway: the https listener asks for one with
 * `clientCa`, the `mtls` method maps a verified one to a consumer whose id the upstream
 * receives, and refuses the others; routes without `mtls` serve clients without a certificate.
 */

let dir: string;
let serverCert: SelfSigned;
let upstream: RecordingUpstream;
let gw: GatewayProcess;
const certs: Record<string, ClientCertificate> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-mtls-e2e-'));
  mkdirSync(join(dir, 'tls'));
  serverCert = selfSignedCertificate(join(dir, 'tls/server.crt'), join(dir, 'tls/server.key'));
  const ca = certificateAuthority(join(dir, 'tls'), 'client-ca');
  const otherCa = certificateAuthority(join(dir, 'tls'), 'other-ca');
  certs.billing = clientCertificate(ca, dir, 'billing', { cn: 'billing-client' });
  certs.payments = clientCertificate(ca, dir, 'payments', {
    cn: 'pay-7',
    sans: ['URI:spiffe://example.org/payments'],
  });
  certs.foreign = clientCertificate(otherCa, dir, 'foreign', { cn: 'billing-client' });
  certs.unknown = clientCertificate(ca, dir, 'unknown', { cn: 'nobody' });
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
  api:
    targets: [${upstream.origin}]
consumers:
  - id: billing
    scopes: [ledger:write]
    mtls: { subjects: [billing-client] }
  - id: payments
    mtls: { sans: ['URI:spiffe://example.org/payments'] }
routes:
  - { name: ledger, paths: [/ledger], methods: [GET], upstream: api, auth: { methods: [mtls] }, authz: { anyAuthenticated: true } }
  - { name: open, paths: [/open], methods: [GET], upstream: api, auth: { public: true } }
`,
      dir,
    ),
  );
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(
  path: string,
  client?: ClientCertificate,
  headers: OutgoingHttpHeaders = {},
): Promise<Reply> {
  return send(gw.https ?? 0, {
    path,
    headers,
    tls: {
      ca: serverCert.cert,
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    },
  });
}

describe('the mtls method through the gateway', () => {
  it.each([
    ['billing', 'billing', 'ledger:write'],
    ['payments', 'payments', undefined],
  ])('hands the upstream the consumer of a trusted certificate (%s)', async (name, id, scopes) => {
    const reply = await get('/ledger', certs[name], { 'x-consumer-id': 'root' });
    expect(reply.status, reply.text).toBe(200);
    const echo = JSON.parse(reply.text) as Echo;
    // The gateway's header, never the client's copy.
    expect(echo.headers['x-consumer-id']).toBe(id);
    expect(echo.headers['x-authenticated-by']).toBe('mtls');
    expect(echo.headers['x-consumer-scopes']).toBe(scopes);
  });

  it.each([
    ['foreign', 'authn.mtls.untrusted', 'a certificate of another CA claiming a known CN'],
    ['unknown', 'authn.mtls.unknown_subject', 'a trusted certificate of no consumer'],
  ])('refuses %s with 401 %s: %s', async (name, reason) => {
    const before = upstream.requests.length;
    const reply = await get('/ledger', certs[name]);
    const body = expectProblem(reply, 401, 'unauthenticated');
    // No HTTP scheme names a client certificate.
    expect(reply.headers['www-authenticate']).toBeUndefined();
    expect(await deniedReason(gw, body.requestId)).toBe(reason);
    const line = await gw.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === body.requestId,
    );
    expect(JSON.stringify(line)).toContain(
      fingerprint(new X509Certificate((certs[name] as ClientCertificate).cert).raw),
    );
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a request without a certificate on an mtls route', async () => {
    const reply = await get('/ledger');
    const body = expectProblem(reply, 401, 'unauthenticated');
    expect(await deniedReason(gw, body.requestId)).toBe('authn.credentials.missing');
  });

  it('serves a client without a certificate on a route without mtls', async () => {
    const reply = await get('/open', undefined, { 'x-consumer-id': 'root' });
    expect(reply.status).toBe(200);
    const echo = JSON.parse(reply.text) as Echo;
    expect(echo.headers['x-consumer-id']).toBeUndefined();
  });
});
