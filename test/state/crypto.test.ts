import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/ops/logger.js';
import { KeyRing, type AssociatedData } from '../../src/state/crypto/key-ring.js';
import {
  DEV_KEY_ENV,
  loadMasterKey,
  MasterKey,
  newDevKeyText,
} from '../../src/state/crypto/master-key.js';
import { rotateMaster } from '../../src/state/crypto/rotate-master.js';
import { SecretStore } from '../../src/state/crypto/secrets.js';
import type { Db } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { SqliteDb } from '../../src/state/sqlite/sqlite-db.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { CLI } from '../support/gateway-process.js';

/** Encryption at rest: master keys, the key ring, master key rotation and its command. */

const AD: AssociatedData = { table: 'secrets', row: 'billing-api', column: 'ciphertext' };
const FORMAT = /^pcl1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/;

function newKey(): MasterKey {
  return MasterKey.fromBytes(randomBytes(32));
}

function base64Key(): string {
  return randomBytes(32).toString('base64');
}

/** The error a call failed with, as a plain record (so that two failures compare equal). */
async function failure(fn: () => unknown): Promise<{ code: unknown; message: string }> {
  try {
    await fn();
  } catch (err) {
    return {
      code: (err as { code?: unknown }).code,
      message: err instanceof Error ? err.message : String(err),
    };
  }
  throw new Error('expected a failure');
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pcl-crypto-'));
}

