import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/authn-schema.js';
import { statusOf } from '../../../src/gateway/problems.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import { fingerprint } from '../../../src/state/audit/fingerprint.js';
import type { JtiRevocations } from '../../../src/stages/authn/jwt/jti-revocations.js';
import { REFUSED_DETAIL } from '../../../src/stages/authn/refusal.js';
import {
  AUDIENCE,
  b64,
  claims,
  ConsumerMap,
  consumerRecord,
  fakeClock,
  issuerConfig,
  jwks,
  jwtMethod,
  memoryRevocations,
  NOW_S,
  presentBearer,
  rawToken,
  requestWith,
  route,
  signed,
  testKey,
  writeJwksFile,
  type TestKey,
} from './jwt-fixtures.js';
import { routeStage } from './route-stage.js';

interface Keys {
  rsa1: TestKey;
  rsa2: TestKey;
  ec1: TestKey;
  ed1: TestKey;
  ec384: TestKey;
  attacker: TestKey;
}

const clock = fakeClock();
const consumers = new ConsumerMap([
  consumerRecord('alice', { scopes: ['profile'], roles: ['user'], metadata: { tenant: 't1' } }),
  consumerRecord('mallory', { disabled: true }),
]);
let keys: Keys;
let keysFile: string;
let revocations: JtiRevocations;

beforeAll(async () => {
  keys = {
    rsa1: await testKey('rsa-1', 'RS256'),
    rsa2: await testKey('rsa-2', 'RS256'),
    ec1: await testKey('ec-1', 'ES256'),
    ed1: await testKey('ed-1', 'EdDSA'),
    ec384: await testKey('ec-384', 'ES384'),
    attacker: await testKey('attacker', 'RS256'),
  };
  keysFile = writeJwksFile(jwks(keys.rsa1, keys.rsa2, keys.ec1, keys.ed1));
  revocations = await memoryRevocations(clock);
  await revocations.revoke('corp', 'revoked-1', (NOW_S + 3600) * 1000, clock.now());
});

/** The route's real authentication stage with the `jwt:corp` method of `issuer`. */
function stageFor(over: Partial<IssuerConfig> = {}) {
  const issuer = issuerConfig({ keysFile, ...over });
  return routeStage(route(['jwt:corp']), [
    jwtMethod('corp', issuer, { clock, consumers, revocations }),
  ]);
}

async function send(token: string, over: Partial<IssuerConfig> = {}): Promise<Verdict> {
  return stageFor(over).onRequest(requestWith(`Bearer ${token}`, clock));
}

const RS = (k: Keys) => ({ alg: 'RS256', key: k.rsa1.privateKey });
const hdr = (k: Keys, over: Record<string, unknown> = {}) => ({
  alg: 'RS256',
  kid: k.rsa1.kid,
  typ: 'JWT',
  ...over,
});
const parts = (t: string) => t.split('.') as [string, string, string];

interface Hostile {
  readonly name: string;
  readonly token: (k: Keys) => string | Promise<string>;
  readonly reason: string;
  readonly issuer?: Partial<IssuerConfig>;
}

