import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyHmac, API_KEY_HMAC_SECRET } from '../../../src/state/consumers/api-key-hmac.js';
import { ApiKeyStore, type NewApiKey } from '../../../src/state/consumers/api-key-store.js';
import { ConsumerStore } from '../../../src/state/consumers/consumer-store.js';
import { KeyRing } from '../../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../../src/state/crypto/master-key.js';
import { SecretStore } from '../../../src/state/crypto/secrets.js';
import { migrate } from '../../../src/state/migrate.js';
import { MIGRATIONS } from '../../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../../support/databases.js';

/** Consumers and API keys in the store (migration 0004), on both backends. */

let counter = 0;
function newKey(consumerId: string, over: Partial<NewApiKey> = {}): NewApiKey {
  counter += 1;
  return {
    id: `key_test${String(counter).padStart(8, '0')}`,
    consumerId,
    hash: randomBytes(32),
    fingerprint: `fp:${randomBytes(6).toString('hex')}`,
    environment: 'live',
    ...over,
  };
}

describe.each(BACKENDS)('consumers and API keys on %s', (backend) => {
  const t = useTestDatabase(backend);
  let now = 1_000_000;
  const clock = (): number => now;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
  });

  it('creates a consumer once, reads it back with its lists and metadata, and lists all by id', async () => {
    const consumers = new ConsumerStore(t.db, clock);
    const created = await consumers.create({
      id: 'acme',
      name: 'Acme Corp',
      scopes: ['orders:read', 'orders:write'],
      roles: ['partner'],
      metadata: { tenant: 't-1', plan: 'gold' },
    });
    expect(created).toMatchObject({
      id: 'acme',
      name: 'Acme Corp',
      scopes: ['orders:read', 'orders:write'],
      roles: ['partner'],
      metadata: { tenant: 't-1', plan: 'gold' },
      disabled: false,
      createdAt: now,
      updatedAt: now,
    });
    expect(await consumers.create({ id: 'acme', scopes: [], roles: [], metadata: {} })).toBe(
      undefined,
    );
    await consumers.create({ id: 'Zeta', scopes: [], roles: [], metadata: {} });
    await consumers.create({ id: 'beta', scopes: [], roles: [], metadata: {} });
    expect(await consumers.get('acme')).toEqual(created);
    expect(await consumers.get('nobody')).toBeUndefined();
    expect((await consumers.list()).map((c) => c.id)).toEqual(['Zeta', 'acme', 'beta']);
  });

  it.each([
    ['an id with a space', { id: 'a b' }],
    ['an id starting with a dash', { id: '-a' }],
    ['a scope with a space', { scopes: ['a b'] }],
    ['a repeated role', { roles: ['r', 'r'] }],
    ['a metadata key with a slash', { metadata: { 'a/b': 'x' } }],
    ['an empty name', { name: '' }],
  ])('refuses to store a consumer with %s', async (_label, over) => {
    const consumers = new ConsumerStore(t.db, clock);
    await expect(
      consumers.create({ id: 'ok-id', scopes: [], roles: [], metadata: {}, ...over }),
    ).rejects.toThrow(RangeError);
    expect(await consumers.get('ok-id')).toBeUndefined();
  });

  it('disables and enables a consumer, each write with a later change marker', async () => {
    const consumers = new ConsumerStore(t.db, clock);
    const c = await consumers.create({ id: 'toggle', scopes: [], roles: [], metadata: {} });
    now += 10;
    const off = await consumers.setDisabled('toggle', true);
    expect(off?.changed).toBe(true);
    expect(off?.consumer.disabled).toBe(true);
    expect(off?.consumer.updatedAt).toBe(now);
    expect(off?.consumer.changeSeq).toBeGreaterThan(c?.changeSeq ?? Infinity);
    const again = await consumers.setDisabled('toggle', true);
    expect(again?.changed).toBe(false);
    expect(again?.consumer.changeSeq).toBe(off?.consumer.changeSeq);
    const on = await consumers.setDisabled('toggle', false);
    expect(on?.consumer.disabled).toBe(false);
    expect(await consumers.setDisabled('missing', true)).toBeUndefined();
  });

  it('stores a key as its hash and fingerprint, and lists keys per consumer, oldest first', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    const expiresAt = now + 1000;
    const a = newKey('lister', { expiresAt });
    now += 1;
    const storedA = await keys.create(a);
    now += 1;
    const storedB = await keys.create(newKey('lister', { environment: 'test' }));
    await keys.create(newKey('other'));
    expect(storedA).toMatchObject({
      id: a.id,
      consumerId: 'lister',
      fingerprint: a.fingerprint,
      environment: 'live',
      expiresAt,
      revokedAt: undefined,
      rotatedFrom: undefined,
      rotatedUntil: undefined,
    });
    expect(storedA.hash.equals(a.hash)).toBe(true);
    expect(storedB.environment).toBe('test');
    expect((await keys.list('lister')).map((k) => k.id)).toEqual([storedA.id, storedB.id]);
    expect((await keys.list()).length).toBeGreaterThanOrEqual(3);
    const [row] = await t.db.query<{ hash: unknown }>('SELECT hash FROM api_keys WHERE id = $1', [
      a.id,
    ]);
    expect(row?.hash).toBe(a.hash.toString('hex'));
  });

  it('refuses a second key with the same hash or id', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    const k = newKey('dup');
    await keys.create(k);
    await expect(keys.create({ ...k, id: 'key_other0000001' })).rejects.toMatchObject({
      code: 'PCL_STORE_QUERY_FAILED',
    });
    await expect(keys.create({ ...k, hash: randomBytes(32) })).rejects.toMatchObject({
      code: 'PCL_STORE_QUERY_FAILED',
    });
  });

  it('revokes a key once, for good', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    const k = await keys.create(newKey('rev'));
    now += 5;
    const first = await keys.revoke(k.id);
    expect(first).toMatchObject({ changed: true, key: { revokedAt: now } });
    expect(first?.key.changeSeq).toBeGreaterThan(k.changeSeq);
    now += 5;
    const second = await keys.revoke(k.id);
    expect(second).toMatchObject({ changed: false, key: { revokedAt: now - 5 } });
    expect(await keys.revoke('key_missing00000')).toBeUndefined();
  });

  it('rotates a key in force: the successor names it, it keeps working until the overlap ends', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    const old = await keys.create(newKey('rot', { expiresAt: now + 100_000 }));
    const next = newKey('ignored');
    const r = await keys.rotate(old.id, next, now + 3_600_000);
    expect(r.outcome).toBe('ok');
    if (r.outcome !== 'ok') return;
    expect(r.next).toMatchObject({ id: next.id, consumerId: 'rot', rotatedFrom: old.id });
    expect(r.previous).toMatchObject({ id: old.id, rotatedUntil: now + 3_600_000 });
    expect(r.previous.changeSeq).not.toBe(r.next.changeSeq);
    // Rotated once: the successor is what gets rotated next.
    expect((await keys.rotate(old.id, newKey('rot'), now + 1)).outcome).toBe('rotated');
  });

  it.each([
    ['a revoked key', 'revoked'],
    ['an expired key', 'expired'],
    ['an already rotated key', 'rotated'],
  ] as const)('refuses to rotate %s, and stores no successor', async (_label, state) => {
    const keys = new ApiKeyStore(t.db, clock);
    const k = await keys.create(newKey(`norot-${state}`, { expiresAt: now + 50 }));
    if (state === 'revoked') await keys.revoke(k.id);
    if (state === 'rotated') await keys.rotate(k.id, newKey('x'), now + 10);
    if (state === 'expired') now += 50;
    const before = (await keys.list(`norot-${state}`)).length;
    const r = await keys.rotate(k.id, newKey('x'), now + 10);
    expect(r.outcome).toBe(state);
    expect((await keys.list(`norot-${state}`)).length).toBe(before);
  });

  it('answers a rotation of an unknown key with missing', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    expect((await keys.rotate('key_nosuchkey00', newKey('x'), now)).outcome).toBe('missing');
  });

  it('hands out every write in change-marker order, in pages that never skip a row', async () => {
    const keys = new ApiKeyStore(t.db, clock);
    const consumers = new ConsumerStore(t.db, clock);
    const start = Math.max(
      0,
      ...(await keys.changedSince(0, 100_000)).map((k) => k.changeSeq),
      ...(await consumers.changedSince(0, 100_000)).map((c) => c.changeSeq),
    );
    const made = [];
    for (let i = 0; i < 7; i++) made.push((await keys.create(newKey('paged'))).id);
    const rotated = await keys.rotate(made[0] as string, newKey('paged'), now + 1);
    await keys.revoke(made[1] as string);
    const seen: string[] = [];
    let since = start;
    for (;;) {
      const page = await keys.changedSince(since, 2);
      for (const k of page) seen.push(k.id);
      if (page.length < 2) break;
      since = (page[page.length - 1] as { changeSeq: number }).changeSeq;
    }
    expect(rotated.outcome).toBe('ok');
    if (rotated.outcome !== 'ok') return;
    // Each row once, at its last write, in the order of those writes.
    expect(seen).toEqual([...made.slice(2), rotated.next.id, made[0], made[1]]);
  });

  it('keeps change markers in commit order under concurrent writers', async () => {
    const other = await t.database.open();
    const a = new ApiKeyStore(t.db, clock);
    const b = new ApiKeyStore(other, clock);
    const before = Math.max(0, ...(await a.changedSince(0, 100_000)).map((k) => k.changeSeq));
    const writes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).create(newKey('race'))),
    );
    const seqs = writes.map((w) => w.changeSeq);
    expect(new Set(seqs).size).toBe(20);
    const read = await a.changedSince(before, 100);
    expect(read.map((k) => k.changeSeq)).toEqual([...seqs].sort((x, y) => x - y));
    await other.close();
  });

  it('creates the server key once, encrypted, and every process after reads the same one', async () => {
    const master = MasterKey.fromBytes(randomBytes(32));
    const other = await t.database.open();
    // A fresh store of secrets for this test: the earlier tests' ring used no master key.
    await t.db.run('DELETE FROM secrets WHERE name = $1', [API_KEY_HMAC_SECRET]);
    await t.db.run('DELETE FROM data_keys');
    const ringA = await KeyRing.open(t.db, master);
    const ringB = await KeyRing.open(other, master);
    const [h1, h2] = await Promise.all([
      ApiKeyHmac.load(t.db, ringA),
      ApiKeyHmac.load(other, ringB),
    ]);
    const key = 'pcl_live_some-key';
    expect(h1.digest(key).equals(h2.digest(key))).toBe(true);
    expect(h1.digest(key)).toHaveLength(32);
    expect(h1.digest(key).equals(h1.digest(`${key}x`))).toBe(false);
    const again = await ApiKeyHmac.load(t.db, ringA);
    expect(again.digest(key).equals(h1.digest(key))).toBe(true);
    const secret = await new SecretStore(t.db, ringA).get(API_KEY_HMAC_SECRET);
    expect(Buffer.from(secret ?? '', 'base64')).toHaveLength(32);
    const [row] = await t.db.query<{ ciphertext: unknown }>(
      'SELECT ciphertext FROM secrets WHERE name = $1',
      [API_KEY_HMAC_SECRET],
    );
    expect(String(row?.ciphertext)).not.toContain(secret);
    expect(String(row?.ciphertext)).toMatch(/^pcl1\./);
    // Nothing of the key shows when the object is printed.
    expect(JSON.stringify(h1)).not.toContain(secret);
    await other.close();
  });

  it('refuses a server key that is not 32 bytes', async () => {
    const master = MasterKey.fromBytes(randomBytes(32));
    await t.db.run('DELETE FROM data_keys');
    const ring = await KeyRing.open(t.db, master);
    await new SecretStore(t.db, ring).put(API_KEY_HMAC_SECRET, randomBytes(16).toString('base64'));
    await expect(ApiKeyHmac.load(t.db, ring)).rejects.toMatchObject({ code: 'PCL_DECRYPT_FAILED' });
    await t.db.run('DELETE FROM secrets WHERE name = $1', [API_KEY_HMAC_SECRET]);
  });

  it('replaces a server key lost with a dev-mode master key, and keeps refusing under a real one', async () => {
    await t.db.run('DELETE FROM secrets WHERE name = $1', [API_KEY_HMAC_SECRET]);
    await t.db.run('DELETE FROM data_keys');
    const first = await ApiKeyHmac.load(
      t.db,
      await KeyRing.open(t.db, MasterKey.fromBytes(randomBytes(32), true)),
    );
    // The next dev-mode process has another throwaway master key: the old secret is gone.
    const second = await ApiKeyHmac.load(
      t.db,
      await KeyRing.open(t.db, MasterKey.fromBytes(randomBytes(32), true)),
    );
    expect(second.digest('k').equals(first.digest('k'))).toBe(false);
    // A secret that does not decrypt under a real master key is an incident, not a reset.
    const real = MasterKey.fromBytes(randomBytes(32));
    await t.db.run('DELETE FROM data_keys');
    const ring = await KeyRing.open(t.db, real);
    await t.db.run('UPDATE secrets SET ciphertext = $1 WHERE name = $2', [
      ring.encrypt('x', { table: 'secrets', row: 'another-name', column: 'ciphertext' }),
      API_KEY_HMAC_SECRET,
    ]);
    await expect(ApiKeyHmac.load(t.db, ring)).rejects.toMatchObject({ code: 'PCL_DECRYPT_FAILED' });
    await t.db.run('DELETE FROM secrets WHERE name = $1', [API_KEY_HMAC_SECRET]);
  });
});
