import { C, type Hit, type Subject } from '../subject.js';
import type { RuleId } from '../rule-catalogue.js';

/**
 * Server-side request forgery: URLs (and whole values that are hosts) whose host, read by its
 * literal form, is the machine itself, a private network, a link-local address or a cloud
 * metadata service. The host is parsed the way a URL library would (the WHATWG parser, which
 * reads `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` as 127.0.0.1); no DNS lookup is made,
 * so a name that resolves to an internal address is not caught here (docs/detection.md).
 */

const METADATA_NAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
  'metadata.packet.net',
]);
const LOOPBACK_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
  'loopback',
]);
const DANGEROUS_SCHEMES = new Set([
  'gopher',
  'dict',
  'tftp',
  'ldap',
  'ldaps',
  'sftp',
  'jar',
  'netdoc',
]);

type Verdict = RuleId | undefined;

function classifyV4(a: number, b: number, c: number, d: number): Verdict {
  if (a === 169 && b === 254 && ((c === 169 && d === 254) || (c === 170 && d === 2))) {
    return 'detect.ssrf.cloud_metadata';
  }
  if (a === 100 && b === 100 && c === 100 && d === 200) return 'detect.ssrf.cloud_metadata';
  if (a === 127 || a === 0) return 'detect.ssrf.loopback';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) {
    return 'detect.ssrf.private_network';
  }
  if (a === 100 && b >= 64 && b <= 127) return 'detect.ssrf.private_network';
  if (a === 169 && b === 254) return 'detect.ssrf.link_local';
  return undefined;
}

/** The eight 16-bit groups of a canonical IPv6 address (as the URL parser prints it). */
function v6Groups(addr: string): number[] | undefined {
  const halves = addr.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16));
  const head = parse(halves[0] ?? '');
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups;
}

function classifyV6(addr: string): Verdict {
  const g = v6Groups(addr);
  if (g === undefined) return undefined;
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const v4 = (): Verdict => classifyV4(g6 >> 8, g6 & 255, g7 >> 8, g7 & 255);
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0) {
    if (g5 === 0 && g6 === 0 && (g7 === 1 || g7 === 0)) return 'detect.ssrf.loopback';
    // IPv4-mapped (`::ffff:127.0.0.1`) and the deprecated IPv4-compatible (`::127.0.0.1`).
    if (g5 === 0xffff || g5 === 0) return v4();
  }
  if (g0 === 0x64 && g1 === 0xff9b) return v4(); // NAT64
  if (
    g0 === 0xfd00 &&
    g1 === 0x0ec2 &&
    g7 === 0x254 &&
    g2 === 0 &&
    g3 === 0 &&
    g4 === 0 &&
    g5 === 0 &&
    g6 === 0
  ) {
    return 'detect.ssrf.cloud_metadata';
  }
  if ((g0 & 0xfe00) === 0xfc00) return 'detect.ssrf.private_network';
  if ((g0 & 0xffc0) === 0xfe80) return 'detect.ssrf.link_local';
  return undefined;
}

/** Classifies a host as written in a URL's authority (no port, no user info). */
export function classifyHost(rawHost: string): Verdict {
  let host = rawHost.toLowerCase();
  while (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return undefined;
  if (METADATA_NAMES.has(host)) return 'detect.ssrf.cloud_metadata';
  if (LOOPBACK_NAMES.has(host) || host.endsWith('.localhost')) return 'detect.ssrf.loopback';
  const c0 = host.charCodeAt(0);
  const numeric = (c0 >= 48 && c0 <= 57) || c0 === 91; /* [ */
  if (!numeric) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
  if (canonical.startsWith('[')) return classifyV6(canonical.slice(1, -1));
  const parts = canonical.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p))) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = parts.map(Number);
  return classifyV4(a, b, c, d);
}

const AUTHORITY_END = new Set([
  '/',
  '?',
  '#',
  ' ',
  '"',
  "'",
  '<',
  '>',
  '\\',
  '`',
  '\t',
  '\n',
  '\r',
  ')',
  ',',
]);

/** The host of the authority that starts at `at` (just after `://`). */
function hostOf(lower: string, at: number): string {
  let end = at;
  while (end < lower.length && end - at < 300 && !AUTHORITY_END.has(lower[end] as string)) end++;
  let authority = lower.slice(at, end);
  const userinfo = authority.lastIndexOf('@');
  if (userinfo !== -1) authority = authority.slice(userinfo + 1);
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    const literal = close === -1 ? authority : authority.slice(0, close + 1);
    // A zone id (`[fe80::1%25eth0]`) does not change where the address points.
    const zone = literal.indexOf('%');
    return zone === -1 ? literal : `${literal.slice(0, zone)}]`;
  }
  const colon = authority.indexOf(':');
  return colon === -1 ? authority : authority.slice(0, colon);
}

function schemeBefore(lower: string, at: number): string {
  let i = at;
  while (i > 0 && at - i < 20) {
    const c = lower.charCodeAt(i - 1);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) i--;
    else break;
  }
  return lower.slice(i, at);
}

/**
 * Whether a value without punctuation can be a host bareHost reads: a name of the machine or
 * its metadata service (`localhost`, `metadata`), or a hex address (`0x7f000001`).
 */
export function mayBeBareHostName(lower: string): boolean {
  const t = lower.trim();
  return LOOPBACK_NAMES.has(t) || METADATA_NAMES.has(t) || t.startsWith('0x');
}

/** A whole value that is only a host: `127.0.0.1`, `[::1]`, `0x7f.1`, `169.254.169.254:80`. */
function bareHost(lower: string): string | undefined {
  const t = lower.trim();
  if (t.length === 0 || t.length > 255) return undefined;
  let dots = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) ||
      (c >= 48 && c <= 57) ||
      c === 46 ||
      c === 58 ||
      c === 91 ||
      c === 93 ||
      c === 45;
    if (!ok) return undefined;
    if (c === 46) dots++;
  }
  // A bare number is an id, `10.5` a price, `1.2.3` a version far more often than an address:
  // only four-part, IPv6 and hex spellings, and the well-known names.
  const named = LOOPBACK_NAMES.has(t) || METADATA_NAMES.has(t);
  if (!named && dots !== 3 && !t.includes('::') && !t.startsWith('[') && !t.startsWith('0x')) {
    return undefined;
  }
  if (t.startsWith('[')) return t.slice(0, t.indexOf(']') + 1);
  const colons = t.split(':').length - 1;
  if (colons === 1) return t.slice(0, t.indexOf(':'));
  return colons > 1 ? `[${t}]` : t;
}

export function scanSsrf(s: Subject, hit: Hit): void {
  const lower = s.lower;
  let at = s.has(C.COLON) ? lower.indexOf('://') : -1;
  for (let n = 0; at !== -1 && n < 16; n++) {
    const scheme = schemeBefore(lower, at);
    if (DANGEROUS_SCHEMES.has(scheme)) hit('detect.ssrf.dangerous_scheme');
    const verdict = classifyHost(hostOf(lower, at + 3));
    if (verdict !== undefined) hit(verdict);
    at = lower.indexOf('://', at + 3);
  }
  const bare = bareHost(lower);
  if (bare !== undefined) {
    const verdict = classifyHost(bare);
    if (verdict === 'detect.ssrf.cloud_metadata') hit(verdict);
    else if (verdict !== undefined) hit('detect.ssrf.internal_host_value');
  }
}
