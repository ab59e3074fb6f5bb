import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IntrospectionConfig, RouteAuthConfig } from '../../../../src/config/authn-schema.js';
import { statusOf } from '../../../../src/gateway/problems.js';
import type { Clock, RequestContext } from '../../../../src/gateway/stage.js';
import type {
  AuthOutcome,
  Authenticator,
  ConsumerLookup,
  ConsumerRecord,
} from '../../../../src/stages/authn/authenticator.js';
import { createIntrospectionAuthenticator } from '../../../../src/stages/authn/introspection/introspection-authenticator.js';
import {
  IntrospectionCache,
  IntrospectionCaches,
} from '../../../../src/stages/authn/introspection/introspection-cache.js';
import { fingerprint } from '../../../../src/state/audit/fingerprint.js';
import { KeyRing } from '../../../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../../../src/state/crypto/master-key.js';
import { SecretStore } from '../../../../src/state/crypto/secrets.js';
import { migrate } from '../../../../src/state/migrate.js';
import { MIGRATIONS } from '../../../../src/state/migrations/index.js';
import { selfSignedCertificate, type SelfSigned } from '../../../support/certificates.js';
import { useTestDatabase } from '../../../support/databases.js';
import { requestContext } from '../request-context.js';
import { routeStage } from '../route-stage.js';

/**
 * The introspection method against real HTTPS authorization servers started here: what is sent
 * (RFC 7662 form, Basic client authentication), how answers are judged, what is cached and for
 * how long, and that an endpoint that cannot answer is a 503, never a 401. The client secret
 * comes from a real SecretStore; the clock is fake.
 */

const T0 = 1_900_000_000_000;
const NOW_S = T0 / 1000;
const CLIENT_ID = 'portcullis-gw';
const SECRET_NAME = 'oauth/idp:client';
// Characters that RFC 6749 form-encodes before Basic: a secret that survived only by luck
// would fail here.
const SECRET = `s3cr3t:${randomBytes(12).toString('hex')}+&=/`;

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

type Answer = { status?: number; body: unknown; delayMs?: number; raw?: string };

interface AuthorizationServer {
  readonly url: string;
  readonly received: Received[];
  /** What the server answers for a token; unknown tokens are inactive. */
  answers: Map<string, Answer>;
  close(): Promise<void>;
}

let dir: string;
let serverCert: SelfSigned;

