import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock, Identity } from '../../../src/gateway/stage.js';
import { createOpsServer } from '../../../src/ops/ops-server.js';
import {
  IDENTITY_KEY_SECRET,
  IdentitySigningKeys,
  previousKeyRetentionMs,
  rotateIdentitySigningKey,
  type IdentityKeySecrets,
  type IdentitySigningKeysDeps,
} from '../../../src/stages/authn/identity-signing-key.js';
import { IdentityTokens } from '../../../src/stages/authn/identity-token.js';
import { KeyRing } from '../../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../../src/state/crypto/master-key.js';
import { SecretStore } from '../../../src/state/crypto/secrets.js';
import type { Db } from '../../../src/state/db.js';
import { migrate } from '../../../src/state/migrate.js';
import { MIGRATIONS } from '../../../src/state/migrations/index.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../../support/databases.js';
import { migratedTestDatabase } from '../../support/migrated-database.js';

/** On a whole second, so that `iat` (seconds) is exactly the clock. */
const T0 = 1_900_000_000_000;
const TTL = 60;
const SETTINGS = { ttlSeconds: TTL, issuer: 'portcullis', audience: 'upstream' };

function fakeClock(at = T0): Clock & { set(ms: number): void } {
  let now = at;
  return { now: () => now, monotonic: () => now, set: (ms) => void (now = ms) };
}

/** Every line the logger wrote, as text: what an operator's log pipeline would see. */
function memoryLog(): { log: pino.Logger; text(): string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: pino({ level: 'trace' }, sink), text: () => lines.join('') };
}

const ALICE: Identity = {
  consumerId: 'alice',
  method: 'api-key',
  credential: 'fp:0123456789ab',
  scopes: ['orders:read', 'orders:write'],
  roles: ['admin'],
  metadata: { tenant: 't1' },
};

