import { AsyncLocalStorage } from 'node:async_hooks';

/** What a transaction's function shares with the calls it makes: cleared once it ends. */
export type TransactionState = { active: boolean };

/**
 * Knows whether a call comes from inside one of its Db's transactions, so that the Db can
 * refuse a call that bypasses the transaction's connection (it would deadlock or miss the
 * transaction's writes).
 *
 * AsyncLocalStorage turns Node's async hooks on, and they cost every promise and `nextTick`
 * of the process (about 1.4 µs per proxied request). So the storage is on only while a
 * transaction runs: the last one to end turns it off. A continuation that outlives its
 * transaction sees no store then, which the Db reads as it reads an ended transaction's.
 */
export class TransactionGuard {
  readonly #storage = new AsyncLocalStorage<TransactionState>();
  #running = 0;

  /** True when the caller runs inside a transaction that has not ended. */
  inside(): boolean {
    return this.#running > 0 && this.#storage.getStore()?.active === true;
  }

  /** Runs a transaction's function with its state in the async context of every call it makes. */
  async run<T>(state: TransactionState, fn: () => Promise<T>): Promise<T> {
    this.#running += 1;
    try {
      return await this.#storage.run(state, fn);
    } finally {
      this.#running -= 1;
      if (this.#running === 0) this.#storage.disable();
    }
  }
}
