import type { Identity } from '../../gateway/stage.js';
import { isActive, type BlockRecord } from '../../state/blocks/block-store.js';

/**
 * Block records indexed by the subject they name, for the hot path: one Map lookup per client
 * IP, consumer and credential, and the first record of that subject still in force at the time
 * asked. Blocks (ActiveBlocks, which adds ranges) and throttles (ActiveThrottles) use it.
 */
export class SubjectIndex {
  readonly #bySubject: Record<BlockRecord['kind'], Map<string, BlockRecord[]>> = {
    ip: new Map(),
    consumer: new Map(),
    credential: new Map(),
  };

  /** Adds a record under its subject: an exact address, a consumer id or a fingerprint. */
  add(b: BlockRecord): void {
    const map = this.#bySubject[b.kind];
    const list = map.get(b.subject);
    if (list === undefined) map.set(b.subject, [b]);
    else list.push(b);
  }

  /** Orders the records of each subject: the first in force is the one a lookup finds. */
  sort(compare: (a: BlockRecord, b: BlockRecord) => number): void {
    for (const map of Object.values(this.#bySubject))
      for (const list of map.values()) list.sort(compare);
  }

  /** The record on client IP `ip`, if one is in force at `now`. */
  forIp(ip: string, now: number): BlockRecord | undefined {
    return live(this.#bySubject.ip.get(ip), now);
  }

  /** The record on this consumer or this credential (the consumer's first), if any. */
  forIdentity(identity: Identity, now: number): BlockRecord | undefined {
    return (
      live(this.#bySubject.consumer.get(identity.consumerId), now) ??
      live(this.#bySubject.credential.get(identity.credential), now)
    );
  }
}

function live(list: readonly BlockRecord[] | undefined, now: number): BlockRecord | undefined {
  if (list === undefined) return undefined;
  for (const b of list) if (isActive(b, now)) return b;
  return undefined;
}
