import { portcullis } from '../support/cli.js';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  canonicalEntry,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  type AuditEntryInput,
  type JsonObject,
} from '../../src/state/audit/audit-entry.js';
import { AuditLog } from '../../src/state/audit/audit-log.js';
import { ENTRY_COLUMNS, recordFromRow, type StoredRow } from '../../src/state/audit/audit-table.js';
import { signCheckpoint } from '../../src/state/audit/checkpoint.js';
import {
  keyIdOf,
  loadCheckpointSigningKey,
  loadCheckpointVerifyKeys,
  type CheckpointSigningKey,
} from '../../src/state/audit/checkpoint-key.js';
import { fingerprint } from '../../src/state/audit/fingerprint.js';
import { verifyAuditLog, type AuditProblem } from '../../src/state/audit/verify.js';
import { adminEvent, securityEventFromDeny } from '../../src/state/events/event.js';
import type { AuditSink } from '../../src/state/events/event-writer.js';
import type { Db, SqlValue } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import {
  BACKENDS,
  createTestDatabase,
  type Backend,
  type TestDatabase,
} from '../support/databases.js';

/** The hash-chained audit log: appending, tamper detection, checkpoints, the verify command. */

const T0 = Date.UTC(2025, 0, 1);
const N = 50;
const EVERY = 10;
const K = 17;

function newSigningKey(): CheckpointSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

const KEY = newSigningKey();
const OTHER_KEY = newSigningKey();

const ACTIONS = ['consumer.create', 'request.denied', 'key.revoke', 'config.reload'] as const;

/** Entry `i` (1-based); entry 17 has every field set, so that changing any column changes it. */
function entry(i: number): AuditEntryInput {
  return {
    time: T0 + i * 1000,
    actor: i % 3 === 0 ? 'admin:alice' : 'gateway',
    action: ACTIONS[i % ACTIONS.length] ?? 'request.denied',
    target: `consumer:c${i}`,
    decision: i % 2 === 1 ? 'deny' : 'ok',
    reason: i % 5 === 0 ? null : 'blocks.ip.denied',
    requestId: `req-${i}`,
    clientIp: '203.0.113.7',
    consumer: i % 7 === 0 ? null : `c${i}`,
    details: i % 4 === 0 ? null : { n: i, key: fingerprint(`secret-${i}`), tags: ['a', 'b'] },
  };
}

function entries(from: number, to: number): AuditEntryInput[] {
  return Array.from({ length: to - from + 1 }, (_, j) => entry(from + j));
}

/** 50 entries through single appends and batches of several sizes; checkpoints every 10. */
async function seed(db: Db, key: CheckpointSigningKey | null = KEY): Promise<AuditLog> {
  await migrate(db, MIGRATIONS);
  const log = new AuditLog(db, {
    checkpointEvery: EVERY,
    ...(key === null ? {} : { signingKey: key }),
    clock: () => T0,
  });
  await log.append(entry(1));
  await log.appendMany(entries(2, 9));
  await log.append(entry(10));
  await log.appendMany(entries(11, 33));
  await log.appendMany(entries(34, N));
  return log;
}

async function allRows(db: Db): Promise<StoredRow[]> {
  return db.query(`SELECT ${ENTRY_COLUMNS} FROM audit_log ORDER BY seq`);
}

