import type { Clock, Identity } from '../../gateway/stage.js';
import { isActive, type BlockRecord } from '../../state/blocks/block-store.js';
import { SubjectIndex } from '../blocks/subject-index.js';

/** A throttle in force, as the throttle stage applies it and its refusal's event names it. */
export interface ThrottleHit {
  readonly id: string;
  readonly kind: BlockRecord['kind'];
  readonly subject: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

/**
 * The throttles of the store in force on this node (block records with `action: throttle`),
 * indexed for the hot path: while none is in force a lookup is one size check, and otherwise one
 * Map lookup per client IP, consumer and credential. Expiry is checked on every lookup, so a
 * throttle ends on time without waiting for a pull. A throttle names one address, never a range.
 */
export class ActiveThrottles {
  readonly #byId = new Map<string, BlockRecord>();
  #index = new SubjectIndex();

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.#byId.size;
  }

  /** Applies block records read from the store; the ones that are not throttles are ignored. */
  apply(changed: readonly BlockRecord[]): void {
    const now = this.clock.now();
    let touched = false;
    for (const b of changed) {
      if (b.action !== 'throttle' || b.throttle === undefined) continue;
      touched = true;
      if (isActive(b, now)) this.#byId.set(b.id, b);
      else this.#byId.delete(b.id);
    }
    if (touched) this.#reindex(now);
  }

  /** The throttle on client IP `ip` (as the gateway resolved it), if any. */
  forIp(ip: string): ThrottleHit | undefined {
    if (this.#byId.size === 0) return undefined;
    return hit(this.#index.forIp(ip, this.clock.now()));
  }

  /** The throttle on this consumer or this credential, if any (the consumer's first). */
  forIdentity(identity: Identity): ThrottleHit | undefined {
    if (this.#byId.size === 0) return undefined;
    return hit(this.#index.forIdentity(identity, this.clock.now()));
  }

  #reindex(now: number): void {
    const index = new SubjectIndex();
    for (const t of this.#byId.values()) {
      if (isActive(t, now)) index.add(t);
      else this.#byId.delete(t.id);
    }
    // Two throttles on one subject: the stricter rate holds while it lasts, then the other.
    index.sort((a, b) => perSecond(a) - perSecond(b));
    this.#index = index;
  }
}

function perSecond(t: BlockRecord): number {
  return t.throttle === undefined ? Infinity : t.throttle.limit / t.throttle.windowSeconds;
}

function hit(t: BlockRecord | undefined): ThrottleHit | undefined {
  const rate = t?.throttle;
  if (t === undefined || rate === undefined) return undefined;
  return {
    id: t.id,
    kind: t.kind,
    subject: t.subject,
    limit: rate.limit,
    windowSeconds: rate.windowSeconds,
  };
}