describe('loadMasterKey', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  function keyFile(content: string, mode = 0o600): { dir: string; path: string } {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, 'master.key');
    writeFileSync(path, content);
    chmodSync(path, mode);
    return { dir, path };
  }

  it('loads the key from PORTCULLIS_MASTER_KEY; its id is the SHA-256 fingerprint', () => {
    const b64 = base64Key();
    const key = loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: b64 }, devMode: false });

    const expected = createHash('sha256')
      .update(Buffer.from(b64, 'base64'))
      .digest('hex')
      .slice(0, 16);
    expect(key.id).toBe(expected);
    expect(key.ephemeral).toBe(false);
  });

  it('loads the key from a file written by openssl (trailing newline), relative to baseDir', () => {
    const b64 = base64Key();
    const { dir } = keyFile(`${b64}\n`);

    const key = loadMasterKey({ env: {}, file: 'master.key', baseDir: dir, devMode: false });

    expect(key.id).toBe(loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: b64 }, devMode: false }).id);
  });

  it('accepts the environment and the file together when they hold the same key', () => {
    const b64 = base64Key();
    const { path } = keyFile(b64);

    const key = loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: b64 }, file: path, devMode: false });

    expect(key.id).toHaveLength(16);
  });

  it('refuses the environment and the file when they hold different keys, naming neither', async () => {
    const envKey = base64Key();
    const fileKey = base64Key();
    const { path } = keyFile(fileKey);

    const err = await failure(() =>
      loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: envKey }, file: path, devMode: false }),
    );

    expect(err.code).toBe('PCL_MASTER_KEY_CONFLICT');
    expect(err.message).not.toContain(envKey);
    expect(err.message).not.toContain(fileKey);
  });

  it('refuses to go on without a key, saying how to create one', async () => {
    const err = await failure(() => loadMasterKey({ env: {}, devMode: false }));

    expect(err.code).toBe('PCL_MASTER_KEY_MISSING');
    expect(err.message).toContain('openssl rand -base64 32');
    expect(err.message).toContain('PORTCULLIS_MASTER_KEY');
  });

  it('shares one throwaway key among the workers of a dev-mode gateway, and only in dev mode', () => {
    const shared = newDevKeyText();
    const env = { [DEV_KEY_ENV]: shared };
    const a = loadMasterKey({ env, devMode: true });
    const b = loadMasterKey({ env, devMode: true });
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^dev-/);
    // Without the shared key, each process has its own.
    expect(loadMasterKey({ env: {}, devMode: true }).id).not.toBe(a.id);
    // Outside dev mode the variable is no master key.
    expect(() => loadMasterKey({ env, devMode: false })).toThrow(
      expect.objectContaining({ code: 'PCL_MASTER_KEY_MISSING' }) as Error,
    );
    // A real key wins over it.
    const real = randomBytes(32).toString('base64');
    expect(
      loadMasterKey({ env: { ...env, PORTCULLIS_MASTER_KEY: real }, devMode: true }).id,
    ).not.toMatch(/^dev-/);
  });

  it('refuses a shared dev key that is not 32 bytes of base64, without echoing it', async () => {
    const text = randomBytes(16).toString('base64');
    const err = await failure(() => loadMasterKey({ env: { [DEV_KEY_ENV]: text }, devMode: true }));
    expect(err.code).toBe('PCL_MASTER_KEY_INVALID');
    expect(err.message).toContain(DEV_KEY_ENV);
    expect(err.message).not.toContain(text);
  });

  it('refuses a key file that does not exist', async () => {
    const err = await failure(() =>
      loadMasterKey({ env: {}, file: 'none.key', baseDir: keyFile('').dir, devMode: true }),
    );

    expect(err.code).toBe('PCL_MASTER_KEY_MISSING');
    expect(err.message).toContain('no such file');
  });

  const k32 = randomBytes(32);
  const INVALID: [string, string][] = [
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['64 bytes', randomBytes(64).toString('base64')],
    ['no padding', k32.toString('base64').slice(0, 43)],
    ['base64url spelling', k32.toString('base64url').slice(0, 42) + '-_='],
    ['hex instead of base64', k32.toString('hex')],
    [
      'a space inside',
      `${k32.toString('base64').slice(0, 20)} ${k32.toString('base64').slice(20)}`,
    ],
    ['a character base64 does not have', `${k32.toString('base64').slice(0, 42)}*=`],
    // 'B' and 'A' differ only in the bits past the 32nd byte: a second spelling of one key.
    [
      'unused bits set in the last character',
      `${Buffer.alloc(32).toString('base64').slice(0, 42)}B=`,
    ],
    ['a passphrase', 'correct horse battery staple, 44 characters'],
    ['empty', ''],
    ['only whitespace', '   \n'],
  ];

  it.each(INVALID)(
    'refuses a key in the environment that is %s, without echoing it',
    async (_, value) => {
      const err = await failure(() =>
        loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: value }, devMode: true }),
      );

      expect(err.code).toBe('PCL_MASTER_KEY_INVALID');
      if (value.trim().length > 3) expect(err.message).not.toContain(value.trim());
      expect(err.message).toContain('openssl rand -base64 32');
    },
  );

  it.each(INVALID)('refuses a key file that is %s, without echoing it', async (_, value) => {
    const { path } = keyFile(value);

    const err = await failure(() => loadMasterKey({ env: {}, file: path, devMode: true }));

    expect(err.code).toBe('PCL_MASTER_KEY_INVALID');
    if (value.trim().length > 3) expect(err.message).not.toContain(value.trim());
  });

  it('refuses a key file far larger than a key', async () => {
    const { path } = keyFile(`${base64Key()}\n`.repeat(100));

    const err = await failure(() => loadMasterKey({ env: {}, file: path, devMode: false }));

    expect(err.code).toBe('PCL_MASTER_KEY_INVALID');
  });

  it('warns when the key file is readable by other users', () => {
    const { path } = keyFile(base64Key(), 0o644);
    const warnings: string[] = [];

    loadMasterKey({
      env: {},
      file: path,
      devMode: false,
      log: { warn: (_f, message) => warnings.push(message) },
    });

    expect(warnings).toEqual([expect.stringContaining('chmod 600')]);
  });

  it('in dev mode, generates a throwaway key and warns through the logger at every start', () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      redactHeaders: [],
      destination: { write: (line: string) => lines.push(line) },
    });

    const first = loadMasterKey({ env: {}, devMode: true, log });
    const second = loadMasterKey({ env: {}, devMode: true, log });

    expect(first.ephemeral).toBe(true);
    expect(first.id).toMatch(/^dev-[0-9a-f]{16}$/);
    expect(second.id).not.toBe(first.id);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry.level).toBe('warn');
      expect(entry.msg).toContain('lost when the process stops');
      // The warning names the key by id only: no base64 key in it.
      expect(line).not.toMatch(/[A-Za-z0-9+/]{43}=/);
    }
  });

  it('in dev mode, uses a key that is set and does not warn', () => {
    const warnings: string[] = [];

    const key = loadMasterKey({
      env: { PORTCULLIS_MASTER_KEY: base64Key() },
      devMode: true,
      log: { warn: (_f, message) => warnings.push(message) },
    });

    expect(key.ephemeral).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('never shows the key through JSON, inspect, String or its properties', () => {
    const raw = randomBytes(32);
    const forms = [raw.toString('base64'), raw.toString('hex'), raw.toString('base64url')];
    const key = MasterKey.fromBytes(Buffer.from(raw));

    const shown = [
      JSON.stringify(key),
      inspect(key, { showHidden: true, depth: 10 }),
      String(key),
      JSON.stringify(Object.getOwnPropertyNames(key).map((p) => [p, String(Reflect.get(key, p))])),
    ].join('\n');

    expect(shown).toContain(key.id);
    for (const form of forms) expect(shown).not.toContain(form);
  });
});

