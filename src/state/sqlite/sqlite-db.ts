import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Db, SqlValue } from '../db.js';
import { StoreError } from '../store-error.js';
import type { SqliteRequest, SqliteResponse, SqliteWorkerData } from './sqlite-protocol.js';

type Pending = { resolve: (r: SqliteResponse & { ok: true }) => void; reject: (e: Error) => void };
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

/**
 * SQLite through a worker thread. Calls are serialized, as the one connection requires; a
 * transaction holds the connection until its function settles.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(path: string) {
    this.#worker = new Worker(workerFile(), { workerData: { path } satisfies SqliteWorkerData });
    this.#worker.on('message', (res: SqliteResponse) => {
      const p = this.#pending.get(res.id);
      if (p === undefined) return;
      this.#pending.delete(res.id);
      if (res.ok) p.resolve(res);
      else p.reject(new StoreError('PCL_STORE_QUERY_FAILED', `sqlite: ${res.message}`));
    });
    this.#worker.on('error', (err) => this.#failAll(err));
    this.#worker.on('exit', () => this.#failAll(new Error('sqlite worker exited')));
    this.#worker.unref();
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) {
      p.reject(new StoreError('PCL_STORE_UNAVAILABLE', `sqlite: ${err.message}`));
    }
    this.#pending.clear();
  }

  #send(op: Op): Promise<SqliteResponse & { ok: true }> {
    if (this.#closed)
      return Promise.reject(new StoreError('PCL_STORE_UNAVAILABLE', 'store closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.ref();
      const request: SqliteRequest = { ...op, id };
      this.#worker.postMessage(request);
    }).finally(() => {
      if (this.#pending.size === 0) this.#worker.unref();
    }) as Promise<SqliteResponse & { ok: true }>;
  }

  /** Runs `fn` after every call queued before it; a failure does not block the next. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  query<T extends Record<string, unknown>>(
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<T[]> {
    return this.#serial(() => this.#direct.query<T>(sql, params));
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#serial(() => this.#direct.run(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.#serial(() => this.#direct.exec(sql));
  }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      await this.#send({ op: 'begin' });
      try {
        const result = await fn(this.#direct);
        await this.#send({ op: 'commit' });
        return result;
      } catch (err) {
        await this.#send({ op: 'rollback' });
        throw err;
      }
    });
  }

  /** The same calls, without queueing: only for use inside a transaction already holding the queue. */
  readonly #direct: Db = {
    dialect: 'sqlite',
    query: async <T extends Record<string, unknown>>(
      sql: string,
      params: readonly SqlValue[] = [],
    ) => ((await this.#send({ op: 'query', sql, params: [...params] })).rows ?? []) as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      (await this.#send({ op: 'run', sql, params: [...params] })).changes ?? 0,
    exec: async (sql: string) => {
      await this.#send({ op: 'exec', sql });
    },
    transaction: () =>
      Promise.reject(new StoreError('PCL_STORE_QUERY_FAILED', 'nested transaction')),
    close: () => Promise.resolve(),
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serial(() => this.#send({ op: 'close' }));
    this.#closed = true;
    await this.#worker.terminate();
  }
}
