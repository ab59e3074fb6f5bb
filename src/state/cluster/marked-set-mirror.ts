import type { Clock } from '../../gateway/stage.js';
import type { SetChange } from './cluster-state.js';

/** Epoch milliseconds at which a member expires; `Infinity` for a member that never does. */
export type Expiry = number;

/**
 * This node's copy of one marked set: member -> expiry. `has` is a Map lookup and a clock read,
 * so the hot path answers without I/O. Every change that alters what `has` answers (or a live
 * member's expiry) is reported once through `emit`; writes that change nothing report nothing.
 */
export class MarkedSetMirror {
  readonly #members = new Map<string, Expiry>();

  constructor(
    readonly name: string,
    private readonly clock: Clock,
    private readonly emit: (change: SetChange) => void,
  ) {}

  get size(): number {
    return this.#members.size;
  }

  has(member: string): boolean {
    const expiresAt = this.#members.get(member);
    // Checked here, not only by the prune timer: an expired block ends on time.
    return expiresAt !== undefined && expiresAt > this.clock.now();
  }

  add(member: string, expiresAt: Expiry, cause: SetChange['cause']): void {
    const now = this.clock.now();
    if (expiresAt <= now) {
      // Already over (a late message, clocks apart): the same as a removal.
      this.remove(member, cause);
      return;
    }
    const previous = this.#members.get(member);
    if (previous === expiresAt) return;
    this.#members.set(member, expiresAt);
    this.emit({
      set: this.name,
      member,
      present: true,
      expiresAt: Number.isFinite(expiresAt) ? expiresAt : undefined,
      cause,
    });
  }

  remove(member: string, cause: SetChange['cause']): void {
    const previous = this.#members.get(member);
    if (previous === undefined) return;
    this.#members.delete(member);
    if (previous > this.clock.now()) {
      this.emit({ set: this.name, member, present: false, expiresAt: undefined, cause });
    }
  }

  /** Makes the mirror equal to `members` (a fresh copy of the shared set). */
  replace(members: ReadonlyMap<string, Expiry>, cause: SetChange['cause']): void {
    for (const member of [...this.#members.keys()]) {
      if (!members.has(member)) this.remove(member, cause);
    }
    for (const [member, expiresAt] of members) this.add(member, expiresAt, cause);
  }

  /** Forgets expired members, reporting each as an expiry. */
  prune(): void {
    const now = this.clock.now();
    for (const [member, expiresAt] of this.#members) {
      if (expiresAt > now) continue;
      this.#members.delete(member);
      this.emit({ set: this.name, member, present: false, expiresAt: undefined, cause: 'expiry' });
    }
  }
}