async function rowAt(db: Db, seq: number): Promise<StoredRow> {
  const [row] = await db.query(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq = $1`, [seq]);
  if (row === undefined) throw new Error(`no row ${seq}`);
  return row;
}

/**
 * What an attacker who owns the database does first: switch off the append-only triggers.
 * Everything after this is what the chain and the checkpoints must reveal.
 */
async function asOwner(db: Db): Promise<void> {
  if (db.dialect === 'sqlite') {
    for (const t of ['audit_log', 'audit_checkpoints']) {
      await db.exec(`DROP TRIGGER IF EXISTS ${t}_no_update; DROP TRIGGER IF EXISTS ${t}_no_delete`);
    }
  } else {
    await db.exec(
      'ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER',
    );
  }
}

const CONTENT_COLUMNS = ENTRY_COLUMNS.split(', ').filter((c) => c !== 'seq');

/** Overwrites every column but seq of row `seq` with `from`'s. */
async function putContents(db: Db, seq: number, from: StoredRow): Promise<void> {
  const sets = CONTENT_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ');
  await db.run(`UPDATE audit_log SET ${sets} WHERE seq = $1`, [
    seq,
    ...CONTENT_COLUMNS.map((c) => from[c] as SqlValue),
  ]);
}

async function swapContents(db: Db, a: number, b: number): Promise<void> {
  const [ra, rb] = [await rowAt(db, a), await rowAt(db, b)];
  await putContents(db, a, rb);
  await putContents(db, b, ra);
}

/** Moves entries `from`.. up by one (two steps: the primary key never collides). */
async function shiftUp(db: Db, from: number): Promise<void> {
  await db.run('UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= $1', [from]);
  await db.run('UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000');
}

const FORGED: AuditEntryInput = {
  time: T0 + K * 1000 + 1,
  actor: 'admin:mallory',
  action: 'key.revoke',
  target: 'consumer:c1',
  decision: 'ok',
  reason: null,
  requestId: 'req-forged',
  clientIp: '198.51.100.66',
  consumer: 'c1',
  details: null,
};

async function insertForged(db: Db, seq: number, prevHash: string, hash: string): Promise<void> {
  await db.run(
    `INSERT INTO audit_log (${ENTRY_COLUMNS}) VALUES (${ENTRY_COLUMNS.split(', ')
      .map((_, i) => `$${i + 1}`)
      .join(', ')})`,
    [
      seq,
      FORGED.time ?? T0,
      FORGED.actor,
      FORGED.action,
      FORGED.target ?? null,
      FORGED.decision,
      null,
      FORGED.requestId ?? null,
      FORGED.clientIp ?? null,
      FORGED.consumer ?? null,
      null,
      prevHash,
      hash,
    ],
  );
}

function forgedHash(seq: number, prevHash: string): string {
  return entryHash(prevHash, {
    seq,
    time: FORGED.time ?? T0,
    actor: FORGED.actor,
    action: FORGED.action,
    target: FORGED.target ?? null,
    decision: FORGED.decision,
    reason: null,
    requestId: FORGED.requestId ?? null,
    clientIp: FORGED.clientIp ?? null,
    consumer: FORGED.consumer ?? null,
    details: null,
  });
}

/** Changes entry `seq`'s actor, then recomputes hashes and links from it up to `through`. */
async function rewrite(db: Db, seq: number, through: number): Promise<void> {
  const prev = seq === 1 ? GENESIS_HASH : String((await rowAt(db, seq - 1)).hash);
  let link = prev;
  for (let s = seq; s <= through; s++) {
    const record = recordFromRow(await rowAt(db, s));
    if (record === undefined) throw new Error(`row ${s} unreadable`);
    const changed = s === seq ? { ...record, actor: 'admin:mallory' } : record;
    const hash = entryHash(link, changed);
    await db.run('UPDATE audit_log SET actor = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [
      s,
      changed.actor,
      link,
      hash,
    ]);
    link = hash;
  }
}

// Entry 17, one column at a time: each change must name entry 17.
const COLUMN_CHANGES: readonly (readonly [string, SqlValue])[] = [
  ['time', T0 + K * 1000 + 1],
  ['actor', 'admin:mallory'],
  ['action', 'consumer.delete'],
  ['target', 'consumer:other'],
  ['target', null],
  ['decision', 'ok'],
  ['reason', 'limits.consumer.rate'],
  ['reason', null],
  ['request_id', 'req-18'],
  ['client_ip', '198.51.100.1'],
  ['consumer', 'c18'],
  ['consumer', null],
  ['details', '{"n":18}'],
  ['details', null],
  // The same value spelt differently: not what the log wrote.
  ['details', `{ "n": ${K}, "key": "${fingerprint(`secret-${K}`)}", "tags": ["a","b"] }`],
  ['details', 'not json'],
  ['prev_hash', 'a'.repeat(64)],
  ['prev_hash', 'not a hash'],
  ['hash', 'b'.repeat(64)],
  ['hash', ''],
];

interface Tamper {
  readonly name: string;
  readonly tamper: (db: Db) => Promise<void>;
  readonly index: number;
  readonly problem: AuditProblem;
  /** Also run through the command (one of each kind: the command is slow to start). */
  readonly cli?: boolean;
}

const TAMPERS: readonly Tamper[] = [
  ...COLUMN_CHANGES.map(([column, value]): Tamper => ({
    name: `entry ${K}'s ${column} set to ${value === null ? 'NULL' : JSON.stringify(value)}`,
    tamper: async (db) => {
      await db.run(`UPDATE audit_log SET ${column} = $1 WHERE seq = $2`, [value, K]);
    },
    index: K,
    problem: 'changed',
  })),
  {
    name: `entry ${K} moved to the end (its seq changed)`,
    tamper: async (db) => {
      await db.run('UPDATE audit_log SET seq = 1000 WHERE seq = $1', [K]);
    },
    index: K,
    problem: 'reordered',
  },
  {
    name: `entry ${K} deleted`,
    tamper: async (db) => {
      await db.run('DELETE FROM audit_log WHERE seq = $1', [K]);
    },
    index: K,
    problem: 'removed',
    cli: true,
  },
  {
    name: 'the first entry deleted',
    tamper: async (db) => {
      await db.run('DELETE FROM audit_log WHERE seq = 1');
    },
    index: 1,
    problem: 'removed',
  },
  {
    name: `entries ${K} and ${K + 1} swapped`,
    tamper: (db) => swapContents(db, K, K + 1),
    index: K,
    problem: 'reordered',
    cli: true,
  },
  {
    name: `entries ${K} and ${K + 13} swapped (across a checkpoint)`,
    tamper: (db) => swapContents(db, K, K + 13),
    index: K,
    problem: 'reordered',
  },
  {
    name: `a forged entry inserted at ${K} with a made-up hash`,
    tamper: async (db) => {
      const prev = String((await rowAt(db, K - 1)).hash);
      await shiftUp(db, K);
      await insertForged(db, K, prev, 'c'.repeat(64));
    },
    index: K,
    problem: 'inserted',
  },
  {
    name: `a forged entry inserted at ${K}, chained to entry ${K - 1}`,
    tamper: async (db) => {
      const prev = String((await rowAt(db, K - 1)).hash);
      await shiftUp(db, K);
      await insertForged(db, K, prev, forgedHash(K, prev));
    },
    index: K,
    problem: 'inserted',
    cli: true,
  },
  {
    name: `entry ${K} changed and its hash recomputed without the previous link`,
    tamper: async (db) => {
      const record = recordFromRow(await rowAt(db, K));
      if (record === undefined) throw new Error('unreadable');
      const changed = { ...record, actor: 'admin:mallory' };
      const hash = createHash('sha256').update(canonicalEntry(changed)).digest('hex');
      await db.run('UPDATE audit_log SET actor = $1, hash = $2 WHERE seq = $3', [
        changed.actor,
        hash,
        K,
      ]);
    },
    index: K,
    problem: 'changed',
  },
  {
    name: `entry ${K} changed and its hash recomputed with the link (entry ${K + 1} no longer links)`,
    tamper: (db) => rewrite(db, K, K),
    index: K,
    problem: 'changed',
    cli: true,
  },
  {
    name: `entry ${K} changed and every later hash recomputed (only checkpoint 20 disagrees)`,
    tamper: (db) => rewrite(db, K, N),
    index: 11,
    problem: 'rewritten',
    cli: true,
  },
  {
    name: 'the whole chain recomputed from entry 1',
    tamper: (db) => rewrite(db, 1, N),
    index: 1,
    problem: 'rewritten',
  },
  {
    name: "checkpoint 30's signature altered",
    tamper: async (db) => {
      const [cp] = await db.query<{ signature: string }>(
        'SELECT signature FROM audit_checkpoints WHERE seq = 30',
      );
      const sig = Buffer.from(cp?.signature ?? '', 'base64');
      sig[10] = (sig[10] ?? 0) ^ 1;
      await db.run('UPDATE audit_checkpoints SET signature = $1 WHERE seq = 30', [
        sig.toString('base64'),
      ]);
    },
    index: 30,
    problem: 'bad-checkpoint-signature',
    cli: true,
  },
  {
    name: "checkpoint 30's hash replaced",
    tamper: async (db) => {
      await db.run('UPDATE audit_checkpoints SET hash = $1 WHERE seq = 30', ['d'.repeat(64)]);
    },
    index: 30,
    problem: 'bad-checkpoint-signature',
  },
  {
    name: 'checkpoint 30 re-signed with a key the verifier does not hold',
    tamper: async (db) => {
      const hash = String((await rowAt(db, 30)).hash);
      const cp = signCheckpoint(OTHER_KEY, 30, hash, T0);
      await db.run('UPDATE audit_checkpoints SET signature = $1, key_id = $2 WHERE seq = 30', [
        cp.signature,
        cp.keyId,
      ]);
    },
    index: 30,
    problem: 'bad-checkpoint-signature',
  },
  {
    name: 'a forged checkpoint beyond the end of the log',
    tamper: async (db) => {
      await db.run(
        'INSERT INTO audit_checkpoints (seq, hash, signature, key_id, time) VALUES (60, $1, $2, $3, $4)',
        ['e'.repeat(64), Buffer.alloc(64).toString('base64'), KEY.keyId, T0],
      );
    },
    index: 60,
    problem: 'bad-checkpoint-signature',
  },
  {
    name: 'entries 45 to 50 deleted (checkpoint 50 remains)',
    tamper: async (db) => {
      await db.run('DELETE FROM audit_log WHERE seq >= 45');
    },
    index: 45,
    problem: 'truncated',
    cli: true,
  },
  {
    name: 'entries 41 to 50 deleted (checkpoint 50 remains)',
    tamper: async (db) => {
      await db.run('DELETE FROM audit_log WHERE seq > 40');
    },
    index: 41,
    problem: 'truncated',
  },
  {
    name: 'every entry deleted (the checkpoints remain)',
    tamper: async (db) => {
      await db.run('DELETE FROM audit_log');
    },
    index: 1,
    problem: 'truncated',
  },
];

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-audit-'));
  dirs.push(dir);
  return dir;
}

