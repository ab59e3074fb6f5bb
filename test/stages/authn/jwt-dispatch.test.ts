import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../../../src/gateway/stage.js';
import type { Authenticator } from '../../../src/stages/authn/authenticator.js';
import { bearerToken } from '../../../src/stages/authn/bearer-token.js';
import { hasDuplicateTopLevelKey } from '../../../src/stages/authn/jwt/json-duplicate-keys.js';
import { isCanonicalBase64url } from '../../../src/stages/authn/jwt/jws-compact.js';
import {
  claims,
  fakeClock,
  issuerConfig,
  jwks,
  jwtMethod,
  memoryRevocations,
  presentBearer,
  rawToken,
  reasonOf as outcomeReason,
  requestWith,
  route,
  signed,
  testKey,
  writeJwksFile,
  type TestKey,
} from './jwt-fixtures.js';
import { routeStage } from './route-stage.js';

const clock = fakeClock();
const PARTNER = 'https://login.partner.example/';
let corpKey: TestKey;
let partnerKey: TestKey;
let corp: Authenticator;
let partner: Authenticator;

beforeAll(async () => {
  corpKey = await testKey('corp-1', 'ES256');
  partnerKey = await testKey('partner-1', 'EdDSA');
  const revocations = await memoryRevocations(clock);
  corp = jwtMethod('corp', issuerConfig({ keysFile: writeJwksFile(jwks(corpKey)) }), {
    clock,
    revocations,
  });
  partner = jwtMethod(
    'partner',
    issuerConfig({ issuer: PARTNER, keysFile: writeJwksFile(jwks(partnerKey)) }),
    { clock, revocations },
  );
});

/** The authentication stage of a route listing `methods`, with the authenticators given. */
async function through(
  methods: string[],
  all: Authenticator[],
  authorization: string,
): Promise<Verdict> {
  const byName = new Map(all.map((a) => [a.method, a]));
  // An introspection method is only named here: these tests check that JWT methods leave
  // tokens to it, never that it is called.
  const listed = methods.map(
    (m): Authenticator =>
      byName.get(m) ?? {
        method: m,
        challenge: 'Bearer',
        find: () => undefined,
        authenticate: () => {
          throw new Error('not used');
        },
      },
  );
  return routeStage(route(methods), listed).onRequest(requestWith(authorization, clock));
}

const reasonOf = (v: Verdict): string =>
  v.continue ? `accepted by ${v.change?.setHeaders?.['x-authenticated-by']}` : v.problem.reason;

describe('which jwt method a bearer token goes to', () => {
  it('dispatches by the token iss among several issuers, whatever their order', async () => {
    const p = await signed(partnerKey, { iss: PARTNER });
    const c = await signed(corpKey);
    expect(
      reasonOf(await through(['jwt:corp', 'jwt:partner'], [corp, partner], `Bearer ${p}`)),
    ).toBe('accepted by jwt:partner');
    expect(
      reasonOf(await through(['jwt:corp', 'jwt:partner'], [corp, partner], `Bearer ${c}`)),
    ).toBe('accepted by jwt:corp');
    expect(
      reasonOf(await through(['jwt:partner', 'jwt:corp'], [corp, partner], `Bearer ${c}`)),
    ).toBe('accepted by jwt:corp');
  });

  it('lets the last jwt method refuse a token of an issuer the route does not list', async () => {
    const foreign = await signed(corpKey, { iss: 'https://evil.example/' });
    for (const methods of [['jwt:corp'], ['jwt:partner', 'jwt:corp'], ['api-key', 'jwt:corp']]) {
      const v = await through(methods, [corp, partner], `Bearer ${foreign}`);
      expect(reasonOf(v)).toBe('authn.jwt.issuer_mismatch');
      if (!v.continue) expect(v.problem.audit?.details?.issuer).toBe('corp');
    }
  });

  it('lets the last jwt method refuse a token whose issuer cannot be read', async () => {
    const unreadable = rawToken({ alg: 'ES256', kid: 'corp-1' }, 'not json');
    const v = await through(['jwt:partner', 'jwt:corp'], [corp, partner], `Bearer ${unreadable}`);
    expect(reasonOf(v)).toBe('authn.jwt.payload_invalid');
  });

  it('leaves a token of another issuer to an introspection method of the route', async () => {
    const foreign = await signed(corpKey, { iss: 'https://as.example/' });
    expect(
      corp.find(requestWith(`Bearer ${foreign}`, clock), route(['jwt:corp', 'introspection:as'])),
    ).toBeUndefined();
    const v = await through(['jwt:corp', 'introspection:as'], [corp], `Bearer ${foreign}`);
    expect(reasonOf(v)).toBe('authn.credentials.missing');
  });

  it('takes its own tokens even on a route that also takes introspection', async () => {
    const c = await signed(corpKey);
    const v = await through(['introspection:as', 'jwt:corp'], [corp], `Bearer ${c}`);
    expect(reasonOf(v)).toBe('accepted by jwt:corp');
  });

  it.each([
    ['no Authorization header', undefined],
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
    ['an API key', 'ApiKey pcl_live_abc'],
    ['Bearer with nothing after it', 'Bearer '],
    ['Bearer without a space', 'Bearerabc.def.ghi'],
    ['an opaque bearer token', 'Bearer 2YotnFZFEjr1zCsicMWpAA'],
    ['a JWE (five parts)', 'Bearer a.b.c.d.e'],
  ])('finds nothing in %s', (_name, authorization) => {
    expect(
      corp.find(requestWith(authorization, clock), route(['api-key', 'jwt:corp'])),
    ).toBeUndefined();
  });

  it('reads the bearer scheme in any case and after several spaces', () => {
    expect(bearerToken('BEARER   a.b.c')).toBe('a.b.c');
    expect(bearerToken('bEaReR a.b.c')).toBe('a.b.c');
    expect(bearerToken('Bearer\ta.b.c')).toBeUndefined();
  });
});

