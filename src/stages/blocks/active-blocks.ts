import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../../gateway/ip-set.js';
import type { Clock, Identity } from '../../gateway/stage.js';
import { isActive, type BlockRecord } from '../../state/blocks/block-store.js';

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
  #ips = new Map<string, BlockRecord[]>();
  #consumers = new Map<string, BlockRecord[]>();
  #credentials = new Map<string, BlockRecord[]>();
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
    const exact = live(this.#ips.get(ip), now);
    if (exact !== undefined) return exact;
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
    const now = this.clock.now();
    return (
      live(this.#consumers.get(identity.consumerId), now) ??
      live(this.#credentials.get(identity.credential), now)
    );
  }

  #reindex(now: number): void {
    const ips = new Map<string, BlockRecord[]>();
    const consumers = new Map<string, BlockRecord[]>();
    const credentials = new Map<string, BlockRecord[]>();
    const each: { block: BlockRecord; list: BlockList }[] = [];
    const any = new BlockList();
    for (const b of this.#byId.values()) {
      if (!isActive(b, now)) {
        this.#byId.delete(b.id);
        continue;
      }
      if (b.kind === 'consumer') push(consumers, b.subject, b);
      else if (b.kind === 'credential') push(credentials, b.subject, b);
      else if (!b.subject.includes('/')) push(ips, b.subject, b);
      else {
        const cidr = parseCidr(b.subject);
        if (cidr === undefined) continue;
        any.addSubnet(cidr.address, cidr.prefix, cidr.family);
        const list = new BlockList();
        list.addSubnet(cidr.address, cidr.prefix, cidr.family);
        each.push({ block: b, list });
      }
    }
    this.#ips = ips;
    this.#consumers = consumers;
    this.#credentials = credentials;
    this.#ranges = each.length === 0 ? undefined : { any, each };
  }
}

function push(map: Map<string, BlockRecord[]>, key: string, b: BlockRecord): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [b]);
  else list.push(b);
}

function hit(b: BlockRecord): BlockHit {
  return { id: b.id, kind: b.kind, subject: b.subject };
}

/** The first block of `list` still in force at `now`. */
function live(list: readonly BlockRecord[] | undefined, now: number): BlockHit | undefined {
  if (list === undefined) return undefined;
  for (const b of list) if (isActive(b, now)) return hit(b);
  return undefined;
}