/** A config for `database`, with the checkpoint key (relative to the config file) when given. */
function writeConfig(database: TestDatabase, keyPem?: string): string {
  const dir = tempDir();
  const store =
    database.storeConfig.backend === 'sqlite'
      ? `backend: sqlite\n    sqlite: { path: ${JSON.stringify(database.storeConfig.sqlite.path)} }`
      : `backend: postgres\n    postgres: { url: ${JSON.stringify(database.storeConfig.postgres.url)} }`;
  if (keyPem !== undefined) writeFileSync(join(dir, 'audit-key.pem'), keyPem, { mode: 0o600 });
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(
    file,
    `listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  api:
    targets: [http://127.0.0.1:9]
routes:
  - name: r
    paths: [/r]
    methods: [GET]
    upstream: api
    auth: { public: true }
state:
  store:
    ${store}
  audit:
    checkpointEvery: ${EVERY}
${keyPem === undefined ? '' : '    checkpointKeyFile: audit-key.pem\n'}`,
  );
  return file;
}

const VERIFY_KEYS = [{ keyId: KEY.keyId, publicKey: KEY.publicKey }];

describe.each(BACKENDS)('the audit log on %s', (backend: Backend) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.cleanup();
    database = undefined;
  });
  async function fresh(): Promise<Db> {
    database = await createTestDatabase(backend);
    return database.open();
  }

  it('verifies a chain of 50 entries with its 5 signed checkpoints', async () => {
    const db = await fresh();
    await seed(db);

    expect(await verifyAuditLog(db, VERIFY_KEYS)).toEqual({
      ok: true,
      entries: N,
      checkpoints: 5,
      lastCheckpoint: 50,
      signaturesChecked: true,
      warnings: [],
    });
  });

  it('stores each entry exactly as append returned it, linked to the one before', async () => {
    const db = await fresh();
    await migrate(db, MIGRATIONS);
    const log = new AuditLog(db, { clock: () => T0 });

    const first = await log.append(entry(1));
    const second = await log.append(entry(2));
    const third = await log.append({ ...entry(3), time: undefined });

    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, actor: 'gateway' });
    expect(second.prevHash).toBe(first.hash);
    expect(third).toMatchObject({ seq: 3, time: T0, prevHash: second.hash });
    expect((await allRows(db)).map(recordFromRow)).toEqual([first, second, third]);
  });

  it("records the event pipeline's security and admin events as they are handed over", async () => {
    const db = await fresh();
    await migrate(db, MIGRATIONS);
    // The pipeline's own interface: the audit log is what it is given.
    const sink: AuditSink = new AuditLog(db, { clock: () => T0 });
    const deny = securityEventFromDeny(
      {
        requestId: 'req-1',
        route: 'orders',
        method: 'GET',
        path: '/orders/7',
        status: 403,
        clientIp: '203.0.113.7',
        stage: 'blocks',
        reason: 'blocks.ip.denied',
        enforced: true,
        consumer: 'acme',
      },
      T0 + 1,
    );
    const revoke = adminEvent(
      {
        action: 'key.revoke',
        decision: 'ok',
        actor: 'alice',
        requestId: 'req-2',
        clientIp: '198.51.100.2',
        details: { key: fingerprint('pk_live_4f9a8b7c6d5e4f3a2b1c'), consumer: 'acme' },
      },
      T0 + 2,
    );

    await sink.appendMany([deny, revoke, { ...revoke, action: '', decision: '', time: 1.5 }]);

    const rows = (await allRows(db)).map(recordFromRow);
    expect(rows[0]).toMatchObject({
      seq: 1,
      time: T0 + 1,
      actor: 'gateway:blocks',
      action: 'request.denied',
      target: '/orders/7',
      decision: 'deny',
      reason: 'blocks.ip.denied',
      requestId: 'req-1',
      clientIp: '203.0.113.7',
      consumer: 'acme',
      details: { kind: 'security', route: 'orders', method: 'GET', status: 403, stage: 'blocks' },
    });
    expect(rows[1]).toMatchObject({
      seq: 2,
      actor: 'alice',
      action: 'key.revoke',
      target: null,
      decision: 'ok',
      consumer: null,
      details: {
        kind: 'admin',
        details: { key: fingerprint('pk_live_4f9a8b7c6d5e4f3a2b1c'), consumer: 'acme' },
      },
    });
    // An odd event is still recorded, never a poison batch the pipeline retries forever.
    expect(rows[2]).toMatchObject({ seq: 3, time: T0, action: 'unknown', decision: 'unknown' });
    expect(JSON.stringify(rows)).not.toContain('pk_live');
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true, entries: 3 });
  });

  it.each(TAMPERS)('names the first bad entry when $name', async ({ tamper, index, problem }) => {
    const db = await fresh();
    await seed(db);
    await asOwner(db);

    await tamper(db);

    // A small page: the walk crosses page boundaries around the tampered entry.
    const result = await verifyAuditLog(db, VERIFY_KEYS, { pageSize: 16 });
    expect(result).toMatchObject({ ok: false, index, problem });
  });

  it('portcullis audit-log verify exits 0 on an intact log', async () => {
    const db = await fresh();
    await seed(db);
    await db.close();
    if (database === undefined) throw new Error('no database');

    const run = await portcullis([
      'audit-log',
      'verify',
      '-c',
      writeConfig(database, pem(KEY.privateKey)),
    ]);

    expect(run).toEqual({
      code: 0,
      stdout: `audit log OK: ${N} entries, 5 checkpoints\n`,
      stderr: '',
    });
  });

  it('refuses to update or delete entries and checkpoints (append-only in the store)', async () => {
    const db = await fresh();
    await seed(db);
    const attempts = [
      "UPDATE audit_log SET actor = 'admin:mallory' WHERE seq = 3",
      'DELETE FROM audit_log WHERE seq = 50',
      'DELETE FROM audit_log',
      "UPDATE audit_checkpoints SET hash = 'x' WHERE seq = 10",
      'DELETE FROM audit_checkpoints',
      ...(backend === 'postgres' ? ['TRUNCATE audit_log', 'TRUNCATE audit_checkpoints'] : []),
    ];

    for (const sql of attempts) {
      await expect(db.run(sql), sql).rejects.toMatchObject({
        code: 'PCL_STORE_QUERY_FAILED',
        message: expect.stringMatching(/append-only/) as unknown,
      });
    }
    expect(await verifyAuditLog(db, VERIFY_KEYS)).toMatchObject({ ok: true, entries: N });
  });

  it('keeps one chain when two writers append 200 entries each at the same time', async () => {
    await fresh();
    if (database === undefined) throw new Error('no database');
    const [a, b] = [await database.open(), await database.open()];
    await migrate(a, MIGRATIONS);
    const writer = (db: Db, name: string): Promise<void> => {
      const log = new AuditLog(db, { checkpointEvery: 25, signingKey: KEY });
      return (async () => {
        for (let i = 0; i < 200;) {
          const n = i % 3 === 0 ? 1 : 1 + (i % 9);
          const batch = Array.from({ length: Math.min(n, 200 - i) }, (_, j) => ({
            ...entry(i + j + 1),
            actor: name,
          }));
          if (batch.length === 1 && batch[0] !== undefined) await log.append(batch[0]);
          else await log.appendMany(batch);
          i += batch.length;
        }
      })();
    };

    await Promise.all([writer(a, 'node-a'), writer(b, 'node-b')]);

    expect(await verifyAuditLog(a, VERIFY_KEYS)).toMatchObject({
      ok: true,
      entries: 400,
      checkpoints: 16,
    });
    const byActor = await a.query<{ actor: string; n: number }>(
      'SELECT actor, COUNT(*) AS n FROM audit_log GROUP BY actor ORDER BY actor',
    );
    expect(byActor.map((r) => [r.actor, Number(r.n)])).toEqual([
      ['node-a', 200],
      ['node-b', 200],
    ]);
  });

  it('records hostile text so that the entry still verifies (NUL, lone surrogates, 100 KB)', async () => {
    const db = await fresh();
    await migrate(db, MIGRATIONS);
    const log = new AuditLog(db);
    const hostile = `/a\u0000b\ud800c\udc00d${'x'.repeat(100_000)}`;

    const record = await log.append({
      actor: 'gateway',
      action: 'request.denied',
      target: hostile,
      decision: 'deny',
      reason: 'normalize.path.control_char',
      requestId: '\ud83d',
      clientIp: '198.51.100.9',
      consumer: null,
      details: { path: '\u0000\ud800', '\ud800': 1 },
    });

    expect(record.target).toHaveLength(1024);
    expect(record.target?.startsWith('/a\ufffdb\ufffdc\ufffdd')).toBe(true);
    expect(record.target?.endsWith('…')).toBe(true);
    expect(record.requestId).toBe('\ufffd');
    expect(recordFromRow(await rowAt(db, 1))).toEqual(record);
    expect(await verifyAuditLog(db)).toMatchObject({ ok: true, entries: 1 });
  });

  it('writes nothing of a batch that holds an invalid entry', async () => {
    const db = await fresh();
    await seed(db);
    const invalid: readonly AuditEntryInput[] = [
      { ...entry(51), details: { n: Number.NaN } },
      { ...entry(51), details: { when: new Date() } as unknown as JsonObject },
      { ...entry(51), details: { big: 'x'.repeat(17_000) } },
      { ...entry(51), actor: '' },
      { ...entry(51), time: -1 },
      { ...entry(51), time: 1.5 },
      { ...entry(51), target: 42 as unknown as string },
    ];
    const log = new AuditLog(db, { checkpointEvery: EVERY, signingKey: KEY });

    for (const bad of invalid) {
      await expect(log.appendMany([entry(51), bad])).rejects.toMatchObject({
        code: 'PCL_AUDIT_ENTRY_INVALID',
      });
    }
    expect(await verifyAuditLog(db, VERIFY_KEYS)).toMatchObject({ ok: true, entries: N });
  });

  it('writes no checkpoint without a key, and verify warns that none vouches for the log', async () => {
    const db = await fresh();
    await seed(db, null);

    const result = await verifyAuditLog(db, VERIFY_KEYS);

    expect(result).toMatchObject({ ok: true, entries: N, checkpoints: 0, lastCheckpoint: null });
    expect(result.ok && result.warnings).toEqual([
      expect.stringMatching(/^no signed checkpoint vouches for the log/) as unknown,
    ]);
  });

  it('warns that checkpoints were not checked when the verifier has no key', async () => {
    const db = await fresh();
    await seed(db);

    const result = await verifyAuditLog(db);

    expect(result).toMatchObject({ ok: true, checkpoints: 5, signaturesChecked: false });
    expect(result.ok && result.warnings).toEqual([
      expect.stringMatching(/^5 checkpoint\(s\) not checked/) as unknown,
    ]);
  });

  it('refuses checkpoints signed with a key the verifier does not hold', async () => {
    const db = await fresh();
    await seed(db);

    expect(
      await verifyAuditLog(db, [{ keyId: OTHER_KEY.keyId, publicKey: OTHER_KEY.publicKey }]),
    ).toMatchObject({ ok: false, index: 10, problem: 'bad-checkpoint-signature' });
  });

  it('hands each checkpoint to onCheckpoint after the commit', async () => {
    const db = await fresh();
    await migrate(db, MIGRATIONS);
    const seen: number[] = [];
    const log = new AuditLog(db, {
      checkpointEvery: 4,
      signingKey: KEY,
      onCheckpoint: (cp) => {
        seen.push(cp.seq);
        throw new Error('a failing witness does not fail the append');
      },
    });

    await log.appendMany(entries(1, 9));

    expect(seen).toEqual([4, 8]);
  });
});

