import { isIP } from 'node:net';
import { isPort } from './port-number.js';

/** Longest X-Forwarded-Host we believe: a DNS name is at most 253 characters, plus a port. */
const MAX_HOST_LENGTH = 255;

/**
 * One RFC 7239 `Forwarded` element describing the hop into the gateway, e.g.
 * `for=192.0.2.1;proto=https;host=api.example.com` or `for="[2001:db8::1]";proto=http`.
 * A `clientIp` that is not an IP address is sent as `for=unknown`; a `host` that no
 * quoted-string can carry (control characters, non-Latin-1) is left out rather than sent broken.
 */
export function formatForwarded(
  clientIp: string,
  proto: 'http' | 'https',
  host: string | undefined,
): string {
  let element = `for=${formatNode(clientIp)};proto=${proto}`;
  if (host !== undefined) {
    const value = formatValue(host);
    if (value !== undefined) element += `;host=${value}`;
  }
  return element;
}

/** A trusted proxy's X-Forwarded-Proto, when it is exactly `http` or `https`. */
export function validForwardedProto(v: string | undefined): 'http' | 'https' | undefined {
  return v === 'http' || v === 'https' ? v : undefined;
}

/**
 * A trusted proxy's X-Forwarded-Host, when it is one syntactically valid host[:port]: a
 * reg-name of letters, digits, `.` and `-`, an IPv4 address or a bracketed IPv6 address, and
 * an optional port 1-65535. Lists (repeated headers joined by Node), userinfo, paths and
 * anything else are refused whole: we never pick one reading of an ambiguous host.
 */
export function validForwardedHost(v: string | undefined): string | undefined {
  if (v === undefined || v.length === 0 || v.length > MAX_HOST_LENGTH) return undefined;
  let hostEnd: number;
  if (v.charCodeAt(0) === 0x5b /* [ */) {
    const close = v.indexOf(']');
    if (close < 0) return undefined;
    const inner = v.slice(1, close);
    // A zone index (%eth0) means nothing to the upstream and is not valid in a URI host.
    if (isIP(inner) !== 6 || inner.includes('%')) return undefined;
    hostEnd = close + 1;
  } else {
    const colon = v.indexOf(':');
    hostEnd = colon < 0 ? v.length : colon;
    if (hostEnd === 0 || !isRegName(v, hostEnd)) return undefined;
  }
  if (hostEnd === v.length) return v;
  return v.charCodeAt(hostEnd) === 0x3a /* : */ && isPort(v, hostEnd + 1) ? v : undefined;
}

function formatNode(ip: string): string {
  const version = isIP(ip);
  if (version === 4) return ip;
  // RFC 7239 §6: an IPv6 node is bracketed, and `[`, `:` are not token characters, so quoted.
  if (version === 6 && !ip.includes('%')) return `"[${ip}]"`;
  return 'unknown';
}

/** RFC 7239 value: a token as is, otherwise a quoted-string; undefined if none can carry it. */
function formatValue(value: string): string | undefined {
  if (value.length > 0 && isToken(value)) return value;
  let quoted = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // Header injection: CR, LF and other controls (HTAB aside) cannot appear even quoted.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return undefined;
    if (c === 0x22 /* " */ || c === 0x5c /* \ */) quoted += '\\';
    quoted += value[i];
  }
  return `${quoted}"`;
}

/** RFC 9110 token: 1*tchar. */
function isToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (!isTchar(s.charCodeAt(i))) return false;
  }
  return true;
}

function isTchar(c: number): boolean {
  if (isAlnum(c)) return true;
  switch (c) {
    case 0x21: // !
    case 0x23: // #
    case 0x24: // $
    case 0x25: // %
    case 0x26: // &
    case 0x27: // '
    case 0x2a: // *
    case 0x2b: // +
    case 0x2d: // -
    case 0x2e: // .
    case 0x5e: // ^
    case 0x5f: // _
    case 0x60: // `
    case 0x7c: // |
    case 0x7e: // ~
      return true;
    default:
      return false;
  }
}

function isRegName(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && c !== 0x2e /* . */ && c !== 0x2d /* - */) return false;
  }
  return true;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
