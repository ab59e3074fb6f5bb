import type { ClusterState } from '../state/cluster/cluster-state.js';

/**
 * A counter over a sliding window kept in cluster state, so that every node adds to one count:
 * two fixed sub-windows, the previous one weighted by how much of it the sliding window still
 * covers. Unlike a plain fixed window it does not forget an attack at the window's edge; it
 * costs two round trips and two keys per subject, whatever the traffic.
 */
export class SlidingWindow {
  readonly #cluster: ClusterState;
  readonly #windowMs: () => number;
  readonly #prefix: string;

  constructor(cluster: ClusterState, prefix: string, windowMs: () => number) {
    this.#cluster = cluster;
    this.#prefix = prefix;
    this.#windowMs = windowMs;
  }

  /** Adds `by` to the count of `subject` at `now` and resolves with the window's estimate. */
  async add(subject: string, by: number, now: number): Promise<number> {
    const windowMs = this.#windowMs();
    const index = Math.floor(now / windowMs);
    const covered = 1 - (now - index * windowMs) / windowMs;
    // The previous sub-window is read while the current one lives: keep each for two windows.
    const ttl = 2 * windowMs + 1000;
    const [current, previous] = await Promise.all([
      by === 0
        ? this.#cluster.get(this.#key(subject, index, windowMs)).then((v) => Number(v ?? 0))
        : this.#cluster.increment(this.#key(subject, index, windowMs), by, ttl),
      this.#cluster.get(this.#key(subject, index - 1, windowMs)),
    ]);
    const before = Number(previous ?? 0);
    return current + (Number.isFinite(before) ? before : 0) * covered;
  }

  #key(subject: string, index: number, windowMs: number): string {
    return `${this.#prefix}:${windowMs}:${subject}:${index}`;
  }
}