// The command, as an operator runs it, against a SQLite store in a temp dir: one tampering of
// each kind (the table above runs them all in process, on both backends).
const CLI_TAMPERS = TAMPERS.filter((t) => t.cli === true);
describe('portcullis audit-log verify', () => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.cleanup();
    database = undefined;
  });

  it.each(CLI_TAMPERS)(
    'exits 1 naming the first bad entry when $name',
    async ({ tamper, index, problem }) => {
      database = await createTestDatabase('sqlite');
      const db = await database.open();
      await seed(db);
      await asOwner(db);
      await tamper(db);
      await db.close();

      const run = await portcullis([
        'audit-log',
        'verify',
        '-c',
        writeConfig(database, pem(KEY.privateKey)),
      ]);

      expect(run.code).toBe(1);
      expect(run.stdout).toBe(`audit log BROKEN at entry ${index}: ${problem}\n`);
      expect(run.stderr).toMatch(/^PCL_AUDIT_CHAIN_BROKEN: .+; see docs\/audit\.md\n$/);
    },
  );
});

describe('the audit entry', () => {
  const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

  it('serializes details the same whatever the key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), json), (details) => {
        const reversed = Object.fromEntries(Object.entries(details).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(details));
        expect(canonicalJson(JSON.parse(canonicalJson(details)))).toBe(canonicalJson(details));
      }),
    );
  });

  it('hashes the previous hash followed by the canonical entry', () => {
    const e = {
      seq: 1,
      time: T0,
      actor: 'cli',
      action: 'config.reload',
      target: null,
      decision: 'ok',
      reason: null,
      requestId: null,
      clientIp: null,
      consumer: null,
      details: { b: 1, a: [true, null] },
    };
    const canonical =
      '{"action":"config.reload","actor":"cli","clientIp":null,"consumer":null,"decision":"ok",' +
      '"details":{"a":[true,null],"b":1},"reason":null,"requestId":null,"seq":1,"target":null,' +
      `"time":${T0}}`;

    expect(canonicalEntry(e)).toBe(canonical);
    expect(entryHash(GENESIS_HASH, e)).toBe(
      createHash('sha256')
        .update(GENESIS_HASH + canonical)
        .digest('hex'),
    );
  });

  it.each([
    ['an API key', 'pk_live_4f9a8b7c6d5e4f3a2b1c'],
    ['a bearer token', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjMSJ9.c2lnbmF0dXJl'],
  ])('fingerprints %s without revealing it', (_what, secret) => {
    const fp = fingerprint(secret);

    expect(fp).toMatch(/^fp:[0-9a-f]{12}$/);
    expect(fp).toBe(fingerprint(Buffer.from(secret)));
    expect(fp).not.toBe(fingerprint(`${secret}x`));
    expect(fp.includes(secret.slice(0, 6))).toBe(false);
  });
});