describe.each(BACKENDS)('key ring on %s', (backend) => {
  let databases: TestDatabase[] = [];
  async function fresh(): Promise<{ database: TestDatabase; db: Db }> {
    const database = await createTestDatabase(backend);
    databases.push(database);
    const db = await database.open();
    await migrate(db, MIGRATIONS);
    return { database, db };
  }
  afterEach(async () => {
    await Promise.all(databases.map((d) => d.cleanup()));
    databases = [];
  });

  it('round-trips any bytes for any table, row and column', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const text = fc.string({ minLength: 1, unit: 'binary' });

    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        text,
        text,
        text,
        async (bytes, table, row, column) => {
          const ad = { table, row, column };
          const ciphertext = ring.encrypt(Buffer.from(bytes), ad);

          expect(ciphertext).toMatch(FORMAT);
          expect((await ring.decrypt(ciphertext, ad)).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('encrypts a string as UTF-8 and never leaves the plaintext in the ciphertext', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const value = 'sk_live_ünïcødé-🔑-credential';

    const ciphertext = ring.encrypt(value, AD);

    expect(ciphertext.split('.')[1]).toBe(ring.activeKeyId);
    expect(ciphertext).not.toContain('sk_live');
    expect((await ring.decrypt(ciphertext, AD)).toString('utf8')).toBe(value);
  });

  it('draws a fresh IV for each of 10,000 encryptions of the same value', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());

    const ivs = new Set<string>();
    const ciphertexts = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const c = ring.encrypt('same value', AD);
      ivs.add(c.split('.')[2] as string);
      ciphertexts.add(c);
    }

    expect(ivs.size).toBe(10_000);
    expect(ciphertexts.size).toBe(10_000);
  });

  it('opens a store whose data keys were wrapped under another master key only to refuse it', async () => {
    const { db } = await fresh();
    await KeyRing.open(db, newKey());

    const err = await failure(() => KeyRing.open(db, newKey()));

    expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
  });

  it('refuses a data key whose wrapped bytes were altered', async () => {
    const { db } = await fresh();
    const master = newKey();
    const ring = await KeyRing.open(db, master);
    const rows = await db.query<{ wrapped: Uint8Array }>('SELECT wrapped FROM data_keys');
    const wrapped = Buffer.from(rows[0]?.wrapped ?? []);
    wrapped[20] = (wrapped[20] ?? 0) ^ 1;
    await db.run('UPDATE data_keys SET wrapped = $1 WHERE id = $2', [wrapped, ring.activeKeyId]);

    const err = await failure(() => KeyRing.open(db, master));

    expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
  });

  it('refuses a wrapped data key copied under another key id', async () => {
    const { db } = await fresh();
    const master = newKey();
    const ring = await KeyRing.open(db, master);
    const first = ring.activeKeyId;
    const second = await ring.rotateDataKey();
    const rows = await db.query<{ wrapped: Uint8Array }>(
      'SELECT wrapped FROM data_keys WHERE id = $1',
      [first],
    );
    await db.run('UPDATE data_keys SET wrapped = $1 WHERE id = $2', [
      Buffer.from(rows[0]?.wrapped ?? []),
      second,
    ]);

    const err = await failure(() => KeyRing.open(db, master));

    expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
  });

  it('fails on every single-bit flip of the IV, ciphertext or tag', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const ciphertext = ring.encrypt('s3cr3t-upstream-password', AD);
    const [version, keyId, iv, sealed] = ciphertext.split('.') as [string, string, string, string];
    const raw = Buffer.concat([Buffer.from(iv, 'base64url'), Buffer.from(sealed, 'base64url')]);
    const expected = await failure(() => ring.decrypt(ciphertext, { ...AD, row: 'other' }));

    await fc.assert(
      fc.asyncProperty(fc.nat({ max: raw.length - 1 }), fc.nat({ max: 7 }), async (pos, bit) => {
        const flipped = Buffer.from(raw);
        flipped[pos] = (flipped[pos] ?? 0) ^ (1 << bit);
        const altered = [
          version,
          keyId,
          flipped.subarray(0, 12).toString('base64url'),
          flipped.subarray(12).toString('base64url'),
        ].join('.');

        expect(await failure(() => ring.decrypt(altered, AD))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('fails on every single-bit flip of the encoded string', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const ciphertext = ring.encrypt('s3cr3t-upstream-password', AD);
    const expected = await failure(() => ring.decrypt(ciphertext, { ...AD, row: 'other' }));

    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: ciphertext.length - 1 }),
        fc.nat({ max: 15 }),
        async (pos, bit) => {
          const code = ciphertext.charCodeAt(pos) ^ (1 << bit);
          const altered =
            ciphertext.slice(0, pos) + String.fromCharCode(code) + ciphertext.slice(pos + 1);

          expect(await failure(() => ring.decrypt(altered, AD))).toEqual(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });

  const MOVED: [string, AssociatedData, AssociatedData][] = [
    ['another row', AD, { ...AD, row: 'billing-api-2' }],
    ['a row differing in case', AD, { ...AD, row: 'Billing-api' }],
    ['another column', AD, { ...AD, column: 'previous_ciphertext' }],
    ['another table', AD, { ...AD, table: 'webhooks' }],
    ['table and column swapped', AD, { table: AD.column, row: AD.row, column: AD.table }],
    [
      'the same text split differently',
      { table: 'secrets', row: 'billing.x', column: 'ciphertext' },
      { table: 'secrets.billing', row: 'x', column: 'ciphertext' },
    ],
    // UTF-8 would turn both into U+FFFD: the associated data must not.
    [
      'a row with U+FFFD where a lone surrogate was',
      { ...AD, row: 'r\uD800' },
      { ...AD, row: 'r\uFFFD' },
    ],
  ];

  it.each(MOVED)('refuses a ciphertext moved to %s', async (_, source, target) => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const ciphertext = ring.encrypt('value', source);
    await expect(ring.decrypt(ciphertext, source)).resolves.toBeInstanceOf(Buffer);

    const err = await failure(() => ring.decrypt(ciphertext, target));

    expect(err.code).toBe('PCL_DECRYPT_FAILED');
  });

  it('refuses malformed, truncated and unknown values with one and the same error', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const good = ring.encrypt('value', AD);
    const [, keyId, iv, sealed] = good.split('.') as [string, string, string, string];
    const reference = await failure(() => ring.decrypt(good, { ...AD, row: 'elsewhere' }));
    const otherStore = await KeyRing.open((await fresh()).db, newKey());

    const hostile: [string, unknown][] = [
      ['empty', ''],
      ['the version alone', 'pcl1'],
      ['the version and key id', `pcl1.${keyId}`],
      ['no ciphertext', `pcl1.${keyId}.${iv}`],
      ['an empty ciphertext', `pcl1.${keyId}.${iv}.`],
      ['truncated by one character', good.slice(0, -1)],
      ['truncated to a short tag', good.slice(0, -8)],
      ['tag only', `pcl1.${keyId}.${iv}.${sealed.slice(-22)}`],
      ['an extra part', `${good}.AAAA`],
      ['trailing whitespace', `${good} `],
      ['a trailing newline', `${good}\n`],
      ['an unknown version', `pcl2.${keyId}.${iv}.${sealed}`],
      ['an upper-case version', `PCL1.${keyId}.${iv}.${sealed}`],
      ['an upper-case key id', `pcl1.${keyId.toUpperCase()}.${iv}.${sealed}`],
      ['an unknown key id', `pcl1.${randomBytes(8).toString('hex')}.${iv}.${sealed}`],
      ['padding added', `pcl1.${keyId}.${iv}.${sealed}==`],
      [
        'standard base64 characters',
        `pcl1.${keyId}.${iv}.${sealed.replace(/-/g, '+').replace(/_/g, '/')}x+/`,
      ],
      ['a short IV', `pcl1.${keyId}.${iv.slice(0, 12)}.${sealed}`],
      ['a long IV', `pcl1.${keyId}.${iv}AAAA.${sealed}`],
      ['another store’s value', otherStore.encrypt('value', AD)],
      ['garbage', 'not a ciphertext at all'],
      ['dots only', '...'],
      ['a very long string', `pcl1.${keyId}.${iv}.${'A'.repeat(1_000_000)}`],
      ['a number', 42],
      ['null', null],
    ];

    for (const [name, value] of hostile) {
      const err = await failure(() => ring.decrypt(value as string, AD));
      expect({ name, ...err }).toEqual({ name, ...reference });
    }
    expect(reference.code).toBe('PCL_DECRYPT_FAILED');
  });

  it('rotates the data key: new values use the new key, old values still decrypt', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const before = ring.activeKeyId;
    const old = ring.encrypt('old value', AD);

    const after = await ring.rotateDataKey();
    const fresh2 = ring.encrypt('new value', AD);

    expect(after).not.toBe(before);
    expect(ring.activeKeyId).toBe(after);
    expect(fresh2.split('.')[1]).toBe(after);
    expect((await ring.decrypt(old, AD)).toString()).toBe('old value');
    expect((await ring.decrypt(fresh2, AD)).toString()).toBe('new value');
    const rows = await db.query<{ id: string; retired_at: unknown }>(
      'SELECT id, retired_at FROM data_keys',
    );
    expect(rows.filter((r) => r.retired_at === null).map((r) => r.id)).toEqual([after]);
  });

  it('reads a data key another node created after this node opened', async () => {
    const { database, db } = await fresh();
    const master = newKey();
    const nodeA = await KeyRing.open(db, master);
    const nodeB = await KeyRing.open(await database.open(), master);

    await nodeB.rotateDataKey();
    const value = nodeB.encrypt('from node B', AD);

    expect((await nodeA.decrypt(value, AD)).toString()).toBe('from node B');
    await nodeA.refresh();
    expect(nodeA.activeKeyId).toBe(nodeB.activeKeyId);
  });

  it('stores data keys only wrapped: no row holds a key that decrypts a value', async () => {
    const { db } = await fresh();
    const ring = await KeyRing.open(db, newKey());
    const rows = await db.query<{ wrapped: Uint8Array; master_key_id: string }>(
      'SELECT wrapped, master_key_id FROM data_keys',
    );

    expect(rows).toHaveLength(1);
    expect(rows[0]?.master_key_id).toBe(ring.masterKeyId);
    expect(Buffer.from(rows[0]?.wrapped ?? []).length).toBe(1 + 12 + 32 + 16);
  });

  describe('master key rotation', () => {
    it('keeps a live reader decrypting, lets the new key read everything and the old key nothing', async () => {
      const { database, db } = await fresh();
      const oldKey = newKey();
      const nextKey = newKey();
      const liveDb = await database.open();
      const live = await KeyRing.open(liveDb, oldKey);
      const values = Array.from({ length: 20 }, (_, i) => `secret-${i}`);
      const first = values.slice(0, 10).map((v, i) => live.encrypt(v, { ...AD, row: `r${i}` }));
      await live.rotateDataKey();
      const second = values.slice(10).map((v, i) => live.encrypt(v, { ...AD, row: `r${i + 10}` }));
      const all = [...first, ...second];

      // Decrypt continuously while the rotation runs on another connection.
      let reading = true;
      let reads = 0;
      const reader = (async () => {
        while (reading) {
          const i = reads % all.length;
          expect((await live.decrypt(all[i] as string, { ...AD, row: `r${i}` })).toString()).toBe(
            values[i],
          );
          reads += 1;
          // Decrypting from memory never waits on I/O: give the rotation's queries their turn.
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const result = await rotateMaster(db, oldKey, nextKey);
      reading = false;
      await reader;

      expect(result).toEqual({ rewrapped: 2, alreadyNew: 0, lost: 0 });
      expect(reads).toBeGreaterThan(0);
      // The live reader still decrypts, and what it encrypts now the new key reads.
      for (const [i, c] of all.entries()) {
        expect((await live.decrypt(c, { ...AD, row: `r${i}` })).toString()).toBe(values[i]);
      }
      const late = live.encrypt('written after the rotation', AD);

      const restarted = await KeyRing.open(await database.open(), nextKey);
      for (const [i, c] of all.entries()) {
        expect((await restarted.decrypt(c, { ...AD, row: `r${i}` })).toString()).toBe(values[i]);
      }
      expect((await restarted.decrypt(late, AD)).toString()).toBe('written after the rotation');

      const withOld = await failure(() => KeyRing.open(db, oldKey));
      expect(withOld.code).toBe('PCL_MASTER_KEY_MISMATCH');
      const ids = await db.query<{ master_key_id: string }>('SELECT master_key_id FROM data_keys');
      expect(ids.map((r) => r.master_key_id)).toEqual([nextKey.id, nextKey.id]);
    });

    it('refuses a data key for the live reader once the master key has moved on', async () => {
      const { database, db } = await fresh();
      const oldKey = newKey();
      const live = await KeyRing.open(await database.open(), oldKey);
      await rotateMaster(db, oldKey, newKey());

      const err = await failure(() => live.rotateDataKey());

      expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
      expect(await db.query('SELECT id FROM data_keys')).toHaveLength(1);
    });

    it('is idempotent: run again, it finds every data key already under the new key', async () => {
      const { db } = await fresh();
      const oldKey = newKey();
      const nextKey = newKey();
      await KeyRing.open(db, oldKey);
      await rotateMaster(db, oldKey, nextKey);

      expect(await rotateMaster(db, oldKey, nextKey)).toEqual({
        rewrapped: 0,
        alreadyNew: 1,
        lost: 0,
      });
    });

    it('refuses, changing nothing, when a data key is wrapped under neither key', async () => {
      const { db } = await fresh();
      const oldKey = newKey();
      const stranger = newKey();
      await KeyRing.open(db, oldKey);
      await db.run(
        'INSERT INTO data_keys (id, wrapped, master_key_id, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)',
        ['00000000000000aa', stranger.wrap('00000000000000aa', randomBytes(32)), stranger.id, 1],
      );
      const before = await db.query('SELECT * FROM data_keys ORDER BY id');

      const err = await failure(() => rotateMaster(db, oldKey, newKey()));

      expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
      expect(err.message).toContain(stranger.id);
      expect(await db.query('SELECT * FROM data_keys ORDER BY id')).toEqual(before);
    });

    it('refuses, changing nothing, when the current key does not unwrap a data key it claims', async () => {
      const { db } = await fresh();
      const oldKey = newKey();
      const ring = await KeyRing.open(db, oldKey);
      await db.run('UPDATE data_keys SET wrapped = $1 WHERE id = $2', [
        Buffer.alloc(61, 1),
        ring.activeKeyId,
      ]);

      const err = await failure(() => rotateMaster(db, oldKey, newKey()));

      expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
      const rows = await db.query<{ master_key_id: string }>('SELECT master_key_id FROM data_keys');
      expect(rows.map((r) => r.master_key_id)).toEqual([oldKey.id]);
    });

    it.each([
      ['the current key', (k: MasterKey) => k],
      ['a dev-mode key', () => MasterKey.fromBytes(randomBytes(32), true)],
    ])('refuses %s as the new key', async (_, pick) => {
      const { db } = await fresh();
      const oldKey = newKey();
      await KeyRing.open(db, oldKey);

      const err = await failure(() => rotateMaster(db, oldKey, pick(oldKey)));

      expect(err.code).toBe('PCL_MASTER_KEY_INVALID');
    });
  });

  describe('dev mode', () => {
    it('starts again with a new throwaway key; what the old one encrypted is lost', async () => {
      const { db } = await fresh();
      const first = await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32), true));
      const value = first.encrypt('dev secret', AD);

      const second = await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32), true));

      expect(second.activeKeyId).not.toBe(first.activeKeyId);
      expect((await failure(() => second.decrypt(value, AD))).code).toBe('PCL_DECRYPT_FAILED');
    });

    it('refuses a store whose data keys a real master key wrapped', async () => {
      const { db } = await fresh();
      await KeyRing.open(db, newKey());

      const err = await failure(() => KeyRing.open(db, MasterKey.fromBytes(randomBytes(32), true)));

      expect(err.code).toBe('PCL_MASTER_KEY_MISMATCH');
    });

    it('leaves dev-mode data keys behind when a real master key takes over', async () => {
      const { db } = await fresh();
      await KeyRing.open(db, MasterKey.fromBytes(randomBytes(32), true));
      const real = newKey();

      const ring = await KeyRing.open(db, real);

      expect((await ring.decrypt(ring.encrypt('v', AD), AD)).toString()).toBe('v');
      expect(await rotateMaster(db, real, newKey())).toEqual({
        rewrapped: 1,
        alreadyNew: 0,
        lost: 1,
      });
    });
  });
});

