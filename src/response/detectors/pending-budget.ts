/** Subjects tallied between two flushes; beyond it new ones wait for the next flush. */
const MAX_PENDING = 10_000;

/**
 * Bounds the memory of the in-memory tallies between two flushes, whatever the traffic: a flood
 * of fresh client IPs or paths cannot grow a map without limit. What does not fit is counted
 * as dropped, and the detectors log it once per flush.
 */
export class PendingBudget {
  #dropped = 0;

  /** Whether `key` may be tallied in `map`: it is there already, or there is room for it. */
  room(map: { has(key: string): boolean; readonly size: number }, key: string): boolean {
    if (map.has(key) || map.size < MAX_PENDING) return true;
    this.#dropped++;
    return false;
  }

  /** Counts one observation that was not tallied. */
  drop(): void {
    this.#dropped++;
  }

  /** How many were dropped since the last call. */
  takeDropped(): number {
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }
}