describe('hostile input never makes the jwt method throw', () => {
  it('find and authenticate answer any header with a refusal, never an exception', async () => {
    const pieces = fc.oneof(
      fc.string(),
      fc.constantFrom('.', '..', '=', '+', '/', ' ', '\u0000', 'eyJ', 'e30', 'bnVsbA', 'W10'),
      fc.base64String(),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { maxLength: 12 }), async (parts) => {
        const header = `Bearer ${parts.join('')}`;
        const ctx = requestWith(header, clock);
        const presented = corp.find(ctx, route(['jwt:corp']));
        if (presented === undefined) return;
        const outcome = await corp.authenticate(presented, ctx, route(['jwt:corp']));
        expect(outcome.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('takes a claims set nested deeper than a recursive walk could', async () => {
    const nested = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deep = JSON.stringify(claims({ iss: PARTNER })).replace(/}$/, `,"a":${nested}}`);
    const token = rawToken({ alg: 'EdDSA', kid: 'partner-1' }, deep, {
      alg: 'EdDSA',
      key: partnerKey.privateKey,
    });
    const big = jwtMethod(
      'partner',
      issuerConfig({
        issuer: PARTNER,
        maxTokenBytes: 65_536,
        keysFile: writeJwksFile(jwks(partnerKey)),
      }),
      { clock, revocations: await memoryRevocations(clock) },
    );
    const outcome = await presentBearer(big, token, clock);
    expect(outcomeReason(outcome)).toBe('accepted');
    if (outcome.ok) expect(Object.isFrozen(outcome.identity.claims?.a)).toBe(true);
  });
});

describe('the parsers', () => {
  const key = fc.oneof(fc.constantFrom('alg', 'kid', 'typ', 'a'), fc.string({ maxLength: 6 }));
  /** A key written as JSON would, or with every character escaped (`\u0061lg`). */
  const spelled = (k: string, escaped: boolean) =>
    escaped
      ? `"${[...k].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
      : JSON.stringify(k);

  it('finds a duplicate top-level member exactly when there is one, however it is spelled', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, fc.jsonValue({ maxDepth: 3 }), fc.boolean()), { maxLength: 8 }),
        fc.constantFrom('', ' ', '\n\t'),
        (members, ws) => {
          const json = `{${ws}${members
            .map(([k, v, esc]) => `${spelled(k, esc)}${ws}:${ws}${JSON.stringify(v) ?? 'null'}`)
            .join(`${ws},${ws}`)}${ws}}`;
          JSON.parse(json);
          const duplicated = new Set(members.map(([k]) => k)).size !== members.length;
          expect(hasDuplicateTopLevelKey(json)).toBe(duplicated);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('does not mistake nested members or string values for top-level keys', () => {
    expect(hasDuplicateTopLevelKey('{"a":{"a":1},"b":"a","c":["a","a"]}')).toBe(false);
    expect(hasDuplicateTopLevelKey('{"a":"x\\"a","a":1}')).toBe(true);
  });

  it('scans a large header in linear time', () => {
    const json = `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":"${'\\"'.repeat(3)}"`).join(',')}}`;
    const started = performance.now();
    expect(hasDuplicateTopLevelKey(json)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('accepts exactly the canonical base64url encodings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const s = Buffer.from(bytes).toString('base64url');
        expect(isCanonicalBase64url(s)).toBe(true);
        expect(isCanonicalBase64url(`${s}=`)).toBe(false);
        expect(isCanonicalBase64url(`${s} `)).toBe(false);
        expect(isCanonicalBase64url(Buffer.from(bytes).toString('base64').replace(/=+$/, ''))).toBe(
          !/[+/]/.test(Buffer.from(bytes).toString('base64')),
        );
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw-_+/= .') }), (s) => {
        if (isCanonicalBase64url(s))
          expect(Buffer.from(s, 'base64url').toString('base64url')).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});
