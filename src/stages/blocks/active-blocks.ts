import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../../gateway/ip-set.js';
import type { Clock, Identity } from '../../gateway/stage.js';
import { isActive, type BlockRecord } from '../../state/blocks/block-store.js';
import { SubjectIndex } from './subject-index.js';

/** A block in force, as a refusal's event names it. */
export interface BlockHit {
  readonly id: string;
  readonly kind: BlockRecord['kind'];
  readonly subject: string;
}

/**
 * The blocks of the store in force on this node, indexed for the hot path: a Map lookup per
 * client IP, consumer and credential, and a range check only while some block is a range. A
 * block's expiry is checked on every lookup, so it ends on time without waiting for a pull.
 */
export class ActiveBlocks {
  /** Every block this node knows of that has not ended, by id. */
  readonly #byId = new Map<string, BlockRecord>();
  #index = new SubjectIndex();
  /** Every blocked range in one list (is the IP in any?), and each on its own (which?). */
  #ranges:
    | {
        readonly any: BlockList;
        readonly each: readonly { readonly block: BlockRecord; readonly list: BlockList }[];
      }
    | undefined;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.#byId.size;
  }

  /** Applies blocks read from the store: new ones, and changes to ones already known. */
  apply(changed: readonly BlockRecord[]): void {
    if (changed.length === 0) return;
    const now = this.clock.now();
    for (const b of changed) {
      // A throttle is a block record that refuses nothing by itself (ActiveThrottles).
      if (b.action === 'block' && isActive(b, now)) this.#byId.set(b.id, b);
      else this.#byId.delete(b.id);
    }
    this.#reindex(now);
  }

  /** The block that refuses client IP `ip` (as the gateway resolved it), if any. */
  forIp(ip: string): BlockHit | undefined {
    if (this.#byId.size === 0) return undefined;
    const now = this.clock.now();
    const exact = this.#index.forIp(ip, now);
    if (exact !== undefined) return hit(exact);
    const ranges = this.#ranges;
    if (ranges === undefined) return undefined;
    const version = isIP(ip);
    if (version === 0) return undefined;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    if (!ranges.any.check(ip, family)) return undefined;
    // Rare: a client in a blocked range. Find which block, and whether it is still in force.
    for (const { block, list } of ranges.each) {
      if (isActive(block, now) && list.check(ip, family)) return hit(block);
    }
    return undefined;
  }

  /** The block that refuses this consumer or this credential, if any. */
  forIdentity(identity: Identity): BlockHit | undefined {
    if (this.#byId.size === 0) return undefined;
    const b = this.#index.forIdentity(identity, this.clock.now());
    return b === undefined ? undefined : hit(b);
  }

  #reindex(now: number): void {
    const index = new SubjectIndex();
    const each: { block: BlockRecord; list: BlockList }[] = [];
    const any = new BlockList();
    for (const b of this.#byId.values()) {
      if (!isActive(b, now)) {
        this.#byId.delete(b.id);
        continue;
      }
      if (b.kind !== 'ip' || !b.subject.includes('/')) index.add(b);
      else {
        const cidr = parseCidr(b.subject);
        if (cidr === undefined) continue;
        any.addSubnet(cidr.address, cidr.prefix, cidr.family);
        const list = new BlockList();
        list.addSubnet(cidr.address, cidr.prefix, cidr.family);
        each.push({ block: b, list });
      }
    }
    this.#index = index;
    this.#ranges = each.length === 0 ? undefined : { any, each };
  }
}

function hit(b: BlockRecord): BlockHit {
  return { id: b.id, kind: b.kind, subject: b.subject };
}
