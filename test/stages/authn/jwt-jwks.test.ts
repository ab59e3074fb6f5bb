import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/authn-schema.js';
import { statusOf } from '../../../src/gateway/problems.js';
import type { AuthOutcome } from '../../../src/stages/authn/authenticator.js';
import type { JtiRevocations } from '../../../src/stages/authn/jwt/jti-revocations.js';
import { JwtKeySources } from '../../../src/stages/authn/jwt/jwt-key-registry.js';
import type { JwtKeySource } from '../../../src/stages/authn/jwt/key-source.js';
import { selfSignedCertificate, type SelfSigned } from '../../support/certificates.js';
import {
  fakeClock,
  issuerConfig,
  jwks,
  jwtMethod,
  memoryRevocations,
  NOW_S,
  presentBearer,
  rawToken,
  claims,
  reasonOf,
  requestWith,
  route,
  signed,
  silentLog,
  testKey,
  type FakeClock,
  type TestKey,
} from './jwt-fixtures.js';
import { routeStage } from './route-stage.js';

type Mode = 'ok' | 'down' | 'hang' | 'huge' | 'garbage';

/** The issuer's side: a real HTTPS server publishing keys (and a discovery document). */
interface KeyServer {
  readonly origin: string;
  jwks: unknown;
  discovery: Record<string, unknown> | undefined;
  mode: Mode;
  readonly hits: { jwks: number; discovery: number };
}

let cert: SelfSigned;
let otherCert: SelfSigned;
let server: Server;
let ks: KeyServer;
let k1: TestKey;
let k2: TestKey;
let revocations: JtiRevocations;

function listen(s: Server): Promise<number> {
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-jwks-'));
  cert = selfSignedCertificate(join(dir, 'idp.crt'), join(dir, 'idp.key'));
  otherCert = selfSignedCertificate(join(dir, 'other.crt'), join(dir, 'other.key'));
  k1 = await testKey('k1', 'RS256');
  k2 = await testKey('k2', 'ES256');
  const state: Omit<KeyServer, 'origin'> = {
    jwks: jwks(k1),
    discovery: undefined,
    mode: 'ok',
    hits: { jwks: 0, discovery: 0 },
  };
  server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const isJwks = req.url === '/jwks';
    const isDiscovery = req.url === '/.well-known/openid-configuration';
    if (isJwks) state.hits.jwks++;
    if (isDiscovery) state.hits.discovery++;
    if (state.mode === 'hang') return;
    if (state.mode === 'down') {
      req.socket.destroy();
      return;
    }
    const body = isJwks ? state.jwks : isDiscovery ? state.discovery : undefined;
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (state.mode === 'garbage') res.end('<html>maintenance</html>');
    else if (state.mode === 'huge') {
      // Streamed without a Content-Length: only counting as it arrives can stop it.
      res.write('{"keys":[],"pad":"');
      for (let i = 0; i < 40; i++) res.write('x'.repeat(10_000));
      res.end('"}');
    } else res.end(JSON.stringify(body));
  });
  const port = await listen(server);
  ks = Object.assign(state, { origin: `https://127.0.0.1:${port}` });
  revocations = await memoryRevocations(fakeClock());
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  ks.jwks = jwks(k1);
  ks.discovery = undefined;
  ks.mode = 'ok';
  ks.hits.jwks = 0;
  ks.hits.discovery = 0;
});