const HOSTILE: Hostile[] = [
  ...['none', 'None', 'NONE', 'nOnE'].map((alg) => ({
    name: `alg ${alg}`,
    token: () => rawToken({ alg, typ: 'JWT' }, claims()),
    reason: 'authn.jwt.alg_forbidden',
  })),
  {
    name: 'alg none carrying a signature anyway',
    token: (k) => rawToken({ alg: 'none' }, claims(), RS(k)),
    reason: 'authn.jwt.alg_forbidden',
  },
  {
    name: 'alg missing',
    token: (k) => rawToken({ kid: k.rsa1.kid, typ: 'JWT' }, claims(), RS(k)),
    reason: 'authn.jwt.alg_missing',
  },
  {
    name: 'alg an empty string',
    token: (k) => rawToken(hdr(k, { alg: '' }), claims(), RS(k)),
    reason: 'authn.jwt.alg_missing',
  },
  {
    name: 'HS256 signed with the RSA public key as the HMAC secret',
    token: (k) =>
      rawToken(hdr(k, { alg: 'HS256' }), claims(), {
        alg: 'HS256',
        key: k.rsa1.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }),
    reason: 'authn.jwt.alg_forbidden',
  },
  {
    name: 'HS256 with the RSA public key even when a config lists HS256',
    token: (k) =>
      rawToken(hdr(k, { alg: 'HS256' }), claims(), {
        alg: 'HS256',
        key: k.rsa1.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }),
    issuer: { algorithms: ['RS256', 'HS256'] as unknown as IssuerConfig['algorithms'] },
    reason: 'authn.jwt.alg_forbidden',
  },
  {
    name: 'ES256 token for an RS256-only issuer',
    token: (k) => signed(k.ec1),
    issuer: { algorithms: ['RS256'] },
    reason: 'authn.jwt.alg_not_allowed',
  },
  {
    name: 'an algorithm nobody defined',
    token: (k) => rawToken(hdr(k, { alg: 'RS1' }), claims(), RS(k)),
    reason: 'authn.jwt.alg_not_allowed',
  },
  {
    name: 'jku pointing at the attacker',
    token: (k) =>
      rawToken(hdr(k, { kid: 'attacker', jku: 'https://evil.example/jwks.json' }), claims(), {
        alg: 'RS256',
        key: k.attacker.privateKey,
      }),
    reason: 'authn.jwt.key_header_refused',
  },
  {
    name: 'x5u pointing at the attacker',
    token: (k) =>
      rawToken(hdr(k, { x5u: 'https://evil.example/cert.pem' }), claims(), {
        alg: 'RS256',
        key: k.attacker.privateKey,
      }),
    reason: 'authn.jwt.key_header_refused',
  },
  {
    name: 'embedded jwk, self-signed with the attacker key',
    token: (k) =>
      rawToken(hdr(k, { kid: 'attacker', jwk: k.attacker.jwk }), claims(), {
        alg: 'RS256',
        key: k.attacker.privateKey,
      }),
    reason: 'authn.jwt.key_header_refused',
  },
  {
    name: 'embedded x5c chain',
    token: (k) =>
      rawToken(hdr(k, { x5c: ['MIIBszCCAVmgAwIBAgIU'] }), claims(), {
        alg: 'RS256',
        key: k.attacker.privateKey,
      }),
    reason: 'authn.jwt.key_header_refused',
  },
  {
    name: 'crit header naming an extension',
    token: (k) => rawToken(hdr(k, { crit: ['exp'], exp: 1 }), claims(), RS(k)),
    reason: 'authn.jwt.crit_refused',
  },
  {
    name: 'empty crit header',
    token: (k) => rawToken(hdr(k, { crit: [] }), claims(), RS(k)),
    reason: 'authn.jwt.crit_refused',
  },
  {
    name: 'kid with path traversal',
    token: (k) => rawToken(hdr(k, { kid: '../../../../dev/null' }), claims(), RS(k)),
    reason: 'authn.jwt.kid_malformed',
  },
  {
    name: 'kid with SQL',
    token: (k) => rawToken(hdr(k, { kid: "rsa-1' UNION SELECT 'secret' --" }), claims(), RS(k)),
    reason: 'authn.jwt.kid_malformed',
  },
  {
    name: 'kid with NUL',
    token: (k) => rawToken(hdr(k, { kid: 'rsa-1\u0000' }), claims(), RS(k)),
    reason: 'authn.jwt.kid_malformed',
  },
  {
    name: 'kid over 256 characters',
    token: (k) => rawToken(hdr(k, { kid: 'k'.repeat(257) }), claims(), RS(k)),
    reason: 'authn.jwt.kid_malformed',
  },
  {
    name: 'kid not a string',
    token: (k) => rawToken(hdr(k, { kid: 1 }), claims(), RS(k)),
    reason: 'authn.jwt.kid_malformed',
  },
  {
    name: 'unknown kid',
    token: (k) => rawToken(hdr(k, { kid: 'rsa-9' }), claims(), RS(k)),
    reason: 'authn.jwt.kid_unknown',
  },
  {
    name: 'RS256 header naming the EC key',
    token: (k) => rawToken(hdr(k, { kid: k.ec1.kid }), claims(), RS(k)),
    reason: 'authn.jwt.key_alg_mismatch',
  },
  {
    name: 'no kid while two RSA keys are published',
    token: (k) => rawToken({ alg: 'RS256' }, claims(), RS(k)),
    reason: 'authn.jwt.kid_required',
  },
  {
    name: 'no kid and no key of the type the alg needs',
    token: (k) => rawToken({ alg: 'ES384' }, claims(), { alg: 'ES384', key: k.ec384.privateKey }),
    issuer: { algorithms: ['RS256', 'ES384'] },
    reason: 'authn.jwt.key_missing',
  },
  {
    name: 'stripped signature',
    token: async (k) =>
      `${parts(await signed(k.rsa1))
        .slice(0, 2)
        .join('.')}.`,
    reason: 'authn.jwt.signature_missing',
  },
  {
    name: 'signature of another token',
    token: async (k) => {
      const [h, p] = parts(await signed(k.rsa1));
      const [, , s] = parts(await signed(k.rsa1, { sub: 'admin' }));
      return `${h}.${p}.${s}`;
    },
    reason: 'authn.jwt.signature_invalid',
  },
  {
    name: "the attacker's key under the issuer's kid",
    token: (k) => rawToken(hdr(k), claims(), { alg: 'RS256', key: k.attacker.privateKey }),
    reason: 'authn.jwt.signature_invalid',
  },
  {
    name: 'PS256 header over an RS256 signature',
    token: (k) => rawToken(hdr(k, { alg: 'PS256' }), claims(), RS(k)),
    reason: 'authn.jwt.signature_invalid',
  },
  {
    name: 'oversized token',
    token: (k) => signed(k.rsa1, { pad: 'x'.repeat(9000) }),
    reason: 'authn.jwt.too_large',
  },
  {
    name: 'padding in a segment',
    token: async (k) => {
      const [h, p, s] = parts(await signed(k.rsa1));
      return `${h}.${p}==.${s}`;
    },
    reason: 'authn.jwt.base64',
  },
  {
    name: '+ in a segment (base64, not base64url)',
    token: async (k) => {
      const [h, p, s] = parts(await signed(k.rsa1));
      return `${h}.${p}.${s.slice(0, 10)}+${s.slice(11)}`;
    },
    reason: 'authn.jwt.base64',
  },
  {
    name: 'a space inside a segment',
    token: async (k) => {
      const [h, p, s] = parts(await signed(k.rsa1));
      return `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`;
    },
    reason: 'authn.jwt.base64',
  },
  {
    name: 'non-zero spare bits at the end of a segment (a second spelling)',
    token: async (k) => {
      const [h, p, s] = parts(await signed(k.rsa1));
      // 256 signature bytes are 342 characters: the last one carries 4 spare bits.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(s.slice(-1));
      return `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`;
    },
    reason: 'authn.jwt.base64',
  },
  {
    name: 'an empty payload',
    token: async (k) => {
      const [h, , s] = parts(await signed(k.rsa1));
      return `${h}..${s}`;
    },
    reason: 'authn.jwt.malformed',
  },
  {
    name: 'header not JSON',
    token: (k) => rawToken('{alg:RS256,kid:rsa-1}', claims(), RS(k)),
    reason: 'authn.jwt.header_invalid',
  },
  {
    name: 'header not UTF-8',
    token: (k) => {
      const t = rawToken(hdr(k), claims(), RS(k));
      return `${b64(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))}.${t.split('.').slice(1).join('.')}`;
    },
    reason: 'authn.jwt.header_invalid',
  },
  {
    name: 'header a JSON array',
    token: (k) => rawToken('[{"alg":"RS256","kid":"rsa-1"}]', claims(), RS(k)),
    reason: 'authn.jwt.header_not_object',
  },
  {
    name: 'header JSON null',
    token: (k) => rawToken('null', claims(), RS(k)),
    reason: 'authn.jwt.header_not_object',
  },
  {
    name: 'duplicate alg in the header',
    token: (k) => rawToken('{"alg":"RS256","kid":"rsa-1","alg":"none"}', claims(), RS(k)),
    reason: 'authn.jwt.header_duplicate_key',
  },
  {
    name: 'duplicate alg spelled with an escape',
    token: (k) => rawToken('{"alg":"RS256","kid":"rsa-1","\\u0061lg":"RS256"}', claims(), RS(k)),
    reason: 'authn.jwt.header_duplicate_key',
  },
  {
    name: 'payload not JSON',
    token: (k) => rawToken(hdr(k), 'sub=alice', RS(k)),
    reason: 'authn.jwt.payload_invalid',
  },
  {
    name: 'payload a JSON array',
    token: (k) => rawToken(hdr(k), JSON.stringify([claims()]), RS(k)),
    reason: 'authn.jwt.payload_not_object',
  },
  {
    name: 'duplicate sub in the payload',
    token: (k) =>
      rawToken(hdr(k), JSON.stringify(claims()).replace(/}$/, ',"sub":"admin"}'), RS(k)),
    reason: 'authn.jwt.payload_duplicate_key',
  },
  {
    name: 'wrong issuer',
    token: (k) => signed(k.rsa1, { iss: 'https://evil.example/' }),
    reason: 'authn.jwt.issuer_mismatch',
  },
  {
    name: 'issuer without its trailing slash',
    token: (k) => signed(k.rsa1, { iss: 'https://idp.example.com' }),
    reason: 'authn.jwt.issuer_mismatch',
  },
  {
    name: 'wrong audience',
    token: (k) => signed(k.rsa1, { aud: 'https://other-api.example.com' }),
    reason: 'authn.jwt.audience_mismatch',
  },
  {
    name: 'audience missing',
    token: (k) => signed(k.rsa1, { aud: undefined }),
    reason: 'authn.jwt.audience_missing',
  },
  {
    name: 'exp as a string',
    token: (k) =>
      rawToken(hdr(k), claims({ exp: String(NOW_S + 600) as unknown as number }), RS(k)),
    reason: 'authn.jwt.claim_invalid',
  },
  {
    name: 'jti not a string',
    token: (k) => rawToken(hdr(k), claims({ jti: 42 as unknown as string }), RS(k)),
    reason: 'authn.jwt.jti_invalid',
  },
  {
    name: 'expired',
    token: (k) => signed(k.rsa1, { exp: NOW_S - 61 }),
    reason: 'authn.jwt.expired',
  },
  {
    name: 'exp missing',
    token: (k) => signed(k.rsa1, { exp: undefined }),
    reason: 'authn.jwt.exp_missing',
  },
  {
    name: 'not yet valid (nbf)',
    token: (k) => signed(k.rsa1, { nbf: NOW_S + 61 }),
    reason: 'authn.jwt.not_yet_valid',
  },
  {
    name: 'iat in the future',
    token: (k) => signed(k.rsa1, { iat: NOW_S + 3600 }),
    reason: 'authn.jwt.iat_future',
  },
  {
    name: 'a required claim missing',
    token: (k) => signed(k.rsa1),
    issuer: { requiredClaims: ['tenant'] },
    reason: 'authn.jwt.claim_missing',
  },
  {
    name: 'revoked jti',
    token: (k) => signed(k.rsa1, { jti: 'revoked-1' }),
    reason: 'authn.jwt.revoked',
  },
  {
    name: 'consumer claim missing',
    token: (k) => signed(k.rsa1, { sub: undefined }),
    reason: 'authn.jwt.consumer_missing',
  },
  {
    name: 'consumer claim with illegal characters',
    token: (k) => signed(k.rsa1, { sub: 'alice\r\nx-consumer-id: admin' }),
    reason: 'authn.jwt.consumer_invalid',
  },
  {
    name: 'scope with a line break (header injection upstream)',
    token: (k) => signed(k.rsa1, { scope: 'read\r\nx-admin:1' }),
    reason: 'authn.jwt.scopes_invalid',
  },
  {
    name: 'roles not a list of strings',
    token: (k) => signed(k.rsa1, { roles: [1, 2] }),
    reason: 'authn.jwt.roles_invalid',
  },
  {
    name: 'disabled consumer',
    token: (k) => signed(k.rsa1, { sub: 'mallory' }),
    reason: 'authn.jwt.consumer_disabled',
  },
  {
    name: 'undeclared consumer where the issuer requires one',
    token: (k) => signed(k.rsa1, { sub: 'stranger' }),
    issuer: { requireConsumer: true },
    reason: 'authn.jwt.consumer_unknown',
  },
];

