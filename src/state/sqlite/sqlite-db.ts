import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Db, InsertValue, SqlValue } from '../db.js';
import { checkInsert } from '../insert-statement.js';
import { StoreError, redactParams } from '../store-error.js';
import type { SqliteRequest, SqliteResponse, SqliteWorkerData } from './sqlite-protocol.js';
import { TransactionGuard } from '../transaction-guard.js';

type Ok = SqliteResponse & { ok: true };
type Pending = {
  resolve: (r: Ok) => void;
  reject: (e: Error) => void;
  /** The values sent, for redacting an error message (only then computed). */
  params: () => readonly SqlValue[];
};
type Op = SqliteRequest extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

/** The compiled worker; tests that import the TypeScript sources use the build (npm test builds). */
function workerFile(): URL {
  const beside = new URL('./sqlite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL('../../../dist/state/sqlite/sqlite-worker.js', import.meta.url);
}

// The file cannot be used (missing folder rights, read-only, disk full, locked by another
// process past busy_timeout): the operator fixes the environment, the statement is not at fault.
const UNAVAILABLE = /^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|BUSY|LOCKED|PERM|AUTH)/;

/** Structured clone hands a Buffer over as a Uint8Array: give callers the Buffer they stored. */
function revive(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
        row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      }
    }
  }
  return rows;
}

/**
 * A Buffer sliced from Node's shared pool would cross the thread with the whole 8 KiB pool (and
 * whatever else lives there): send a copy of just its bytes.
 */
function sendable(params: readonly SqlValue[]): SqlValue[] {
  return params.map((p) =>
    Buffer.isBuffer(p) && p.byteLength !== p.buffer.byteLength ? Buffer.from(p) : p,
  );
}

