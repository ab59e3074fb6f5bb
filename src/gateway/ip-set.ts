import { BlockList, isIP } from 'node:net';

/** Strips the IPv4-mapped IPv6 prefix so that `::ffff:10.0.0.1` and `10.0.0.1` are one address. */
export function canonicalIp(ip: string): string {
  return ip.length > 7 && ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** A set of IPv4/IPv6 addresses and CIDR ranges, checked in O(ranges) without regexes. */
export class IpSet {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) {
      const cidr = parseCidr(entry);
      if (cidr === undefined) throw new Error(`not an IP address or CIDR: ${entry}`);
      this.#list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    if (this.size === 0) return false;
    const addr = canonicalIp(ip);
    const family = isIP(addr);
    if (family === 0) return false;
    return this.#list.check(addr, family === 4 ? 'ipv4' : 'ipv6');
  }
}

export function isValidCidr(s: string): boolean {
  return parseCidr(s) !== undefined;
}

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** An address (a /32 or /128) or a CIDR range; undefined when it is neither. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const version = isIP(address);
  // A zone index (fe80::1%eth0) names an interface, not a range: refuse rather than guess.
  if (version === 0 || address.includes('%')) return undefined;
  const max = version === 4 ? 32 : 128;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (slash < 0) return { address, prefix: max, family };
  const digits = s.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(digits)) return undefined;
  const prefix = Number(digits);
  return prefix <= max ? { address, prefix, family } : undefined;
}