async function startAuthorizationServer(path = '/oauth2/introspect'): Promise<AuthorizationServer> {
  const received: Received[] = [];
  const state = { answers: new Map<string, Answer>() };
  const server = https.createServer({ cert: serverCert.cert, key: serverCert.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const token = new URLSearchParams(body).get('token') ?? '';
      const answer = state.answers.get(token) ?? { body: { active: false } };
      const send = () => {
        if (answer.status === 0) return; // never answers: a hung server
        const text = answer.raw ?? JSON.stringify(answer.body);
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
        res.end(text);
      };
      if (answer.delayMs === undefined) send();
      else setTimeout(send, answer.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}${path}`,
    received,
    get answers() {
      return state.answers;
    },
    set answers(v) {
      state.answers = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = T0;
  return {
    now: () => t,
    monotonic: () => t - T0,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** Every log line, as text: to check that no secret ever reaches one. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function consumerRecord(id: string, over: Partial<ConsumerRecord> = {}): ConsumerRecord {
  return {
    id,
    name: undefined,
    scopes: ['ignored:scope'],
    roles: ['ignored-role'],
    metadata: { tenant: `${id}-tenant` },
    disabled: false,
    source: 'config',
    ...over,
  };
}

const CONSUMERS: ConsumerLookup = {
  get: (id) =>
    ({
      alice: consumerRecord('alice'),
      mallory: consumerRecord('mallory', { disabled: true }),
    })[id],
};

function config(url: string, over: Partial<IntrospectionConfig> = {}): IntrospectionConfig {
  return {
    endpoint: url,
    clientId: CLIENT_ID,
    clientSecret: SECRET_NAME,
    allowInsecureHttp: false,
    caFile: serverCert.certFile,
    cacheSeconds: 60,
    timeoutMs: 2_000,
    consumerClaim: 'sub',
    scopesClaim: 'scope',
    rolesClaim: 'roles',
    requireConsumer: false,
    ...over,
  };
}

const ROUTE: RouteAuthConfig = {
  public: false,
  methods: ['introspection:idp'],
  allowQueryKey: false,
  onProviderDown: 'fail-closed',
};

/** A request with this Authorization header, or none. */
function ctx(authorization?: string): RequestContext {
  return requestContext({ headers: authorization === undefined ? {} : { authorization } });
}

/** find + authenticate, as the stage runs them. */
function run(a: Authenticator, token: string): AuthOutcome | Promise<AuthOutcome> {
  const c = ctx(`Bearer ${token}`);
  const presented = a.find(c, ROUTE);
  if (presented === undefined) throw new Error('no bearer token found');
  return a.authenticate(presented, c, ROUTE);
}

function refusal(outcome: AuthOutcome) {
  if (outcome.ok) throw new Error(`accepted as ${outcome.identity.consumerId}`);
  return outcome;
}

const db = useTestDatabase('sqlite');
let secrets: SecretStore;
let as: AuthorizationServer;
let clock: ReturnType<typeof fakeClock>;
let logs: ReturnType<typeof capturingLogger>;

function authenticator(
  over: Partial<IntrospectionConfig> = {},
  url = as.url,
  caches?: IntrospectionCaches,
) {
  return createIntrospectionAuthenticator('idp', config(url, over), {
    clock,
    log: logs.log,
    consumers: CONSUMERS,
    secrets,
    ...(caches === undefined ? {} : { caches }),
  });
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

function active(claims: Record<string, unknown> = {}): Answer {
  return {
    body: {
      active: true,
      sub: 'alice',
      scope: 'orders:read orders:write',
      roles: ['buyer'],
      client_id: 'shop-app',
      iss: 'https://idp.example.com',
      aud: ['orders-api'],
      exp: NOW_S + 3600,
      iat: NOW_S - 10,
      ...claims,
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-introspect-'));
  serverCert = selfSignedCertificate(join(dir, 'as.crt'), join(dir, 'as.key'));
  await migrate(db.db, MIGRATIONS);
  secrets = new SecretStore(db.db, await KeyRing.open(db.db, MasterKey.fromBytes(randomBytes(32))));
  await secrets.put(SECRET_NAME, SECRET);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  as = await startAuthorizationServer();
  clock = fakeClock();
  logs = capturingLogger();
});

afterEach(async () => {
  await as.close();
  // No log line, whatever the test did, carries the client secret or its Basic encoding.
  const basic = Buffer.from(`${CLIENT_ID}:${encodeURIComponent(SECRET)}`).toString('base64');
  for (const line of logs.lines) {
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain(SECRET.slice(7));
    expect(line).not.toContain(basic);
  }
});

describe('an active token', () => {
  it('is accepted with its claims mapped to the identity', async () => {
    const t = token();
    as.answers.set(t, active());
    const outcome = await run(authenticator(), t);
    expect(outcome).toEqual({
      ok: true,
      identity: {
        consumerId: 'alice',
        method: 'introspection:idp',
        credential: fingerprint(t),
        // The token's grant, not the consumer record's scopes and roles.
        scopes: ['orders:read', 'orders:write'],
        roles: ['buyer'],
        metadata: { tenant: 'alice-tenant' },
        claims: active().body,
      },
    });
  });

  it('is asked about as RFC 7662 says: POST form, token_type_hint, Basic client authentication', async () => {
    const t = token();
    as.answers.set(t, active());
    await run(authenticator({}, `${as.url}?realm=shop`), t);
    expect(as.received).toHaveLength(1);
    const [call] = as.received as [Received];
    expect(call.method).toBe('POST');
    expect(call.url).toBe('/oauth2/introspect?realm=shop');
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(call.body))).toEqual({
      token: t,
      token_type_hint: 'access_token',
    });
    const auth = call.headers.authorization ?? '';
    expect(auth.startsWith('Basic ')).toBe(true);
    const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
    // RFC 6749 section 2.3.1: both form-encoded, so the `:` of the secret cannot move the split.
    expect(decodeURIComponent(id ?? '')).toBe(CLIENT_ID);
    expect(decodeURIComponent((secret ?? '').replace(/\+/g, ' '))).toBe(SECRET);
  });

  it.each([
    [
      'a list of scopes (scp)',
      { scopesClaim: 'scp' },
      { scp: ['a:read', 'b:write'] },
      ['a:read', 'b:write'],
    ],
    ['no scope claim', {}, { scope: undefined }, []],
    ['repeated scopes, once', {}, { scope: 'a  a b' }, ['a', 'b']],
  ])('maps %s', async (_name, over, claims, scopes) => {
    const t = token();
    as.answers.set(t, active(claims));
    const outcome = await run(authenticator(over), t);
    if (!outcome.ok) throw new Error(outcome.denial.reason);
    expect(outcome.identity.scopes).toEqual(scopes);
  });

  it('names the consumer by another claim (client_id) and accepts an undeclared one', async () => {
    const t = token();
    as.answers.set(t, active());
    const outcome = await run(authenticator({ consumerClaim: 'client_id' }), t);
    if (!outcome.ok) throw new Error(outcome.denial.reason);
    expect(outcome.identity.consumerId).toBe('shop-app');
    expect(outcome.identity.metadata).toEqual({});
  });

  it('is accepted when the configured issuer and one audience match', async () => {
    const t = token();
    as.answers.set(t, active({ aud: 'orders-api' }));
    const outcome = await run(
      authenticator({ issuer: 'https://idp.example.com', audiences: ['other', 'orders-api'] }),
      t,
    );
    expect(outcome.ok).toBe(true);
  });
});

describe('refusals: each with its reason, a Bearer challenge and the token fingerprint', () => {
  it.each<[string, Record<string, unknown>, Partial<IntrospectionConfig>, string]>([
    ['inactive', { active: false }, {}, 'authn.introspection.inactive'],
    ['active as the string "true"', { active: 'true' }, {}, 'authn.introspection.inactive'],
    ['active as 1', { active: 1 }, {}, 'authn.introspection.inactive'],
    ['active missing', { active: undefined }, {}, 'authn.introspection.inactive'],
    ['expired by the clock', { exp: NOW_S - 1 }, {}, 'authn.introspection.expired'],
    ['expiring this very second', { exp: NOW_S }, {}, 'authn.introspection.expired'],
    ['not yet valid', { nbf: NOW_S + 120 }, {}, 'authn.introspection.not_yet_valid'],
    ['exp as a string', { exp: String(NOW_S + 60) }, {}, 'authn.introspection.claims_invalid'],
    ['nbf as an object', { nbf: { $gt: 0 } }, {}, 'authn.introspection.claims_invalid'],
    [
      'a refresh token (token_use)',
      { token_use: 'refresh_token' },
      {},
      'authn.introspection.not_access_token',
    ],
    [
      'a refresh token (token_type)',
      { token_type: 'Refresh_Token' },
      {},
      'authn.introspection.not_access_token',
    ],
    [
      'another issuer',
      { iss: 'https://evil.example' },
      { issuer: 'https://idp.example.com' },
      'authn.introspection.wrong_issuer',
    ],
    [
      'no issuer when one is required',
      { iss: undefined },
      { issuer: 'https://idp.example.com' },
      'authn.introspection.wrong_issuer',
    ],
    [
      'another audience',
      { aud: ['billing-api'] },
      { audiences: ['orders-api'] },
      'authn.introspection.wrong_audience',
    ],
    [
      'no audience when one is required',
      { aud: undefined },
      { audiences: ['orders-api'] },
      'authn.introspection.wrong_audience',
    ],
    ['a DPoP-bound token', { cnf: { jkt: 'abc' } }, {}, 'authn.introspection.unsupported_binding'],
    ['no consumer claim', { sub: undefined }, {}, 'authn.introspection.consumer_invalid'],
    ['a consumer id with a path', { sub: '../admin' }, {}, 'authn.introspection.consumer_invalid'],
    [
      'a consumer id with CRLF',
      { sub: 'alice\r\nx-consumer-id: root' },
      {},
      'authn.introspection.consumer_invalid',
    ],
    ['a consumer id that is a number', { sub: 42 }, {}, 'authn.introspection.consumer_invalid'],
    [
      'a consumer claim inherited from Object',
      { sub: undefined },
      { consumerClaim: 'constructor' },
      'authn.introspection.consumer_invalid',
    ],
    ['a disabled consumer', { sub: 'mallory' }, {}, 'authn.introspection.consumer_disabled'],
    [
      'an undeclared consumer with requireConsumer',
      { sub: 'stranger' },
      { requireConsumer: true },
      'authn.introspection.consumer_unknown',
    ],
    [
      'a scope with a line break',
      { scope: 'read\r\nx-admin: 1' },
      {},
      'authn.introspection.scopes_invalid',
    ],
    ['scopes as a number', { scope: 7 }, {}, 'authn.introspection.scopes_invalid'],
    [
      'roles with a non-string',
      { roles: ['ok', { admin: true }] },
      {},
      'authn.introspection.scopes_invalid',
    ],
  ])('refuses %s', async (_name, claims, over, reason) => {
    const t = token();
    as.answers.set(t, active(claims));
    const outcome = refusal(await run(authenticator(over), t));
    expect(outcome.unavailable).toBeUndefined();
    expect(outcome.denial.kind).toBe('unauthenticated');
    expect(statusOf(outcome.denial.kind)).toBe(401);
    expect(outcome.denial.reason).toBe(reason);
    expect(outcome.denial.headers?.['www-authenticate']).toBe(
      'Bearer realm="portcullis", error="invalid_token"',
    );
    expect(outcome.denial.audit?.credential).toBe(fingerprint(t));
    expect(outcome.denial.audit?.details).toMatchObject({
      method: 'introspection:idp',
      endpoint: 'idp',
    });
    // The client is told nothing about the cause.
    expect(JSON.stringify(outcome.denial.detail)).not.toMatch(/expired|inactive|consumer|scope/);
  });

  it.each([
    ['longer than 8192 characters', 'a'.repeat(8193), 'authn.introspection.too_long'],
    ['empty', '', 'authn.introspection.malformed'],
    ['with a space inside', 'abc def', 'authn.introspection.malformed'],
    ['with a quote', 'abc"def', 'authn.introspection.malformed'],
    ['with a comma (two credentials)', 'abc,Bearer def', 'authn.introspection.malformed'],
    ['starting with =', '=abc', 'authn.introspection.malformed'],
    ['with = inside', 'ab=c', 'authn.introspection.malformed'],
    ['with non-ASCII', 'abcé', 'authn.introspection.malformed'],
    ['with a NUL', 'abc\u0000', 'authn.introspection.malformed'],
  ])('refuses a token %s before any call', (_name, value, reason) => {
    const a = authenticator();
    const c = ctx(`Bearer ${value}`);
    const presented = a.find(c, ROUTE);
    expect(presented).toBeDefined();
    if (presented === undefined) return;
    const outcome = a.authenticate(presented, c, ROUTE);
    // Answered at once: no promise, no call.
    expect(outcome).not.toBeInstanceOf(Promise);
    expect(refusal(outcome as AuthOutcome).denial.reason).toBe(reason);
    expect(as.received).toHaveLength(0);
  });

  it.each([
    ['Basic dXNlcjpwYXNz', undefined],
    ['ApiKey pcl_live_abc', undefined],
    ['Bearerabc', undefined],
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER  abc', 'abc'],
  ])('finds the bearer token of `Authorization: %s` as %s', (authorization, found) => {
    expect(authenticator().find(ctx(authorization), ROUTE)?.value).toBe(found);
  });

  it('finds nothing without an Authorization header', () => {
    expect(authenticator().find(ctx(), ROUTE)).toBeUndefined();
  });
});

describe('the cache of active answers', () => {
  it('answers a second request for the token from memory, synchronously, with no call', async () => {
    const a = authenticator();
    const t = token();
    as.answers.set(t, active());
    expect((await run(a, t)).ok).toBe(true);
    const second = run(a, t);
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as AuthOutcome).ok).toBe(true);
    expect(as.received).toHaveLength(1);
  });

  it('never serves an answer past the token exp, even within cacheSeconds', async () => {
    const a = authenticator({ cacheSeconds: 600 });
    const t = token();
    as.answers.set(t, active({ exp: NOW_S + 30 }));
    expect((await run(a, t)).ok).toBe(true);
    clock.advance(29_000);
    expect((run(a, t) as AuthOutcome).ok).toBe(true);
    clock.advance(1_000);
    // At exp the entry is gone: the server is asked again (it still says active, the clock
    // says expired).
    const late = await run(a, t);
    expect(as.received).toHaveLength(2);
    expect(refusal(late).denial.reason).toBe('authn.introspection.expired');
  });

  it('asks again after cacheSeconds: a token revoked at the server is then refused', async () => {
    const a = authenticator({ cacheSeconds: 60 });
    const t = token();
    as.answers.set(t, active());
    expect((await run(a, t)).ok).toBe(true);
    as.answers.set(t, { body: { active: false } });
    clock.advance(59_000);
    expect((run(a, t) as AuthOutcome).ok).toBe(true);
    clock.advance(1_000);
    expect(refusal(await run(a, t)).denial.reason).toBe('authn.introspection.inactive');
    expect(as.received).toHaveLength(2);
  });

  it('caches nothing with cacheSeconds: 0', async () => {
    const a = authenticator({ cacheSeconds: 0 });
    const t = token();
    as.answers.set(t, active());
    await run(a, t);
    await run(a, t);
    expect(as.received).toHaveLength(2);
  });

  it('never caches an inactive answer: the token is asked about again', async () => {
    const a = authenticator();
    const t = token();
    expect(refusal(await run(a, t)).denial.reason).toBe('authn.introspection.inactive');
    as.answers.set(t, active());
    expect((await run(a, t)).ok).toBe(true);
    expect(as.received).toHaveLength(2);
  });

  it('checks a cached answer again: a consumer disabled since is refused at once', async () => {
    const disabled = new Set<string>();
    const lookup: ConsumerLookup = {
      get: (id) => consumerRecord(id, { disabled: disabled.has(id) }),
    };
    const a = createIntrospectionAuthenticator('idp', config(as.url), {
      clock,
      log: logs.log,
      consumers: lookup,
      secrets,
    });
    const t = token();
    as.answers.set(t, active());
    expect((await run(a, t)).ok).toBe(true);
    disabled.add('alice');
    const outcome = run(a, t);
    expect(outcome).not.toBeInstanceOf(Promise);
    expect(refusal(outcome as AuthOutcome).denial.reason).toBe(
      'authn.introspection.consumer_disabled',
    );
  });

  it('shares one call between concurrent requests for the same uncached token', async () => {
    const a = authenticator();
    const t = token();
    as.answers.set(t, { ...active(), delayMs: 150 });
    const outcomes = await Promise.all([run(a, t), run(a, t), run(a, t), run(a, t)]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(as.received).toHaveLength(1);
  });

  it('keeps a token active at one endpoint from ever passing at another', async () => {
    const other = await startAuthorizationServer('/introspect');
    try {
      // One registry for the gateway, as across reloads: it still keeps the endpoints apart.
      const caches = new IntrospectionCaches();
      const trusted = authenticator({}, as.url, caches);
      const elsewhere = createIntrospectionAuthenticator('partner', config(other.url), {
        clock,
        log: logs.log,
        consumers: CONSUMERS,
        secrets,
        caches,
      });
      const t = token();
      as.answers.set(t, active());
      expect((await run(trusted, t)).ok).toBe(true);
      expect((run(trusted, t) as AuthOutcome).ok).toBe(true);
      // The other server never issued it: its answer, not the first server's, decides.
      const outcome = await run(elsewhere, t);
      expect(refusal(outcome).denial.reason).toBe('authn.introspection.inactive');
      expect(other.received).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('keeps the same endpoint with another client id apart too', () => {
    const caches = new IntrospectionCaches();
    expect(caches.for(as.url, 'a')).not.toBe(caches.for(as.url, 'b'));
    expect(caches.for(as.url, 'a')).toBe(caches.for(as.url, 'a'));
  });

  it('keys entries by a hash that holds neither the token nor one endpoint key for another', () => {
    const t = token();
    const one = new IntrospectionCache('https://a.example/introspect', CLIENT_ID);
    const two = new IntrospectionCache('https://b.example/introspect', CLIENT_ID);
    expect(one.keyOf(t)).not.toContain(t);
    expect(one.keyOf(t)).not.toBe(two.keyOf(t));
    expect(one.keyOf(t)).toBe(one.keyOf(t));
  });

  it('is bounded: the least recently used answer goes first', () => {
    const cache = new IntrospectionCache('https://a.example/introspect', CLIENT_ID, 3);
    const later = T0 + 60_000;
    for (const k of ['a', 'b', 'c']) cache.set(k, { active: true }, later, T0);
    expect(cache.get('a', T0, 60_000)).toBeDefined(); // a is now the most recent
    cache.set('d', { active: true }, later, T0);
    expect(cache.size).toBe(3);
    expect(cache.get('b', T0, 60_000)).toBeUndefined();
    expect(cache.get('a', T0, 60_000)).toBeDefined();
    expect(cache.get('d', T0, 60_000)).toBeDefined();
  });
});

describe('an endpoint that cannot answer: 503, never 401', () => {
  async function unavailable(a: Authenticator, t: string) {
    const outcome = refusal(await run(a, t));
    expect(outcome.unavailable).toBe(true);
    expect(outcome.denial.kind).toBe('service-unavailable');
    expect(statusOf(outcome.denial.kind)).toBe(503);
    expect(outcome.denial.headers?.['retry-after']).toBe('5');
    expect(outcome.denial.audit?.credential).toBe(fingerprint(t));
    return outcome;
  }

  it.each<[string, Answer, string]>([
    ['answers 500', { status: 500, body: { error: 'boom' } }, 'status_500'],
    ['answers 400', { status: 400, body: { error: 'invalid_request' } }, 'status_400'],
    ['redirects (not followed)', { status: 302, body: {} }, 'status_302'],
    ['answers HTML', { raw: '<html>maintenance</html>', body: null }, 'not_json'],
    ['answers a JSON array', { raw: '[{"active":true}]', body: null }, 'not_object'],
    ['answers more than 64 KiB', { body: { active: true, pad: 'x'.repeat(70_000) } }, 'too_large'],
  ])(
    'refuses with authn.introspection.unavailable when the endpoint %s',
    async (_name, answer, cause) => {
      const t = token();
      as.answers.set(t, answer);
      const outcome = await unavailable(authenticator(), t);
      expect(outcome.denial.reason).toBe('authn.introspection.unavailable');
      expect(outcome.denial.audit?.details?.cause).toBe(cause);
    },
  );

  it('refuses when the endpoint does not answer within timeoutMs', async () => {
    const t = token();
    as.answers.set(t, { status: 0, body: null });
    const started = Date.now();
    const outcome = await unavailable(authenticator({ timeoutMs: 300 }), t);
    expect(outcome.denial.audit?.details?.cause).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses when the endpoint is down, and asks again once it is back (nothing cached)', async () => {
    const a = authenticator();
    const t = token();
    await as.close();
    const outcome = await unavailable(a, t);
    expect(outcome.denial.reason).toBe('authn.introspection.unavailable');
    expect(outcome.denial.audit?.details?.cause).toBe('ECONNREFUSED');
    expect(logs.lines.join('')).toContain('authn.introspection.unavailable');
  });

  it('refuses an endpoint whose certificate the gateway does not trust (no caFile)', async () => {
    const t = token();
    as.answers.set(t, active());
    const outcome = await unavailable(authenticator({ caFile: undefined }), t);
    expect(outcome.denial.reason).toBe('authn.introspection.unavailable');
    expect(String(outcome.denial.audit?.details?.cause)).toMatch(/SELF_SIGNED|CERT|VERIFY/);
    expect(as.received).toHaveLength(0);
  });

  it('refuses with authn.introspection.secret_missing, logged, when the secret is not in the store', async () => {
    const a = authenticator({ clientSecret: 'oauth/not-set' });
    const outcome = await unavailable(a, token());
    expect(outcome.denial.reason).toBe('authn.introspection.secret_missing');
    expect(as.received).toHaveLength(0);
    const line = logs.lines.find((l) => l.includes('authn.introspection.secret_missing'));
    expect(line).toContain('portcullis secrets set oauth/not-set');
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      level: 50,
      endpoint: 'idp',
      secret: 'oauth/not-set',
    });
  });

  it('refuses with authn.introspection.client_rejected when the endpoint refuses the gateway, and reads the secret again', async () => {
    const name = `oauth/rotating-${randomBytes(4).toString('hex')}`;
    await secrets.put(name, 'old-secret');
    const seenSecrets: string[] = [];
    const a = authenticator({ clientSecret: name });
    const t = token();
    const check = async () => {
      const before = as.received.length;
      const outcome = await run(a, t);
      const auth = as.received[before]?.headers.authorization ?? '';
      seenSecrets.push(Buffer.from(auth.slice(6), 'base64').toString().split(':')[1] ?? '');
      return outcome;
    };
    as.answers.set(t, { status: 401, body: { error: 'invalid_client' } });
    const outcome = refusal(await check());
    expect(outcome.unavailable).toBe(true);
    expect(outcome.denial.reason).toBe('authn.introspection.client_rejected');
    await secrets.put(name, 'new-secret');
    as.answers.set(t, active());
    expect((await check()).ok).toBe(true);
    expect(seenSecrets).toEqual(['old-secret', 'new-secret']);
  });
});

describe('through the authentication stage', () => {
  const stage = (a: Authenticator, onProviderDown: RouteAuthConfig['onProviderDown']) =>
    routeStage({ ...ROUTE, onProviderDown }, [a]);

  it('answers 503 service-unavailable with the reason when the endpoint is down (fail-closed)', async () => {
    const a = authenticator();
    await as.close();
    const v = await stage(a, 'fail-closed').onRequest(ctx(`Bearer ${token()}`));
    if (v.continue) throw new Error('let through');
    expect(v.problem.kind).toBe('service-unavailable');
    expect(statusOf(v.problem.kind)).toBe(503);
    expect(v.problem.reason).toBe('authn.introspection.unavailable');
  });

  it('lets the request through without an identity with onProviderDown: anonymous', async () => {
    const a = authenticator();
    await as.close();
    const c = ctx(`Bearer ${token()}`);
    const v = await stage(a, 'anonymous').onRequest(c);
    expect(v.continue).toBe(true);
    expect(c.identity).toBeUndefined();
  });

  it('still refuses an inactive token with 401 on an anonymous route', async () => {
    const v = await stage(authenticator(), 'anonymous').onRequest(ctx(`Bearer ${token()}`));
    if (v.continue) throw new Error('let through');
    expect(v.problem.kind).toBe('unauthenticated');
    expect(v.problem.reason).toBe('authn.introspection.inactive');
  });

  it('hands the upstream the identity, not the token', async () => {
    const t = token();
    as.answers.set(t, active());
    const c = ctx(`Bearer ${t}`);
    const v = await stage(authenticator(), 'fail-closed').onRequest(c);
    if (!v.continue) throw new Error(v.problem.reason);
    expect(v.change?.removeHeaders).toContain('authorization');
    expect(v.change?.setHeaders).toMatchObject({
      'x-consumer-id': 'alice',
      'x-consumer-scopes': 'orders:read orders:write',
      'x-authenticated-by': 'introspection:idp',
    });
  });
});
