import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/authn-schema.js';
import type { AuthOutcome, Authenticator } from '../../../src/stages/authn/authenticator.js';
import type { JtiRevocations } from '../../../src/stages/authn/jwt/jti-revocations.js';
import { TokenLru } from '../../../src/stages/authn/jwt/token-lru.js';
import {
  ConsumerMap,
  consumerRecord,
  fakeClock,
  issuerConfig,
  jwks,
  jwtMethod,
  memoryRevocations,
  NOW_S,
  presentBearer,
  reasonOf,
  signed,
  testKey,
  writeJwksFile,
  type FakeClock,
  type TestKey,
} from './jwt-fixtures.js';

let rsa: TestKey;
let keysFile: string;

beforeAll(async () => {
  rsa = await testKey('rsa-1', 'RS256');
  keysFile = writeJwksFile(jwks(rsa));
});

interface Setup {
  readonly clock: FakeClock;
  readonly consumers: ConsumerMap;
  readonly revocations: JtiRevocations;
  readonly authenticator: Authenticator;
  check(token: string): AuthOutcome | Promise<AuthOutcome>;
}

async function setup(
  over: Partial<IssuerConfig> = {},
  cache: { cacheEntries?: number; cacheChars?: number } = {},
): Promise<Setup> {
  const clock = fakeClock();
  const consumers = new ConsumerMap([consumerRecord('alice', { scopes: ['profile'] })]);
  const revocations = await memoryRevocations(clock);
  const issuer = issuerConfig({ keysFile, ...over });
  const authenticator = jwtMethod('corp', issuer, { clock, consumers, revocations, ...cache });
  return {
    clock,
    consumers,
    revocations,
    authenticator,
    check: (token) => presentBearer(authenticator, token, clock),
  };
}

const isPromise = (v: unknown): boolean => v instanceof Promise;

/** The outcome of a cache hit: it must come without a promise. */
function syncOutcome(v: AuthOutcome | Promise<AuthOutcome>): AuthOutcome {
  if (v instanceof Promise) throw new Error('expected a synchronous answer from the cache');
  return v;
}

describe('the verified-token cache', () => {
  it('answers a token it verified before synchronously, with the same identity', async () => {
    const s = await setup();
    const token = await signed(rsa);
    const first = s.check(token);
    expect(isPromise(first)).toBe(true);
    const verified = await first;
    expect(verified.ok).toBe(true);
    const again = syncOutcome(s.check(token));
    expect(again).toBe(verified);
  });

  it('re-checks exp on every hit, against the clock', async () => {
    const s = await setup();
    const token = await signed(rsa, { exp: NOW_S + 120 });
    expect(reasonOf(await s.check(token))).toBe('accepted');
    s.clock.advance(170_000);
    expect(reasonOf(syncOutcome(s.check(token)))).toBe('accepted');
    s.clock.advance(20_000);
    expect(reasonOf(syncOutcome(s.check(token)))).toBe('authn.jwt.expired');
  });

  it('re-checks nbf on every hit', async () => {
    const s = await setup();
    const token = await signed(rsa, { nbf: NOW_S + 50 });
    expect(reasonOf(await s.check(token))).toBe('accepted');
    // A clock set back (NTP step) below nbf - skew.
    s.clock.advance(-20_000);
    expect(reasonOf(syncOutcome(s.check(token)))).toBe('authn.jwt.not_yet_valid');
  });

  it('refuses a cached token once its jti is revoked', async () => {
    const s = await setup();
    const token = await signed(rsa, { jti: 'to-revoke' });
    expect(reasonOf(await s.check(token))).toBe('accepted');
    await s.revocations.revoke('corp', 'to-revoke', (NOW_S + 600) * 1000, s.clock.now());
    expect(reasonOf(syncOutcome(s.check(token)))).toBe('authn.jwt.revoked');
  });

  it('revokes per issuer: the same jti of another issuer is not this one', async () => {
    const s = await setup();
    const token = await signed(rsa, { jti: 'shared-jti' });
    await s.revocations.revoke('partner', 'shared-jti', (NOW_S + 600) * 1000, s.clock.now());
    expect(reasonOf(await s.check(token))).toBe('accepted');
  });

  it('follows the consumer record: disabled refuses a cached token, enabled again accepts it', async () => {
    const s = await setup();
    const token = await signed(rsa);
    expect(reasonOf(await s.check(token))).toBe('accepted');
    s.consumers.put(consumerRecord('alice', { disabled: true }));
    expect(reasonOf(syncOutcome(s.check(token)))).toBe('authn.jwt.consumer_disabled');
    s.consumers.put(consumerRecord('alice', { scopes: ['billing'] }));
    const back = syncOutcome(s.check(token));
    if (!back.ok) throw new Error(back.denial.reason);
    expect(back.identity.scopes).toEqual(['accounts:read', 'orders:write', 'billing']);
  });

  it('keeps at most cacheEntries tokens, evicting the least recently used', async () => {
    const s = await setup({}, { cacheEntries: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((jti) => signed(rsa, { jti })));
    for (const t of [a, b] as string[]) await s.check(t);
    expect(isPromise(s.check(a as string))).toBe(false); // a is now the most recent
    await s.check(c as string); // evicts b
    expect(isPromise(s.check(a as string))).toBe(false);
    expect(isPromise(s.check(c as string))).toBe(false);
    expect(isPromise(s.check(b as string))).toBe(true);
  });

  it('never caches a token that failed verification', async () => {
    const s = await setup();
    const token = await signed(rsa, { aud: 'https://other.example' });
    expect(reasonOf(await s.check(token))).toBe('authn.jwt.audience_mismatch');
    expect(isPromise(s.check(token))).toBe(true);
  });

  it('bounds the characters it keeps, not only the entries', () => {
    const cache = new TokenLru<number>(100, 1000);
    for (let i = 0; i < 5; i++) cache.set(`${i}`.padStart(300, 'x'), i);
    expect(cache.size).toBe(3);
    expect(cache.get('4'.padStart(300, 'x'))).toBe(4);
    expect(cache.get('0'.padStart(300, 'x'))).toBeUndefined();
  });

  it("answers only the whole token: one that shares a cached token's end is a miss", () => {
    const cache = new TokenLru<string>();
    const end = 's'.repeat(60);
    cache.set(`header.alice.${end}`, 'alice');
    expect(cache.get(`header.mallory.${end}`)).toBeUndefined();
    expect(cache.has(`header.mallory.${end}`)).toBe(false);
    cache.delete(`header.mallory.${end}`);
    expect(cache.get(`header.alice.${end}`)).toBe('alice');
    // The later of two tokens with one end takes the slot; the earlier is checked again.
    cache.set(`header.mallory.${end}`, 'mallory');
    expect(cache.get(`header.alice.${end}`)).toBeUndefined();
    expect(cache.get(`header.mallory.${end}`)).toBe('mallory');
    expect(cache.size).toBe(1);
  });

  it("refuses a cached token's signature on another payload, and keeps the genuine token cached", async () => {
    const s = await setup();
    const token = await signed(rsa, { jti: 'genuine' });
    await s.check(token);
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()),
        sub: 'mallory',
      }),
    ).toString('base64url');
    const forged = `${header}.${payload}.${signature}`;
    const outcome = s.check(forged);
    expect(isPromise(outcome)).toBe(true);
    expect(reasonOf(await outcome)).toBe('authn.jwt.signature_invalid');
    const again = syncOutcome(s.check(token));
    expect(again.ok).toBe(true);
  });
});
