import type { ClusterState } from '../../state/cluster/cluster-state.js';

/** Sub-windows per window: the count covers between 3/4 of the window and all of it. */
const SLICES = 4;

/** Members added per subject per flush; the rest wait for the next one (cluster state's bound). */
export const MAX_MEMBERS_PER_FLUSH = 1000;

/**
 * Counts the distinct members (paths, client IPs) seen for one subject over a sliding window,
 * across every node: each quarter of the window is a distinct count in cluster state (a
 * HyperLogLog with Redis, at most 12 KiB whatever an attacker sends), and the estimate is the
 * union of the current quarter and the three before it, so a member seen in several quarters
 * counts once. The window is thus at least 3/4 of its length and at most all of it.
 */
export class DistinctWindow {
  readonly #cluster: ClusterState;
  readonly #prefix: string;
  readonly #windowMs: () => number;

  constructor(cluster: ClusterState, prefix: string, windowMs: () => number) {
    this.#cluster = cluster;
    this.#prefix = prefix;
    this.#windowMs = windowMs;
  }

  /**
   * Adds `members` of `subject` seen at `now` (digests or IPs: short, never a secret; at most
   * MAX_MEMBERS_PER_FLUSH) and resolves with the number of distinct members in the window.
   */
  add(subject: string, members: readonly string[], now: number): Promise<number> {
    const windowMs = this.#windowMs();
    const sliceMs = Math.ceil(windowMs / SLICES);
    const index = Math.floor(now / sliceMs);
    const key = (i: number): string => `${this.#prefix}:${windowMs}:${subject}:${i}`;
    const earlier = Array.from({ length: SLICES - 1 }, (_, k) => key(index - 1 - k));
    // A quarter is read for the three quarters after its own: keep it for a window and a bit.
    return this.#cluster.addDistinct(key(index), members, windowMs + sliceMs + 1000, earlier);
  }
}
