import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/state/audit/checkpoint-key.js';
import { verifyAuditLog } from '../../src/state/audit/verify.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, createTestDatabase, type Backend } from '../support/databases.js';

/**
 * A kill -9 while a process appends to the audit log as fast as it can: every entry it was told
 * is committed is there, nothing half-written is, and the chain (with its checkpoints) verifies
 * up to its last committed entry. Appending then resumes on the recovered chain.
 */

const EVERY = 7;
const MAX_BATCH = 13;
const ROUNDS = 3;

const dist = (path: string): string => new URL(`../../dist/${path}`, import.meta.url).href;

// The writer runs the built code (`npm run build` first), as the gateway would. It prints the
// seq of the last entry of each committed batch: a write to a pipe is synchronous on Linux, so
// a number the test has read is a committed entry.
const WRITER = `
import { AuditLog } from ${JSON.stringify(dist('state/audit/audit-log.js'))};
import { loadCheckpointSigningKey } from ${JSON.stringify(dist('state/audit/checkpoint-key.js'))};
import { SqliteDb } from ${JSON.stringify(dist('state/sqlite/sqlite-db.js'))};
import { PostgresDb } from ${JSON.stringify(dist('state/postgres/postgres-db.js'))};
const { AUDIT_BACKEND, AUDIT_LOCATION, AUDIT_KEY_FILE } = process.env;
const db = AUDIT_BACKEND === 'sqlite' ? new SqliteDb(AUDIT_LOCATION) : new PostgresDb(AUDIT_LOCATION, 2);
const log = new AuditLog(db, {
  checkpointEvery: ${EVERY},
  signingKey: loadCheckpointSigningKey(AUDIT_KEY_FILE),
});
// The only writer: the seq of its last entry is the head plus what it appended since.
const [head] = await db.query('SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_log');
let seq = Number(head.seq);
for (let i = 0; ; ) {
  const n = 1 + (i % ${MAX_BATCH});
  const batch = Array.from({ length: n }, (_, j) => ({
    actor: 'gateway',
    action: 'request.denied',
    target: '/orders/' + (i + j),
    decision: 'deny',
    reason: 'blocks.ip.denied',
    requestId: 'req-' + process.pid + '-' + (i + j),
    clientIp: '203.0.113.7',
    details: { i: i + j, pid: process.pid },
  }));
  if (n === 1) seq = (await log.append(batch[0])).seq;
  else {
    await log.appendMany(batch);
    seq += n;
  }
  process.stdout.write(seq + '\\n');
  i += n;
}
`;

/** Runs the writer until it has committed past `atLeast`, then kills it with SIGKILL. */
function writeThenKill(
  script: string,
  env: Record<string, string>,
  atLeast: number,
): Promise<{ committed: number; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let committed = 0;
    let buffered = '';
    let stderr = '';
    let killing = false;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) committed = Math.max(committed, Number(line));
      if (committed >= atLeast && !killing) {
        killing = true;
        // Somewhere inside the next few transactions, not right after a report.
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 15));
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    // 'close', not 'exit': every line written before the kill has been read by then.
    child.on('close', (_code, signal) => {
      clearTimeout(guard);
      // A line cut off by the kill was never fully written: its batch is not counted.
      resolve({ committed, signal, stderr });
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.each(BACKENDS)('the audit log on %s, killed while appending', (backend: Backend) => {
  it('verifies up to its last committed entry after each kill -9, and appends on from there', async () => {
    const database = await createTestDatabase(backend);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'pcl-audit-crash-'));
      dirs.push(dir);
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const keyFile = join(dir, 'audit-key.pem');
      writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
      });
      const keys = [{ keyId: keyIdOf(publicKey), publicKey }];
      // A file, not --eval: the SQLite worker thread would inherit --input-type.
      const script = join(dir, 'audit-writer.mjs');
      writeFileSync(script, WRITER);
      const setup = await database.open();
      await migrate(setup, MIGRATIONS);
      await setup.close();

      let before = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const run = await writeThenKill(
          script,
          {
            AUDIT_BACKEND: backend,
            AUDIT_LOCATION: database.location,
            AUDIT_KEY_FILE: keyFile,
          },
          before + 300,
        );
        expect(run.stderr).toBe('');
        expect(run.signal).toBe('SIGKILL');

        const db = await database.open();
        const result = await verifyAuditLog(db, keys);
        await db.close();

        expect(result.ok, JSON.stringify(result)).toBe(true);
        if (!result.ok) return;
        // Every reported entry survived; at most the one batch committed but not yet
        // reported is beyond it; a batch cut off by the kill left nothing.
        expect(result.entries).toBeGreaterThanOrEqual(run.committed);
        expect(result.entries).toBeLessThanOrEqual(run.committed + MAX_BATCH);
        expect(result.entries).toBeGreaterThan(before);
        // A checkpoint is committed with its entry: none missing, none dangling.
        expect(result.checkpoints).toBe(Math.floor(result.entries / EVERY));
        before = result.entries;
      }
    } finally {
      await database.cleanup();
    }
  }, 120_000);
});