describe('hostile JWTs', () => {
  it('has a table of at least 30 cases', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(30);
  });

  it.each(HOSTILE)('refuses $name ($reason)', async ({ token, reason, issuer }) => {
    const t = await token(keys);
    const v = await send(t, issuer);
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.kind).toBe('unauthenticated');
    expect(statusOf(v.problem.kind)).toBe(401);
    expect(v.problem.reason).toBe(reason);
    // The client learns nothing of the cause: the same text and challenge for every refusal.
    expect(v.problem.detail).toBe(REFUSED_DETAIL);
    expect(v.problem.headers?.['www-authenticate']).toBe(
      'Bearer realm="portcullis", error="invalid_token"',
    );
    expect(v.problem.audit?.credential).toBe(fingerprint(t));
    expect(v.problem.audit?.details?.issuer).toBe('corp');
    // Never a part of the token in what the event records: only its fingerprint.
    const recorded = JSON.stringify(v.problem.audit);
    for (const part of t.split('.').filter((p) => p.length >= 16)) {
      expect(recorded).not.toContain(part.slice(0, 16));
    }
  });

  it('names the consumer in the event only once the signature verified', async () => {
    const forged = rawToken(hdr(keys), claims({ sub: 'alice', exp: NOW_S - 3600 }), {
      alg: 'RS256',
      key: keys.attacker.privateKey,
    });
    const v = await send(forged);
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.reason).toBe('authn.jwt.signature_invalid');
    expect(v.problem.audit?.consumer).toBeUndefined();
    expect(v.problem.audit?.details).toEqual({
      issuer: 'corp',
      alg: 'RS256',
      kid: 'rsa-1',
      error: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });

    const expired = await send(await signed(keys.rsa1, { exp: NOW_S - 3600 }));
    if (expired.continue) throw new Error('accepted');
    expect(expired.problem.reason).toBe('authn.jwt.expired');
    expect(expired.problem.audit?.consumer).toBe('alice');
  });
});

