import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteDb } from '../../src/state/sqlite/sqlite-db.js';

/**
 * "A kill -9 during heavy writing leaves a store that opens": a child process writes through
 * the built SqliteDb as fast as it can, is SIGKILLed mid-write, and the file must open, pass
 * SQLite's integrity check, and hold every transaction the child saw committed, each whole.
 */

const ROWS_PER_TRANSACTION = 100;
const SQLITE_DB = pathToFileURL(
  fileURLToPath(new URL('../../dist/state/sqlite/sqlite-db.js', import.meta.url)),
).href;
const WRITER_SOURCE = fileURLToPath(new URL('../support/sqlite-writer.ts', import.meta.url));

let dir: string;
let writer: string;

beforeAll(() => {
  if (!existsSync(fileURLToPath(SQLITE_DB))) {
    throw new Error('dist/state/sqlite/sqlite-db.js is missing: run `npm run build` first');
  }
  dir = mkdtempSync(join(tmpdir(), 'pcl-crash-'));
  // The writer is TypeScript like every test file; node runs it once transpiled.
  const js = ts.transpileModule(readFileSync(WRITER_SOURCE, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  writer = join(dir, 'sqlite-writer.mjs');
  writeFileSync(writer, js);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Killed {
  /** The highest count the child printed as committed before it died. */
  readonly lastCommitted: number;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Starts the writer, waits until it reported `atLeast` committed rows, then SIGKILLs it. */
function writeThenKill(path: string, atLeast: number, extraMs: number): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, SQLITE_DB, path, String(ROWS_PER_TRANSACTION)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastCommitted = 0;
    let pending = '';
    let stderr = '';
    let killing = false;
    const giveUp = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the writer reported only ${lastCommitted} rows in 20 s: ${stderr}`));
    }, 20_000);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^committed (\d+)$/.exec(line);
        if (m !== null) lastCommitted = Math.max(lastCommitted, Number(m[1]));
      }
      if (!killing && lastCommitted >= atLeast) {
        killing = true;
        // A varying extra moment, so the kill lands at different points of a transaction.
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    // 'close': the process is gone and its stdout fully read, so lastCommitted is final.
    child.on('close', (_code, signal) => {
      clearTimeout(giveUp);
      resolve({ lastCommitted, signal, stderr });
    });
    child.on('error', reject);
  });
}

describe('SQLite after kill -9 under heavy writing', () => {
  it.each([
    { atLeast: 300, extraMs: 0 },
    { atLeast: 2_000, extraMs: 3 },
    { atLeast: 6_000, extraMs: 11 },
  ])(
    'opens, passes integrity_check and keeps every committed transaction whole (kill after $atLeast rows)',
    async ({ atLeast, extraMs }) => {
      const path = join(dir, `store-${atLeast}.db`);

      const killed = await writeThenKill(path, atLeast, extraMs);

      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(killed.lastCommitted).toBeGreaterThanOrEqual(atLeast);
      // No clean close happened: the write-ahead log is still there, to be recovered.
      expect(existsSync(`${path}-wal`)).toBe(true);
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);

      const db = new SqliteDb(path);
      try {
        expect(await db.query('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
        const [summary] = await db.query<{ n: number; txs: number; last: number }>(
          'SELECT COUNT(*) AS n, COUNT(DISTINCT tx) AS txs, MAX(tx) AS last FROM crash',
        );
        const n = summary?.n ?? 0;
        expect(n).toBeGreaterThanOrEqual(killed.lastCommitted);
        expect(n % ROWS_PER_TRANSACTION).toBe(0);
        // Transactions 1..last, each with all its rows: none partial, none missing.
        expect(summary?.txs).toBe(n / ROWS_PER_TRANSACTION);
        expect(summary?.last).toBe(n / ROWS_PER_TRANSACTION);
        expect(
          await db.query('SELECT tx, COUNT(*) AS n FROM crash GROUP BY tx HAVING COUNT(*) <> $1', [
            ROWS_PER_TRANSACTION,
          ]),
        ).toEqual([]);
        // And the recovered store takes writes again.
        expect(
          await db.run('INSERT INTO crash (tx, payload) VALUES ($1, $2)', [0, Buffer.alloc(1)]),
        ).toBe(1);
      } finally {
        await db.close();
      }
    },
  );
});