/**
 * SQLite through a worker thread. Calls are serialized, as the one connection requires; a
 * transaction holds the connection until its function settles.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly #path: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  /** Set inside a transaction's function, to catch calls on this Db that would wait for itself. */
  readonly #inTransaction = new TransactionGuard();
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  /** Why the worker cannot answer any more (it failed or exited), once it cannot. */
  #dead: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
    this.#worker = new Worker(workerFile(), { workerData: { path } satisfies SqliteWorkerData });
    this.#worker.on('message', (res: SqliteResponse) => {
      const p = this.#pending.get(res.id);
      if (p === undefined) return;
      this.#pending.delete(res.id);
      if (res.ok) {
        if (res.rows !== undefined) revive(res.rows);
        p.resolve(res);
        return;
      }
      const code =
        res.code !== undefined && UNAVAILABLE.test(res.code)
          ? 'PCL_STORE_UNAVAILABLE'
          : 'PCL_STORE_QUERY_FAILED';
      p.reject(new StoreError(code, `sqlite: ${redactParams(res.message, p.params())}`));
    });
    // The worker failed to start (the file cannot be opened) or died: nothing will answer.
    this.#worker.on('error', (err) => this.#fail(`cannot use ${this.#path}: ${err.message}`));
    this.#worker.on('exit', () => this.#fail('the sqlite worker exited'));
    this.#worker.unref();
  }

  #fail(reason: string): void {
    this.#dead ??= reason;
    for (const p of this.#pending.values()) {
      p.reject(new StoreError('PCL_STORE_UNAVAILABLE', `sqlite: ${reason}`));
    }
    this.#pending.clear();
  }

  #send(op: Op): Promise<Ok> {
    if (this.#dead !== undefined) {
      return Promise.reject(new StoreError('PCL_STORE_UNAVAILABLE', `sqlite: ${this.#dead}`));
    }
    const id = this.#nextId++;
    // What an error message must not repeat: an insert's values are redacted like parameters.
    const params = (): readonly SqlValue[] =>
      'params' in op ? op.params : 'rows' in op ? op.rows.flat() : [];
    return new Promise<Ok>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, params });
      this.#worker.ref();
      const request: SqliteRequest =
        'params' in op ? { ...op, params: sendable(op.params), id } : { ...op, id };
      this.#worker.postMessage(request);
    }).finally(() => {
      // Unreferenced while idle: an open store does not keep the process alive.
      if (this.#pending.size === 0) this.#worker.unref();
    });
  }

  /** Runs `fn` after every call queued before it; a failure does not block the next. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) {
      return Promise.reject(new StoreError('PCL_STORE_UNAVAILABLE', 'sqlite: store closed'));
    }
    if (this.#inTransaction.inside()) {
      // It would wait for the transaction, which waits for it: a deadlock, refused instead.
      return Promise.reject(
        new StoreError(
          'PCL_STORE_QUERY_FAILED',
          'sqlite: a call on the Db inside its own transaction: use the tx the function was given',
        ),
      );
    }
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  query<T extends Record<string, unknown>>(
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<T[]> {
    return this.#serial(() => this.#query<T>(sql, params));
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#serial(() => this.#run(sql, params));
  }

  insertMany(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly InsertValue[])[],
  ): Promise<number> {
    return this.#serial(() => this.#insertMany(table, columns, rows));
  }

  exec(sql: string): Promise<void> {
    return this.#serial(() => this.#exec(sql));
  }

  async #query<T>(sql: string, params: readonly SqlValue[]): Promise<T[]> {
    return ((await this.#send({ op: 'query', sql, params: [...params] })).rows ?? []) as T[];
  }

  async #run(sql: string, params: readonly SqlValue[]): Promise<number> {
    return (await this.#send({ op: 'run', sql, params: [...params] })).changes ?? 0;
  }

  async #insertMany(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly InsertValue[])[],
  ): Promise<number> {
    checkInsert(table, columns, rows);
    if (rows.length === 0) return 0;
    // postMessage copies the columns and rows as they are now: nothing to copy here.
    const op = {
      op: 'insert',
      table,
      columns: columns as string[],
      rows: rows as InsertValue[][],
    } as const;
    return (await this.#send(op)).changes ?? 0;
  }

  async #exec(sql: string): Promise<void> {
    await this.#send({ op: 'exec', sql });
  }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      await this.#send({ op: 'begin' });
      const state = { active: true };
      try {
        const result = await this.#inTransaction.run(state, () => fn(this.#tx(state)));
        state.active = false;
        await this.#send({ op: 'commit' });
        return result;
      } catch (err) {
        state.active = false;
        // The original error is the one worth reporting; a dead worker has no transaction left.
        await this.#send({ op: 'rollback' }).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * The connection, for one transaction's function, bypassing the queue the transaction holds.
   * Once the transaction has ended it refuses every call: a late call would otherwise run
   * outside any transaction, or inside the next one.
   */
  #tx(state: { active: boolean }): Db {
    const ended = (): Promise<never> =>
      Promise.reject(
        new StoreError('PCL_STORE_QUERY_FAILED', 'sqlite: the transaction has already ended'),
      );
    return {
      dialect: 'sqlite',
      query: <T extends Record<string, unknown>>(sql: string, params: readonly SqlValue[] = []) =>
        state.active ? this.#query<T>(sql, params) : ended(),
      run: (sql: string, params: readonly SqlValue[] = []) =>
        state.active ? this.#run(sql, params) : ended(),
      insertMany: (
        table: string,
        columns: readonly string[],
        rows: readonly (readonly InsertValue[])[],
      ) => (state.active ? this.#insertMany(table, columns, rows) : ended()),
      exec: (sql: string) => (state.active ? this.#exec(sql) : ended()),
      transaction: () =>
        Promise.reject(
          new StoreError('PCL_STORE_QUERY_FAILED', 'sqlite: nested transactions are not supported'),
        ),
      close: () => Promise.resolve(),
    };
  }

  /** Waits for the calls already queued (a running transaction ends first), then closes. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const last = this.#queue;
    this.#closing = last
      .then(() => this.#send({ op: 'close' }))
      .catch(() => undefined)
      .then(async () => {
        this.#dead ??= 'store closed';
        await this.#worker.terminate();
      });
    return this.#closing;
  }
}
