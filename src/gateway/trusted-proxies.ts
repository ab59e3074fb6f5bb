import { BlockList, SocketAddress, isIP } from 'node:net';
import { parseCidr } from './ip-set.js';
import { isPort } from './port-number.js';

/** Who sent a request, as far as the trusted proxies in front of the gateway vouch for it. */
export interface ClientAddress {
  /** The resolved client IP: IPv4 dotted-decimal or canonical IPv6, IPv4-mapped IPv6 unwrapped. */
  readonly clientIp: string;
  /**
   * XFF entries from the client IP rightwards, all trusted hops, plus the peer: what is sent
   * upstream as X-Forwarded-For.
   */
  readonly forwardedFor: string;
  /** The peer is a trusted proxy, so its X-Forwarded-For (and -Proto, -Host) may be believed. */
  readonly viaTrustedProxy: boolean;
}

/**
 * How many X-Forwarded-For entries one request may make us look at. A longer chain is cut
 * there, as if the next entry were unparsable, so a hostile header cannot buy per-request work.
 */
const MAX_ENTRIES = 64;

/** Longest parsable entry: `[` + 45-char IPv6 + `]:65535`. Anything longer is garbage. */
const MAX_ENTRY_LENGTH = 53;

const MAPPED_PREFIX = '::ffff:';

interface ParsedAddress {
  /** Normalized text: IPv4, or canonical IPv6; IPv4-mapped IPv6 unwrapped to IPv4. */
  readonly text: string;
  /** Parsed once and reused for the trust check (building one is the expensive part). */
  readonly socket: SocketAddress;
}

/**
 * Resolves the client IP from the connection peer and X-Forwarded-For, believing only what
 * the configured trusted proxies say (the right-to-left walk of Envoy's xff_num_trusted_hops
 * and nginx's real_ip_recursive).
 */
export class TrustedProxies {
  readonly #trusted = new BlockList();
  readonly #empty: boolean;

  /** @throws Error naming the entry when one of `cidrs` is not an IPv4/IPv6 address or CIDR. */
  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) {
      const cidr = parseCidr(entry);
      if (cidr === undefined) {
        throw new Error(
          `Invalid trusted proxy ${JSON.stringify(entry)}: expected an IPv4 or IPv6 address, optionally with a /prefix (e.g. 10.0.0.0/8, 2001:db8::/32)`,
        );
      }
      this.#trusted.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
    this.#empty = cidrs.length === 0;
  }

  /** Whether `ip` (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of the trusted ranges. */
  isTrusted(ip: string): boolean {
    const parsed = parsePeer(ip);
    return parsed !== undefined && this.#check(parsed);
  }

  /**
   * @param peerIp the address of the TCP peer (`socket.remoteAddress`)
   * @param xForwardedFor the X-Forwarded-For header as Node gives it (repeats joined by ', ')
   */
  resolve(peerIp: string, xForwardedFor: string | undefined): ClientAddress {
    if (this.#empty && isIP(peerIp) === 4) {
      // No proxy is trusted: the peer is the client, without parsing an address object.
      return { clientIp: peerIp, forwardedFor: peerIp, viaTrustedProxy: false };
    }
    const peer = parsePeer(peerIp);
    if (peer === undefined || !this.#check(peer)) {
      // Spoofing: an untrusted peer's X-Forwarded-For is its own claim, never believed.
      const ip = peer === undefined ? peerIp : peer.text;
      return { clientIp: ip, forwardedFor: ip, viaTrustedProxy: false };
    }
    if (xForwardedFor === undefined) {
      return { clientIp: peer.text, forwardedFor: peer.text, viaTrustedProxy: true };
    }

    // Walk right to left. `reached` holds the entries passed so far, nearest first; the last of
    // them is the client. Stopping early (garbage, too many entries) leaves the nearest
    // trusted hop as the client: whatever lies beyond it nobody we trust has vouched for.
    const reached: string[] = [];
    let end = xForwardedFor.length;
    for (let count = 0; count < MAX_ENTRIES; count++) {
      const comma = end === 0 ? -1 : xForwardedFor.lastIndexOf(',', end - 1);
      const entry = parseEntry(xForwardedFor, comma + 1, end);
      if (entry === undefined) break;
      reached.push(entry.text);
      if (!this.#check(entry) || comma < 0) break;
      end = comma;
    }

    if (reached.length === 0) {
      return { clientIp: peer.text, forwardedFor: peer.text, viaTrustedProxy: true };
    }
    const clientIp = reached[reached.length - 1] ?? peer.text;
    reached.reverse();
    reached.push(peer.text);
    return { clientIp, forwardedFor: reached.join(', '), viaTrustedProxy: true };
  }

  #check(address: ParsedAddress): boolean {
    // BlockList matches IPv4 rules against IPv4-mapped IPv6 and back, so the socket address
    // need not be rebuilt after unwrapping.
    return this.#trusted.check(address.socket);
  }
}

/** Whether `s` is an IPv4 or IPv6 address with an optional /prefix: the config's `cidr` format. */

/** The peer as Node reports it: a bare address, possibly IPv4-mapped or with a zone index. */
function parsePeer(ip: string): ParsedAddress | undefined {
  const version = isIP(ip);
  if (version === 4) return { text: ip, socket: new SocketAddress({ address: ip }) };
  if (version === 6) return parseV6(ip);
  return undefined;
}

/**
 * One X-Forwarded-For entry, `header.slice(start, end)` with optional whitespace around it:
 * an IPv4 or IPv6 address, `v4:port`, `[v6]` or `[v6]:port`. Anything else is unparsable.
 */
function parseEntry(header: string, start: number, end: number): ParsedAddress | undefined {
  while (start < end && isOws(header.charCodeAt(start))) start++;
  while (end > start && isOws(header.charCodeAt(end - 1))) end--;
  const length = end - start;
  if (length === 0 || length > MAX_ENTRY_LENGTH) return undefined;
  const entry = header.slice(start, end);

  const version = isIP(entry);
  if (version === 4) return { text: entry, socket: new SocketAddress({ address: entry }) };
  if (version === 6) return entry.includes('%') ? undefined : parseV6(entry);

  if (entry.charCodeAt(0) === 0x5b /* [ */) {
    const close = entry.indexOf(']');
    if (close < 0) return undefined;
    if (
      close !== length - 1 &&
      !(entry.charCodeAt(close + 1) === 0x3a && isPort(entry, close + 2))
    ) {
      return undefined;
    }
    const inner = entry.slice(1, close);
    return isIP(inner) === 6 && !inner.includes('%') ? parseV6(inner) : undefined;
  }

  const colon = entry.indexOf(':');
  if (colon > 0 && isPort(entry, colon + 1)) {
    const host = entry.slice(0, colon);
    if (isIP(host) === 4) return { text: host, socket: new SocketAddress({ address: host }) };
  }
  return undefined;
}

/** `ip` has passed `isIP(ip) === 6`. */
function parseV6(ip: string): ParsedAddress | undefined {
  let socket: SocketAddress;
  try {
    socket = new SocketAddress({ address: ip, family: 'ipv6' });
  } catch {
    return undefined;
  }
  // The canonical form (lowercase, zero runs compressed, zone dropped), so one client has one
  // spelling in rate-limit keys, blocks and events.
  const text = socket.address;
  if (text.startsWith(MAPPED_PREFIX)) {
    const v4 = text.slice(MAPPED_PREFIX.length);
    if (isIP(v4) === 4) return { text: v4, socket };
  }
  return { text, socket };
}

/** RFC 9110 OWS: space or horizontal tab, nothing wider. */
function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
