import { SocketAddress } from 'node:net';
import { CONSUMER_ID_PATTERN } from '../../config/authn-schema.js';
import { canonicalIp, parseCidr } from '../../gateway/ip-set.js';

/** What a block applies to. */
export const BLOCK_KINDS = ['ip', 'consumer', 'credential'] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

const CONSUMER_ID = new RegExp(CONSUMER_ID_PATTERN);
/** A credential as events name it (src/state/audit/fingerprint.ts): never the credential. */
const FINGERPRINT = /^fp:[0-9a-f]{12}$/;

/**
 * The canonical form of a block's subject, or a message saying why `text` is not one. An IP is
 * compared as the gateway resolves client IPs (IPv4-mapped IPv6 unwrapped, IPv6 in its
 * compressed lower-case form), so that `2001:DB8:0::1` blocks `2001:db8::1`; a range keeps its
 * prefix (`/32` of an IPv4 address and `/128` of an IPv6 one are the address alone).
 */
export function parseBlockSubject(
  kind: BlockKind,
  text: string,
): { ok: true; subject: string } | { ok: false; message: string } {
  switch (kind) {
    case 'ip': {
      const cidr = parseCidr(text);
      if (cidr === undefined) {
        return { ok: false, message: 'expected an IPv4 or IPv6 address, or a CIDR range' };
      }
      const address = canonicalIp(
        new SocketAddress({ address: cidr.address, family: cidr.family }).address,
      );
      const family = address.includes(':') ? 'ipv6' : 'ipv4';
      // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
      const prefix = family === 'ipv4' && cidr.family === 'ipv6' ? cidr.prefix - 96 : cidr.prefix;
      if (prefix < 0)
        return { ok: false, message: 'an IPv4-mapped range needs a prefix of 96 or more' };
      const max = family === 'ipv4' ? 32 : 128;
      return { ok: true, subject: prefix === max ? address : `${address}/${prefix}` };
    }
    case 'consumer':
      return CONSUMER_ID.test(text)
        ? { ok: true, subject: text }
        : { ok: false, message: `expected a consumer id (${CONSUMER_ID_PATTERN})` };
    case 'credential':
      return FINGERPRINT.test(text)
        ? { ok: true, subject: text }
        : {
            ok: false,
            message:
              'expected a credential fingerprint as events and `keys list` show it: fp: and 12 hex digits (never the credential itself)',
          };
  }
}