describe('the checkpoint key', () => {
  function keyFiles(files: Record<string, string>): string {
    const dir = tempDir();
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return join(dir, 'audit-key.pem');
  }
  const publicPem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();

  it('derives the public key from the private key file', () => {
    const file = keyFiles({ 'audit-key.pem': pem(KEY.privateKey) });

    expect(loadCheckpointSigningKey(file).keyId).toBe(KEY.keyId);
    expect(loadCheckpointVerifyKeys(file).map((k) => k.keyId)).toEqual([KEY.keyId]);
  });

  it('accepts every public key in the .pub beside it (an auditor, a rotated key)', () => {
    const onlyPub = keyFiles({
      'audit-key.pem.pub': publicPem(OTHER_KEY.publicKey) + publicPem(KEY.publicKey),
    });
    const both = keyFiles({
      'audit-key.pem': pem(KEY.privateKey),
      'audit-key.pem.pub': publicPem(OTHER_KEY.publicKey) + publicPem(KEY.publicKey),
    });

    expect(loadCheckpointVerifyKeys(onlyPub).map((k) => k.keyId)).toEqual([
      OTHER_KEY.keyId,
      KEY.keyId,
    ]);
    expect(loadCheckpointVerifyKeys(both).map((k) => k.keyId)).toEqual([
      KEY.keyId,
      OTHER_KEY.keyId,
    ]);
  });

  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  it.each([
    ['no key file at all', {}],
    ['an RSA private key', { 'audit-key.pem': pem(rsa.privateKey) }],
    ['an EC private key', { 'audit-key.pem': pem(ec.privateKey) }],
    ['a public key where the private key belongs', { 'audit-key.pem': publicPem(KEY.publicKey) }],
    ['garbage', { 'audit-key.pem': 'not a key\n' }],
    ['a .pub without a public key', { 'audit-key.pem.pub': pem(KEY.privateKey) }],
    ['a .pub with an RSA key', { 'audit-key.pem.pub': publicPem(rsa.publicKey) }],
  ])('refuses %s with PCL_AUDIT_KEY_INVALID and no key material', (_what, files) => {
    const file = keyFiles(files);
    let error: unknown;
    try {
      loadCheckpointVerifyKeys(file);
    } catch (err) {
      error = err;
    }

    expect(error).toMatchObject({ code: 'PCL_AUDIT_KEY_INVALID' });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).not.toMatch(/BEGIN|MC4CAQ/);
  });

  it('portcullis audit-log verify exits 1 when the configured key is missing', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const file = writeConfig(database, pem(KEY.privateKey));
      rmSync(join(file, '..', 'audit-key.pem'));

      const run = await portcullis(['audit-log', 'verify', '-c', file]);

      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^PCL_AUDIT_KEY_INVALID: audit checkpoint key: neither .+\n$/);
    } finally {
      await database.cleanup();
    }
  });

  it('portcullis audit-log verify warns, and exits 0, when no key is configured', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const db = await database.open();
      await seed(db, null);
      await db.close();

      const run = await portcullis(['audit-log', 'verify', '-c', writeConfig(database)]);

      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`audit log OK: ${N} entries, 0 checkpoints\n`);
      expect(run.stderr).toMatch(/^warning: no signed checkpoint vouches for the log/);
    } finally {
      await database.cleanup();
    }
  });
});
