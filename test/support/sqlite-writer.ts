/**
 * The child process of test/state/sqlite-crash.test.ts: writes to a SQLite store through the
 * built SqliteDb (the worker thread, configured as in production) as fast as it can, in
 * transactions of a fixed number of rows, and prints `committed <total rows>` after each
 * commit. The test kills it with SIGKILL mid-write.
 *
 * Run as: node sqlite-writer.mjs <URL of dist/state/sqlite/sqlite-db.js> <database path> <rows>
 * (the test transpiles this file to JavaScript; at run time it imports only Node's built-ins).
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/state/db.js';

async function main(): Promise<void> {
  const [moduleUrl, path, perTransaction] = process.argv.slice(2);
  const rows = Number(perTransaction);
  if (moduleUrl === undefined || path === undefined || !Number.isInteger(rows) || rows < 1) {
    throw new Error(
      'usage: sqlite-writer <sqlite-db.js URL> <database path> <rows per transaction>',
    );
  }
  const { SqliteDb } = (await import(moduleUrl)) as { SqliteDb: new (path: string) => Db };
  const db = new SqliteDb(path);
  await db.exec(
    'CREATE TABLE IF NOT EXISTS crash (id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, payload BLOB NOT NULL)',
  );
  let committed = 0;
  for (let tx = 1; ; tx++) {
    // Half a KiB per row: the WAL grows past its checkpoint size, so some kills land in one.
    const payload = randomBytes(512);
    await db.transaction(async (t) => {
      for (let i = 0; i < rows; i++) {
        await t.run('INSERT INTO crash (tx, payload) VALUES ($1, $2)', [tx, payload]);
      }
    });
    committed += rows;
    process.stdout.write(`committed ${committed}\n`);
  }
}

await main();
