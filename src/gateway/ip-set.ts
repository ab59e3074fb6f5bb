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
      const slash = entry.indexOf('/');
      const addr = canonicalIp(slash === -1 ? entry : entry.slice(0, slash));
      const family = isIP(addr);
      if (family === 0) throw new Error(`not an IP address or CIDR: ${entry}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const max = family === 4 ? 32 : 128;
      const prefixText = slash === -1 ? undefined : entry.slice(slash + 1);
      if (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText)) {
        throw new Error(`invalid prefix length in ${entry}`);
      }
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (prefix > max) throw new Error(`invalid prefix length in ${entry}`);
      this.#list.addSubnet(addr, prefix, type);
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