describe('portcullis keys rotate-master', () => {
  interface Run {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
  }

  function rotate(config: string, newKeyFile: string, env: Record<string, string>): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'keys', 'rotate-master', '-c', config, '--new-key-file', newKeyFile],
        { timeout: 20_000, env: { PATH: process.env.PATH ?? '', ...env } },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  let dir: string;
  let config: string;
  let oldB64: string;
  let newB64: string;
  let newKeyFile: string;

  const secretValue = `cli-secret-${randomBytes(6).toString('hex')}`;
  const CONFIG = `listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  api:
    targets:
      - http://127.0.0.1:9
routes:
  - name: r
    paths: [/r]
    methods: [GET]
    upstream: api
    auth: { public: true }
state:
  store:
    sqlite:
      path: ./data/store.db
`;

  beforeAll(() => {
    dir = tempDir();
    config = join(dir, 'portcullis.yaml');
    writeFileSync(config, CONFIG);
    newB64 = base64Key();
    newKeyFile = join(dir, 'new.key');
    writeFileSync(newKeyFile, `${newB64}\n`, { mode: 0o600 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function seed(): Promise<void> {
    oldB64 = base64Key();
    rmSync(join(dir, 'data'), { recursive: true, force: true });
    const db = new SqliteDb(join(dir, 'data', 'store.db'));
    try {
      await migrate(db, MIGRATIONS);
      const ring = await KeyRing.open(db, keyOf(oldB64));
      const store = new SecretStore(db, ring);
      await store.put('billing', secretValue);
      await ring.rotateDataKey();
      await store.put('webhook', `${secretValue}-2`);
    } finally {
      await db.close();
    }
  }

  function keyOf(b64: string): MasterKey {
    return loadMasterKey({ env: { PORTCULLIS_MASTER_KEY: b64 }, devMode: false });
  }

  async function withStore<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const db = new SqliteDb(join(dir, 'data', 'store.db'));
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  it('re-wraps every data key, after which only the new key opens the store', async () => {
    await seed();

    const run = await rotate(config, newKeyFile, { PORTCULLIS_MASTER_KEY: oldB64 });

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const newId = keyOf(newB64).id;
    const oldId = keyOf(oldB64).id;
    expect(run.stdout).toContain(`re-wrapped 2 data key(s) from master key ${oldId} to ${newId}`);
    expect(run.stdout).toContain(`new master key id: ${newId}\n`);
    expect(run.stdout).toMatch(/PORTCULLIS_MASTER_KEY or state\.encryption\.masterKeyFile/);
    expect(run.stdout).toContain(`retire the old key ${oldId}`);
    expect(run.stdout + run.stderr).not.toContain(oldB64);
    expect(run.stdout + run.stderr).not.toContain(newB64);
    await withStore(async (db) => {
      const store = new SecretStore(db, await KeyRing.open(db, keyOf(newB64)));
      expect(await store.get('billing')).toBe(secretValue);
      expect(await store.get('webhook')).toBe(`${secretValue}-2`);
      expect((await failure(() => KeyRing.open(db, keyOf(oldB64)))).code).toBe(
        'PCL_MASTER_KEY_MISMATCH',
      );
    });
  });

  it('takes the current key from masterKeyFile, relative to the config file', async () => {
    await seed();
    writeFileSync(join(dir, 'current.key'), oldB64, { mode: 0o600 });
    const withFile = join(dir, 'with-file.yaml');
    writeFileSync(withFile, `${CONFIG}  encryption:\n    masterKeyFile: ./current.key\n`);

    const run = await rotate(withFile, newKeyFile, {});

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('re-wrapped 2 data key(s)');
  });

  it('refuses without a current master key, saying how to create one', async () => {
    await seed();

    const run = await rotate(config, newKeyFile, {});

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^PCL_MASTER_KEY_MISSING: no master key: .*openssl rand -base64 32/);
  });

  it('refuses a new key file that does not hold a key, without echoing it', async () => {
    await seed();
    const bad = join(dir, 'bad.key');
    const content = 'this-is-not-a-key-but-might-be-a-password';
    writeFileSync(bad, content, { mode: 0o600 });

    const run = await rotate(config, bad, { PORTCULLIS_MASTER_KEY: oldB64 });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^PCL_MASTER_KEY_INVALID: --new-key-file \(.*bad\.key\) is not/);
    expect(run.stderr).not.toContain(content);
  });

  it('refuses, changing nothing, when the current key is not the one the store uses', async () => {
    await seed();
    const before = await withStore((db) => db.query('SELECT * FROM data_keys ORDER BY id'));

    const run = await rotate(config, newKeyFile, { PORTCULLIS_MASTER_KEY: base64Key() });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^PCL_MASTER_KEY_MISMATCH: data key [0-9a-f]{16} is wrapped under master key/,
    );
    expect(await withStore((db) => db.query('SELECT * FROM data_keys ORDER BY id'))).toEqual(
      before,
    );
  });
});