interface Valid {
  readonly name: string;
  readonly token: (k: Keys) => string | Promise<string>;
  readonly issuer?: Partial<IssuerConfig>;
  readonly scheme?: string;
}

const VALID: Valid[] = [
  { name: 'RS256', token: (k) => signed(k.rsa1) },
  { name: 'RS256 with the second RSA key', token: (k) => signed(k.rsa2) },
  { name: 'PS256', token: (k) => signed(k.rsa1, {}, 'PS256') },
  { name: 'ES256', token: (k) => signed(k.ec1) },
  { name: 'EdDSA', token: (k) => signed(k.ed1) },
  {
    name: 'exp passed but within the clock skew',
    token: (k) => signed(k.rsa1, { exp: NOW_S - 30 }),
  },
  {
    name: 'nbf ahead but within the clock skew',
    token: (k) => signed(k.rsa1, { nbf: NOW_S + 30 }),
  },
  { name: 'aud as a list naming this API', token: (k) => signed(k.rsa1, { aud: ['x', AUDIENCE] }) },
  { name: 'the bearer scheme in lower case', token: (k) => signed(k.rsa1), scheme: 'bearer' },
];

describe('valid JWTs', () => {
  it.each(VALID)('accepts $name', async ({ token, issuer, scheme }) => {
    const t = await token(keys);
    const v = await stageFor(issuer).onRequest(requestWith(`${scheme ?? 'Bearer'} ${t}`, clock));
    if (!v.continue) throw new Error(`refused: ${v.problem.reason}`);
    expect(v.change?.setHeaders?.['x-consumer-id']).toBe('alice');
    expect(v.change?.setHeaders?.['x-authenticated-by']).toBe('jwt:corp');
    expect(v.change?.removeHeaders).toContain('authorization');
  });

  it('maps the claims and merges the declared consumer', async () => {
    const t = await signed(keys.ec1, { roles: ['auditor'] });
    const authenticator = jwtMethod('corp', issuerConfig({ keysFile }), {
      clock,
      consumers,
      revocations,
    });
    const outcome = await presentBearer(authenticator, t, clock);
    if (!outcome.ok) throw new Error(outcome.denial.reason);
    expect(outcome.identity).toMatchObject({
      consumerId: 'alice',
      method: 'jwt:corp',
      credential: fingerprint(t),
      scopes: ['accounts:read', 'orders:write', 'profile'],
      roles: ['auditor', 'user'],
      metadata: { tenant: 't1' },
    });
    expect(outcome.identity.claims?.jti).toBe('jti-alice-1');
    expect(Object.isFrozen(outcome.identity.claims)).toBe(true);
  });

  it('reads scopes from scp as a list, and from any list claim', async () => {
    const t = await signed(keys.rsa1, { scope: undefined, scp: ['a:read', 'b:write'] });
    const v = await send(t, { scopesClaim: 'scp' });
    if (!v.continue) throw new Error(v.problem.reason);
    expect(v.change?.setHeaders?.['x-consumer-scopes']).toBe('a:read b:write profile');
  });
});