const opened: JwtKeySources[] = [];
afterEach(async () => {
  ks.mode = 'ok';
  server.closeAllConnections();
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

/** A log that keeps its lines, to read what an operator would. */
function capturingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

interface Setup {
  readonly clock: FakeClock;
  readonly sources: JwtKeySources;
  readonly source: JwtKeySource;
  readonly issuer: IssuerConfig;
  check(token: string): Promise<AuthOutcome>;
}

function setup(over: Partial<IssuerConfig> = {}, log: Logger = silentLog): Setup {
  const clock = fakeClock();
  const sources = new JwtKeySources({ clock, log });
  opened.push(sources);
  const issuer = issuerConfig({
    jwksUrl: `${ks.origin}/jwks`,
    ...over,
    jwks: {
      cacheSeconds: 600,
      minRefreshSeconds: 30,
      timeoutMs: 2000,
      caFile: cert.certFile,
      ...over.jwks,
    },
  });
  const source = sources.sourceFor('corp', issuer);
  const authenticator = jwtMethod('corp', issuer, { clock, log, keys: source, revocations });
  return {
    clock,
    sources,
    source,
    issuer,
    check: async (token) => presentBearer(authenticator, token, clock),
  };
}

const SECOND = 1000;

describe('keys fetched from a JWKS URL over HTTPS', () => {
  it('verifies with the fetched keys, fetching once', async () => {
    const s = setup();
    expect(reasonOf(await s.check(await signed(k1)))).toBe('accepted');
    expect(reasonOf(await s.check(await signed(k1, { jti: 'other' })))).toBe('accepted');
    expect(ks.hits.jwks).toBe(1);
  });

  it('follows a key rotation while serving', async () => {
    const s = setup();
    const old = await signed(k1, { exp: NOW_S + 7200 });
    expect(reasonOf(await s.check(old))).toBe('accepted');

    // The issuer adds k2 and starts signing with it: one refetch finds it.
    ks.jwks = jwks(k1, k2);
    s.clock.advance(30 * SECOND);
    expect(reasonOf(await s.check(await signed(k2)))).toBe('accepted');
    expect(ks.hits.jwks).toBe(2);
    expect(reasonOf(await s.check(old))).toBe('accepted');

    // The issuer withdraws k1: tokens signed with it keep working until our cache drops it...
    ks.jwks = jwks(k2);
    s.clock.advance(60 * SECOND);
    expect(reasonOf(await s.check(await signed(k1, { jti: 'a' })))).toBe('accepted');
    expect(ks.hits.jwks).toBe(2);

    // ...which it does at cacheSeconds: then they are refused, cached verifications included.
    s.clock.advance(600 * SECOND);
    const fresh = await signed(k1, { iat: NOW_S + 690, exp: NOW_S + 3600, jti: 'b' });
    expect(reasonOf(await s.check(fresh))).toBe('authn.jwt.kid_unknown');
    expect(ks.hits.jwks).toBe(3);
    expect(reasonOf(await s.check(old))).toBe('authn.jwt.kid_unknown');
    expect(reasonOf(await s.check(await signed(k2, { exp: NOW_S + 3600 })))).toBe('accepted');
  });

  it('drops a cached verification once the key that signed it is withdrawn', async () => {
    const s = setup();
    const token = await signed(k1, { exp: NOW_S + 7200 });
    expect(reasonOf(await s.check(token))).toBe('accepted');
    ks.jwks = jwks(k2);
    s.clock.advance(601 * SECOND);
    await s.source.refresh();
    expect(ks.hits.jwks).toBe(2);
    expect(reasonOf(await s.check(token))).toBe('authn.jwt.kid_unknown');
  });

  it('keeps serving from a warm cache while the issuer is down', async () => {
    const { log, lines } = capturingLog();
    const s = setup({}, log);
    expect(reasonOf(await s.check(await signed(k1)))).toBe('accepted');
    ks.mode = 'down';
    s.clock.advance(700 * SECOND);
    expect(reasonOf(await s.check(await signed(k1, { exp: NOW_S + 3600 })))).toBe('accepted');
    expect(ks.hits.jwks).toBe(2);
    expect(lines.some((l) => String(l.msg).includes('cached keys stay in use'))).toBe(true);
  });

  it('answers 503 when the issuer is down and no key was ever fetched', async () => {
    ks.mode = 'down';
    const s = setup();
    const outcome = await s.check(await signed(k1));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.unavailable).toBe(true);
    expect(outcome.denial.kind).toBe('service-unavailable');
    expect(statusOf(outcome.denial.kind)).toBe(503);
    expect(outcome.denial.reason).toBe('authn.jwt.keys_unavailable');
    expect(outcome.denial.headers?.['retry-after']).toBe('5');
  });

  it('answers 503 through the route stage too, and recovers once the issuer is back', async () => {
    ks.mode = 'down';
    const s = setup();
    const issuer = s.issuer;
    const stage = routeStage(route(['jwt:corp']), [
      jwtMethod('corp', issuer, { clock: s.clock, keys: s.source, revocations }),
    ]);
    const token = await signed(k1);
    const down = await stage.onRequest(requestWith(`Bearer ${token}`, s.clock));
    expect(down.continue).toBe(false);
    if (!down.continue) expect(statusOf(down.problem.kind)).toBe(503);
    ks.mode = 'ok';
    s.clock.advance(5 * SECOND);
    const up = await stage.onRequest(requestWith(`Bearer ${token}`, s.clock));
    expect(up.continue).toBe(true);
  });

  it('turns a flood of unknown kids into at most one fetch per interval', async () => {
    const s = setup();
    expect(reasonOf(await s.check(await signed(k1)))).toBe('accepted');
    const flood = () =>
      Promise.all(
        Array.from({ length: 50 }, () =>
          s.check(
            rawToken({ alg: 'RS256', kid: randomUUID() }, claims(), {
              alg: 'RS256',
              key: k1.privateKey,
            }),
          ),
        ),
      );
    const first = await flood();
    expect(new Set(first.map(reasonOf))).toEqual(new Set(['authn.jwt.kid_unknown']));
    expect(ks.hits.jwks).toBe(1);
    // Sequential requests over the interval: still nothing until it has passed.
    for (let i = 0; i < 29; i++) {
      s.clock.advance(SECOND);
      await flood();
    }
    expect(ks.hits.jwks).toBe(1);
    s.clock.advance(SECOND);
    await flood();
    expect(ks.hits.jwks).toBe(2);
  });

  it('refuses a fetched key set that is too large, or not JSON, and says so in the log', async () => {
    for (const mode of ['huge', 'garbage'] as const) {
      ks.mode = mode;
      const { log, lines } = capturingLog();
      const s = setup({}, log);
      expect(reasonOf(await s.check(await signed(k1)))).toBe('authn.jwt.keys_unavailable');
      const line = lines.find((l) => String(l.msg).includes('could not be fetched'));
      expect(String(line?.err)).toMatch(mode === 'huge' ? /more than 262144 bytes/ : /not JSON/);
    }
  });

  it('gives up on an issuer that does not answer within timeoutMs', async () => {
    ks.mode = 'hang';
    const s = setup({ jwks: { cacheSeconds: 600, minRefreshSeconds: 30, timeoutMs: 300 } });
    const started = Date.now();
    expect(reasonOf(await s.check(await signed(k1)))).toBe('authn.jwt.keys_unavailable');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses keys served with a certificate it does not trust (interception)', async () => {
    const s = setup({
      jwks: {
        cacheSeconds: 600,
        minRefreshSeconds: 30,
        timeoutMs: 2000,
        caFile: otherCert.certFile,
      },
    });
    expect(reasonOf(await s.check(await signed(k1)))).toBe('authn.jwt.keys_unavailable');
    expect(ks.hits.jwks).toBe(0);
  });

  it('never loads a symmetric or private key from the set', async () => {
    ks.jwks = {
      keys: [
        { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' },
        { ...k1.jwk, kid: 'leaked', d: 'AAAA' },
        k1.jwk,
      ],
    };
    const { log, lines } = capturingLog();
    const s = setup({}, log);
    expect(reasonOf(await s.check(await signed(k1)))).toBe('accepted');
    const hmac = rawToken({ alg: 'RS256', kid: 'hmac' }, claims(), {
      alg: 'RS256',
      key: k1.privateKey,
    });
    expect(reasonOf(await s.check(hmac))).toBe('authn.jwt.kid_unknown');
    const skipped = lines.find((l) => l.msg === 'issuer keys left out of the key set');
    expect(skipped?.skipped).toEqual([
      'keys[0]: a symmetric (oct) key',
      'keys[1]: holds private key material',
    ]);
  });

  it('refuses to fetch keys over plain HTTP unless the issuer allows it', () => {
    const sources = new JwtKeySources({ clock: fakeClock(), log: silentLog });
    opened.push(sources);
    expect(() =>
      sources.sourceFor('corp', issuerConfig({ jwksUrl: 'http://127.0.0.1:9/jwks' })),
    ).toThrow(/not https/);
    expect(() =>
      sources.sourceFor(
        'corp',
        issuerConfig({ jwksUrl: 'http://127.0.0.1:9/jwks', allowInsecureHttp: true }),
      ),
    ).not.toThrow();
  });
});

describe('OpenID Connect discovery', () => {
  const discoveryIssuer = () => ks.origin;

  it('finds jwks_uri in the discovery document of the issuer', async () => {
    ks.discovery = { issuer: discoveryIssuer(), jwks_uri: `${ks.origin}/jwks` };
    const s = setup({ issuer: discoveryIssuer(), discovery: true, jwksUrl: undefined });
    expect(reasonOf(await s.check(await signed(k1, { iss: discoveryIssuer() })))).toBe('accepted');
    expect(ks.hits).toEqual({ jwks: 1, discovery: 1 });
  });

  it('refuses a discovery document that names another issuer', async () => {
    ks.discovery = { issuer: 'https://evil.example', jwks_uri: `${ks.origin}/jwks` };
    const { log, lines } = capturingLog();
    const s = setup({ issuer: discoveryIssuer(), discovery: true, jwksUrl: undefined }, log);
    expect(reasonOf(await s.check(await signed(k1, { iss: discoveryIssuer() })))).toBe(
      'authn.jwt.keys_unavailable',
    );
    expect(ks.hits.jwks).toBe(0);
    expect(lines.some((l) => String(l.err).includes('names another issuer'))).toBe(true);
  });

  it('refuses a jwks_uri over plain HTTP', async () => {
    ks.discovery = { issuer: discoveryIssuer(), jwks_uri: `http://127.0.0.1:9/jwks` };
    const s = setup({ issuer: discoveryIssuer(), discovery: true, jwksUrl: undefined });
    expect(reasonOf(await s.check(await signed(k1, { iss: discoveryIssuer() })))).toBe(
      'authn.jwt.keys_unavailable',
    );
  });
});

describe('the key source registry across reloads', () => {
  it('keeps the cache of an issuer whose settings did not change', async () => {
    const clock = fakeClock();
    const sources = new JwtKeySources({ clock, log: silentLog });
    opened.push(sources);
    const issuer = issuerConfig({
      jwksUrl: `${ks.origin}/jwks`,
      jwks: { cacheSeconds: 600, minRefreshSeconds: 30, timeoutMs: 2000, caFile: cert.certFile },
    });
    const first = sources.sourceFor('corp', issuer);
    await sources.ready();
    expect(first.current()?.keys.map((k) => k.kid)).toEqual(['k1']);

    // A reload with the same settings (a fresh but equal config object): same warm cache.
    const same = sources.sourceFor('corp', structuredClone(issuer));
    expect(same).toBe(first);
    sources.prune({ corp: issuer });
    expect(ks.hits.jwks).toBe(1);

    // Changed settings: a new cache, the old one closed once the new config serves.
    const changed = { ...issuer, jwks: { ...issuer.jwks, timeoutMs: 1500 } };
    const next = sources.sourceFor('corp', changed);
    expect(next).not.toBe(first);
    await sources.ready();
    expect(ks.hits.jwks).toBe(2);
    sources.prune({ corp: changed });
    clock.advance(3600 * SECOND);
    await first.refresh();
    expect(ks.hits.jwks).toBe(2);
  });

  it('reads a keys file again at every build and refuses one without keys', () => {
    const sources = new JwtKeySources({ clock: fakeClock(), log: silentLog });
    expect(() =>
      sources.sourceFor('corp', issuerConfig({ keysFile: '/nonexistent/keys.json' })),
    ).toThrow(/keysFile \/nonexistent\/keys.json: cannot be read \(ENOENT\)/);
  });
});