/** The PEM body of a private key: what a plaintext copy would contain. */
function pemBody(keys: IdentitySigningKeys): string {
  const pem = keys.current.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** The private scalar `d`, as a JWK would carry it. */
function privateD(keys: IdentitySigningKeys): string {
  const jwk = keys.current.privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new Error('no d');
  return jwk.d;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server) => new Promise((resolve) => server.close(resolve));

describe.each(BACKENDS)('identity tokens on %s', (backend) => {
  let databases: TestDatabase[] = [];
  let opened: IdentitySigningKeys[] = [];

  async function store(): Promise<{
    database: TestDatabase;
    db: Db;
    secrets: SecretStore;
    master: MasterKey;
  }> {
    const { database, db } = await migratedTestDatabase(backend, databases);
    const master = MasterKey.fromBytes(randomBytes(32));
    const ring = await KeyRing.open(db, master);
    return { database, db, secrets: new SecretStore(db, ring), master };
  }

  async function open(
    deps: Partial<IdentitySigningKeysDeps> & Pick<IdentitySigningKeysDeps, 'secrets'>,
  ): Promise<IdentitySigningKeys> {
    const keys = await IdentitySigningKeys.open({
      clock: fakeClock(),
      log: pino({ level: 'silent' }),
      refreshMs: 0,
      ...deps,
    });
    opened.push(keys);
    return keys;
  }

  afterEach(async () => {
    for (const k of opened) k.close();
    opened = [];
    await Promise.all(databases.map((d) => d.cleanup()));
    databases = [];
  });

  describe('served by the ops listener', () => {
    let server: Server;
    let base: string;
    let keys: IdentitySigningKeys;

    beforeAll(async () => {
      const { secrets } = await store();
      keys = await IdentitySigningKeys.open({
        secrets,
        clock: fakeClock(),
        log: pino({ level: 'silent' }),
        refreshMs: 0,
      });
      server = createOpsServer(() => true, { jwks: () => keys.jwks() });
      base = await listen(server);
    });
    afterAll(async () => {
      keys.close();
      await close(server);
    });

    it('signs a token that jose verifies against the JWKS the ops listener serves', async () => {
      const token = new IdentityTokens(keys, SETTINGS).tokenFor(ALICE, 'orders', T0);
      const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));

      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: 'portcullis',
        audience: 'upstream',
        algorithms: ['EdDSA'],
        currentDate: new Date(T0 + 1_000),
      });

      expect(protectedHeader).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: keys.current.kid });
      expect(payload).toEqual({
        iss: 'portcullis',
        sub: 'alice',
        aud: 'upstream',
        iat: T0 / 1000,
        exp: T0 / 1000 + TTL,
        jti: expect.stringMatching(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        ) as string,
        scope: 'orders:read orders:write',
        roles: ['admin'],
        method: 'api-key',
        route: 'orders',
      } satisfies JWTPayload);
    });

    it('serves only public keys, with their RFC 7638 thumbprint as kid, cacheable for 300 s', async () => {
      const res = await fetch(`${base}/.well-known/jwks.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
      expect(res.headers.get('cache-control')).toBe('public, max-age=300');
      const text = await res.text();
      const body = JSON.parse(text) as { keys: Record<string, unknown>[] };
      expect(body.keys).toHaveLength(1);
      const [jwk] = body.keys;
      expect(Object.keys(jwk ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(jwk?.kid).toBe(
        await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: String(jwk?.x) }),
      );
      expect(text).not.toContain(privateD(keys));
    });

    it.each([
      ['POST', 405],
      ['PUT', 405],
      ['DELETE', 405],
    ])('refuses %s on the JWKS with %i', async (method, status) => {
      const res = await fetch(`${base}/.well-known/jwks.json`, { method });
      expect(res.status).toBe(status);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    });

    it('answers HEAD with the headers and no body', async () => {
      const res = await fetch(`${base}/.well-known/jwks.json`, { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0);
      expect(await res.text()).toBe('');
    });
  });

  it('refuses a token that is past its exp', async () => {
    const { secrets } = await store();
    const keys = await open({ secrets });
    const token = new IdentityTokens(keys, SETTINGS).tokenFor(ALICE, 'orders', T0);
    const jwks = createLocalJWKSet(keys.jwks() as Parameters<typeof createLocalJWKSet>[0]);
    const verify = (at: number) =>
      jwtVerify(token, jwks, {
        issuer: 'portcullis',
        audience: 'upstream',
        algorithms: ['EdDSA'],
        currentDate: new Date(at),
      });

    await expect(verify(T0 + TTL * 1000 - 1_000)).resolves.toBeDefined();
    await expect(verify(T0 + TTL * 1000 + 1_000)).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
  });

  it('refuses a token signed by another key, under its own kid or under the gateway kid', async () => {
    const { secrets } = await store();
    const keys = await open({ secrets });
    const other = await open({ secrets: (await store()).secrets });
    const jwks = createLocalJWKSet(keys.jwks() as Parameters<typeof createLocalJWKSet>[0]);
    const verify = (token: string) =>
      jwtVerify(token, jwks, { algorithms: ['EdDSA'], currentDate: new Date(T0) });

    // Another gateway's key: its kid is not in this JWKS.
    const foreign = new IdentityTokens(other, SETTINGS).tokenFor(ALICE, 'orders', T0);
    await expect(verify(foreign)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });

    // A forger who names the gateway's kid still cannot make its signature.
    const forger = {
      current: { kid: keys.current.kid, privateKey: generateKeyPairSync('ed25519').privateKey },
    };
    const forged = new IdentityTokens(forger, SETTINGS).tokenFor(ALICE, 'orders', T0);
    expect(decodeProtectedHeader(forged).kid).toBe(keys.current.kid);
    await expect(verify(forged)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });

    // The control: the gateway's own token verifies against the same JWKS.
    await expect(
      verify(new IdentityTokens(keys, SETTINGS).tokenFor(ALICE, 'orders', T0)),
    ).resolves.toBeDefined();
  });

  it('keeps tokens signed before a rotation valid until the old key leaves the JWKS', async () => {
    const { secrets } = await store();
    const clock = fakeClock();
    const keys = await open({ secrets, clock });
    const tokens = new IdentityTokens(keys, SETTINGS);
    const before = tokens.tokenFor(ALICE, 'orders', T0);
    const oldKid = keys.current.kid;
    const verify = (token: string) =>
      jwtVerify(
        token,
        createLocalJWKSet(keys.jwks() as Parameters<typeof createLocalJWKSet>[0]),
        // The token's own time: only the key can make it fail.
        { algorithms: ['EdDSA'], currentDate: new Date(T0) },
      ).then(
        () => 'valid',
        (err: { code?: string }) => err.code,
      );

    const rotatedAt = T0 + 5_000;
    const rotation = await rotateIdentitySigningKey(
      secrets,
      rotatedAt,
      previousKeyRetentionMs(TTL),
    );
    expect(rotation.retired).toBe(oldKid);
    expect(rotation.publishUntil).toBe(rotatedAt + TTL * 1000 + 10_000 + 60_000);

    // Until it re-reads the key set, the gateway signs with the old key, which stays published.
    expect(keys.current.kid).toBe(oldKid);
    await keys.refresh();
    expect(keys.current.kid).toBe(rotation.kid);
    const after = tokens.tokenFor(ALICE, 'orders', rotatedAt);
    expect(decodeProtectedHeader(after).kid).toBe(rotation.kid);
    expect(after).not.toBe(before);

    clock.set(rotatedAt);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([rotation.kid, oldKid]);
    expect(await verify(before)).toBe('valid');
    expect(await verify(after)).toBe('valid');

    clock.set(rotation.publishUntil - 1);
    expect(await verify(before)).toBe('valid');

    clock.set(rotation.publishUntil);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([rotation.kid]);
    expect(await verify(before)).toBe('ERR_JWKS_NO_MATCHING_KEY');
    expect(await verify(after)).toBe('valid');

    // Another process on the same store sees the same key set.
    const second = await open({ secrets, clock });
    expect(second.current.kid).toBe(rotation.kid);
    expect(second.jwks()).toEqual(keys.jwks());
  });

  it('drops retired keys whose time is up at the next rotation, and keeps the others', async () => {
    const { secrets } = await store();
    const keys = await open({ secrets });
    const first = keys.current.kid;
    const keep = 100_000;
    const r1 = await rotateIdentitySigningKey(secrets, T0, keep);
    const r2 = await rotateIdentitySigningKey(secrets, T0 + 1_000, keep);
    await keys.refresh();
    expect(r1.retired).toBe(first);
    expect(r2.retired).toBe(r1.kid);
    const clock = fakeClock(T0 + 2_000);
    const reader = await open({ secrets, clock });
    expect(reader.jwks().keys.map((k) => k.kid)).toEqual([r2.kid, r1.kid, first]);

    const r3 = await rotateIdentitySigningKey(secrets, T0 + keep + 500, keep);
    await reader.refresh();
    clock.set(T0 + keep + 500);
    // `first` was published until T0 + keep: gone from the document, not just filtered.
    expect(reader.jwks().keys.map((k) => k.kid)).toEqual([r3.kid, r2.kid, r1.kid]);
    const stored = JSON.parse((await secrets.get(IDENTITY_KEY_SECRET)) ?? '{}') as {
      previous: { kid: string }[];
    };
    expect(stored.previous.map((p) => p.kid)).toEqual([r2.kid, r1.kid]);
  });

  it('creates one key when several processes start at once on an empty store', async () => {
    const { database, master } = await store();
    const starting = 4;
    // Every process reads "no key" before any of them writes: the race, made certain.
    let reads = 0;
    let allRead: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (allRead = resolve));
    const processes = await Promise.all(
      Array.from({ length: starting }, async () => {
        const db = await database.open();
        const real = new SecretStore(db, await KeyRing.open(db, master));
        const racing: IdentityKeySecrets = {
          get: async (name) => {
            const v = await real.get(name);
            if (++reads === starting) allRead();
            return v;
          },
          put: (name, value) => real.put(name, value),
          putIfAbsent: async (name, value) => {
            await barrier;
            return real.putIfAbsent(name, value);
          },
        };
        return racing;
      }),
    );

    const keys = await Promise.all(processes.map((secrets) => open({ secrets })));

    const kids = new Set(keys.map((k) => k.current.kid));
    expect(kids.size).toBe(1);
    // And it is the one stored, which any later process reads.
    const later = await open({ secrets: processes[0] as IdentityKeySecrets });
    expect(later.current.kid).toBe(keys[0]?.current.kid);
  });

  it('stores a secret only if absent with putIfAbsent', async () => {
    const { secrets } = await store();
    expect(await secrets.putIfAbsent('authn/probe', 'first')).toBe(true);
    expect(await secrets.putIfAbsent('authn/probe', 'second')).toBe(false);
    expect(await secrets.get('authn/probe')).toBe('first');
  });

  it.each([
    ['not JSON', 'not json'],
    ['JSON of another shape', JSON.stringify({ version: 1, current: {}, previous: [] })],
    ['an unknown member', 'EXTRA'],
    ['a kid that is not the key thumbprint', 'KID'],
    ['a retired key whose kid does not match', 'RETIRED'],
    ['a private key that is not PEM', 'PEM'],
  ])(
    'refuses to start on a stored key set that is %s (PCL_IDENTITY_KEY_INVALID)',
    async (_, how) => {
      const { secrets } = await store();
      const valid = await open({ secrets });
      await rotateIdentitySigningKey(secrets, T0, 100_000);
      void valid;
      const doc = JSON.parse((await secrets.get(IDENTITY_KEY_SECRET)) ?? '') as {
        current: { kid: string; privateKey: string };
        previous: { kid: string }[];
      } & Record<string, unknown>;
      const altered =
        how === 'EXTRA'
          ? { ...doc, note: 'x' }
          : how === 'KID'
            ? { ...doc, current: { ...doc.current, kid: doc.previous[0]?.kid } }
            : how === 'RETIRED'
              ? { ...doc, previous: [{ ...doc.previous[0], kid: doc.current.kid }] }
              : how === 'PEM'
                ? { ...doc, current: { ...doc.current, privateKey: 'MC4CAQAwBQYDK2VwBCIEI' } }
                : undefined;
      await secrets.put(IDENTITY_KEY_SECRET, altered === undefined ? how : JSON.stringify(altered));

      await expect(open({ secrets })).rejects.toMatchObject({ code: 'PCL_IDENTITY_KEY_INVALID' });
    },
  );

  it('replaces a key set that no longer decrypts only when told to (dev mode)', async () => {
    const database = await createTestDatabase(backend);
    databases.push(database);
    // Dev mode: each start has a throwaway master key, and what the last one encrypted is lost.
    const devStart = async () => {
      const db = await database.open();
      await migrate(db, MIGRATIONS);
      return new SecretStore(
        db,
        await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32), true)),
      );
    };
    const first = await open({ secrets: await devStart() });
    const secrets = await devStart();

    await expect(open({ secrets })).rejects.toMatchObject({ code: 'PCL_DECRYPT_FAILED' });

    const memory = memoryLog();
    const replaced = await open({ secrets, replaceUnreadable: true, log: memory.log });
    expect(replaced.current.kid).not.toBe(first.current.kid);
    expect(memory.text()).toContain('authn.identity_key.replaced');
    // Stored: the next start (same master key) reads it back.
    expect((await open({ secrets })).current.kid).toBe(replaced.current.kid);
  });

  it('keeps the private key encrypted: not in the store in plaintext, nor in the logs', async () => {
    const { database, db, secrets } = await store();
    const memory = memoryLog();
    const clock = fakeClock();
    const keys = await open({ secrets, clock, log: memory.log });
    const body = pemBody(keys);
    const d = privateD(keys);
    // A rotation and a refresh that switches keys both log; neither may carry the key.
    await rotateIdentitySigningKey(secrets, T0, previousKeyRetentionMs(TTL));
    await keys.refresh();
    const rotated = [pemBody(keys), privateD(keys)];

    const rows = await db.query<{ ciphertext: unknown }>('SELECT ciphertext FROM secrets');
    const stored = rows.map((r) => String(r.ciphertext)).join('\n');
    expect(stored).not.toBe('');
    for (const s of [body, d, ...rotated]) {
      expect(stored).not.toContain(s);
      expect(memory.text()).not.toContain(s);
    }
    expect(memory.text()).toContain('authn.identity_key.created');
    expect(memory.text()).toContain('authn.identity_key.switched');

    if (backend === 'sqlite') {
      // The file itself, its WAL and shared memory: what a stolen disk or backup would hold.
      await db.close();
      const dir = dirname(database.location);
      const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
      expect(files.length).toBeGreaterThan(0);
      const raw = Buffer.concat(files).toString('latin1');
      expect(raw).toContain('secrets');
      for (const s of [body, d, ...rotated]) expect(raw).not.toContain(s);
    }
  });
});

describe('the identity token cache', () => {
  const keyPair = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = String(publicKey.export({ format: 'jwk' }).x);
    return { privateKey, kid: `kid-${x.slice(0, 8)}` };
  };
  const claims = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;

  it('reuses a token until half its lifetime has passed, never past it', () => {
    const tokens = new IdentityTokens({ current: keyPair() }, SETTINGS);
    const first = tokens.tokenFor(ALICE, 'orders', T0);

    expect(tokens.tokenFor(ALICE, 'orders', T0 + 1)).toBe(first);
    expect(tokens.tokenFor(ALICE, 'orders', T0 + (TTL * 1000) / 2 - 1)).toBe(first);
    const renewed = tokens.tokenFor(ALICE, 'orders', T0 + (TTL * 1000) / 2);
    expect(renewed).not.toBe(first);
    expect(claims(renewed).iat).toBe(T0 / 1000 + TTL / 2);
    expect(claims(renewed).jti).not.toBe(claims(first).jti);
  });

  it('hands out only tokens with at least half their lifetime left, whatever the request times', () => {
    const tokens = new IdentityTokens({ current: keyPair() }, SETTINGS);
    // Uneven steps, off whole seconds: iat is floored to the second, the check must allow for it.
    for (let now = T0 + 123; now < T0 + 5 * TTL * 1000; now += 737) {
      const { exp, iat } = claims(tokens.tokenFor(ALICE, 'orders', now));
      expect(iat !== undefined && iat * 1000 <= now).toBe(true);
      expect((exp ?? 0) * 1000 - now).toBeGreaterThan((TTL * 1000) / 2);
    }
  });

  it.each([
    ['another consumer', { ...ALICE, consumerId: 'bob' }, 'orders'],
    ['another route', ALICE, 'billing'],
    ['other scopes', { ...ALICE, scopes: ['orders:read'] }, 'orders'],
    [
      'scopes that join to the same text',
      { ...ALICE, scopes: ['orders:read orders:write'] },
      'orders',
    ],
    ['other roles', { ...ALICE, roles: [] }, 'orders'],
    ['another method', { ...ALICE, method: 'jwt:corp' }, 'orders'],
  ])('never reuses a token for %s', (_, identity, route) => {
    const tokens = new IdentityTokens({ current: keyPair() }, SETTINGS);
    const alice = tokens.tokenFor(ALICE, 'orders', T0);
    const other = tokens.tokenFor(identity, route, T0);
    expect(other).not.toBe(alice);
    expect(claims(other)).toMatchObject({
      sub: identity.consumerId,
      route,
      method: identity.method,
    });
  });

  it('signs again when the clock goes back, rather than hand out a token issued in the future', () => {
    const tokens = new IdentityTokens({ current: keyPair() }, SETTINGS);
    const first = tokens.tokenFor(ALICE, 'orders', T0 + 10_000);
    const earlier = tokens.tokenFor(ALICE, 'orders', T0);
    expect(earlier).not.toBe(first);
    expect(claims(earlier).iat).toBe(T0 / 1000);
  });

  it('signs again with the new key after a rotation', () => {
    const holder = { current: keyPair() };
    const tokens = new IdentityTokens(holder, SETTINGS);
    const first = tokens.tokenFor(ALICE, 'orders', T0);
    holder.current = keyPair();
    const next = tokens.tokenFor(ALICE, 'orders', T0 + 1);
    expect(next).not.toBe(first);
    expect(decodeProtectedHeader(next).kid).toBe(holder.current.kid);
  });

  it('keeps at most maxCached tokens, dropping the oldest', () => {
    const tokens = new IdentityTokens({ current: keyPair() }, SETTINGS, 2);
    const a = tokens.tokenFor({ ...ALICE, consumerId: 'a' }, 'r', T0);
    const b = tokens.tokenFor({ ...ALICE, consumerId: 'b' }, 'r', T0);
    tokens.tokenFor({ ...ALICE, consumerId: 'c' }, 'r', T0);
    expect(tokens.tokenFor({ ...ALICE, consumerId: 'b' }, 'r', T0)).toBe(b);
    expect(tokens.tokenFor({ ...ALICE, consumerId: 'a' }, 'r', T0)).not.toBe(a);
  });
});
