import type { NormalizationConfig } from '../config/schema.js';

/**
 * Canonicalizes the request target before routing. The canonical path is what the router
 * matches, what every policy checks and, byte for byte, what the upstream receives: any
 * reading of the raw target on which the gateway and a backend could disagree is refused
 * rather than guessed (path-confusion and ACL-bypass attacks).
 */
export type NormalizeResult =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

const REASONS = [
  'normalize.path.not_origin_form',
  'normalize.path.raw_byte',
  'normalize.path.fragment',
  'normalize.path.bad_percent',
  'normalize.path.invalid_utf8',
  'normalize.path.control_char',
  'normalize.path.encoded_slash',
  'normalize.path.backslash',
  'normalize.path.semicolon',
  'normalize.path.double_encoding',
  'normalize.path.above_root',
  'normalize.path.hidden_dot_segment',
  'normalize.path.trailing_dot',
] as const;

type Reason = (typeof REASONS)[number];

/** Every reason id `normalizePath` can refuse with. */
export const NORMALIZE_REASONS: readonly string[] = Object.freeze([...REASONS]);

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;
const QUESTION = 0x3f;
const HASH = 0x23;
const HEX = '0123456789ABCDEF';

function reject(reason: Reason, detail: string): NormalizeResult {
  return { ok: false, reason, detail };
}

export function normalizePath(target: string, opts: NormalizationConfig): NormalizeResult {
  const n = target.length;
  // Absolute-form would let the URL's authority disagree with the Host header; `*` is not a path.
  if (n === 0 || target.charCodeAt(0) !== SLASH) {
    return reject(
      'normalize.path.not_origin_form',
      'The request target must be a path starting with "/".',
    );
  }
  // One scan: byte checks over the whole target, and whether the path needs the slow path.
  let queryAt = -1;
  let special = false;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    // Raw controls, spaces and non-ASCII are read differently by different parsers.
    if (c < 0x21 || c > 0x7e) {
      return reject(
        'normalize.path.raw_byte',
        'The request target contains a character that must be percent-encoded.',
      );
    }
    // A fragment is never sent by a client; a backend that cuts at `#` routes another path.
    if (c === HASH) {
      return reject('normalize.path.fragment', 'The request target must not contain a fragment.');
    }
    if (queryAt < 0) {
      if (c === QUESTION) {
        queryAt = i;
      } else if (
        c === PERCENT ||
        c === DOT ||
        c === BACKSLASH ||
        c === SEMICOLON ||
        (c === SLASH && prev === SLASH)
      ) {
        special = true;
      }
      prev = c;
    }
  }
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  const query = queryAt < 0 ? '' : target.slice(queryAt + 1);
  if (!special) return { ok: true, path, query };
  return canonicalize(path, query, opts);
}

function canonicalize(raw: string, query: string, opts: NormalizationConfig): NormalizeResult {
  // Decode: unreserved characters become literal, every other encoded byte stays encoded
  // in upper-case hex, so that one resource has one spelling.
  let decoded = '';
  let runStart = 0;
  let sawPercent25 = false;
  const n = raw.length;
  let i = 0;
  while (i < n) {
    const c = raw.charCodeAt(i);
    if (c !== PERCENT) {
      // Windows and IIS backends treat `\` as `/`: `/api\..\admin` reaches `/admin`.
      if (c === BACKSLASH && !opts.allowBackslash) return backslash();
      // Tomcat and others cut path parameters: `/api/..;/admin` reaches `/admin`.
      if (c === SEMICOLON && !opts.allowSemicolon) return semicolon();
      i++;
      continue;
    }
    const byte = hexByte(raw, i + 1);
    if (byte < 0) {
      // Includes IIS `%u002e`: lenient decoders read a dot where we would read garbage.
      return reject(
        'normalize.path.bad_percent',
        'The path contains a malformed percent-encoding.',
      );
    }
    decoded += raw.slice(runStart, i);
    if (byte >= 0x80) {
      // Overlong forms (`%C0%AE` is `.` to a lax decoder), surrogates and stray bytes decode
      // differently from one backend to the next; only well-formed UTF-8 passes, still encoded.
      const len = utf8Length(raw, i, byte);
      if (len === 0) {
        return reject(
          'normalize.path.invalid_utf8',
          'The path contains percent-encoded bytes that are not valid UTF-8.',
        );
      }
      decoded += raw.slice(i, i + 3 * len).toUpperCase();
      i += 3 * len;
      runStart = i;
      continue;
    }
    // `%00` truncates paths in C-based backends; CR/LF split headers and logs.
    if (byte < 0x20 || byte === 0x7f) {
      return reject(
        'normalize.path.control_char',
        'The path contains an encoded control character.',
      );
    }
    // A backend that decodes before splitting sees `/admin%2f..` as `/admin/..`.
    if (byte === SLASH && !opts.allowEncodedSlash) {
      return reject('normalize.path.encoded_slash', 'The path contains an encoded slash.');
    }
    if (byte === BACKSLASH && !opts.allowBackslash) return backslash();
    if (byte === SEMICOLON && !opts.allowSemicolon) return semicolon();
    if (byte === PERCENT) sawPercent25 = true;
    decoded += isUnreserved(byte)
      ? String.fromCharCode(byte)
      : '%' + HEX.charAt(byte >> 4) + HEX.charAt(byte & 15);
    i += 3;
    runStart = i;
  }
  decoded += raw.slice(runStart);

  // A backend that decodes twice reads `%252e` as `.`. Checked on the decoded text, so that
  // `%25%32%65` (which decodes to `%2e`) is caught too.
  if (sawPercent25 && !opts.allowDoubleEncoding && hasDoubleEncoding(decoded)) {
    return reject('normalize.path.double_encoding', 'The path contains a double percent-encoding.');
  }

  // Collapse empty segments and resolve dot segments (RFC 3986 5.2.4), never above the root.
  const parts = decoded.split('/');
  const out: string[] = [];
  for (let k = 1; k < parts.length; k++) {
    const seg = parts[k] ?? '';
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      // Clamping would make `/../admin` and `/admin` one path for us and two for a backend.
      if (out.length === 0) {
        return reject('normalize.path.above_root', 'The path climbs above the root.');
      }
      out.pop();
      continue;
    }
    const shape = segmentShape(seg);
    // Only reachable with allowBackslash or allowSemicolon: `..;` and `..\` are dot
    // segments to Tomcat and Windows even when the literal characters are allowed.
    if (shape === HIDDEN_DOT) {
      return reject(
        'normalize.path.hidden_dot_segment',
        'A path segment hides a dot segment behind a backslash or a parameter.',
      );
    }
    // Windows strips trailing dots: `/admin.` opens `/admin` on IIS.
    if (shape === TRAILING_DOT && !opts.allowTrailingDot) {
      return reject('normalize.path.trailing_dot', 'A path segment ends with a dot.');
    }
    out.push(seg);
  }
  const lastSeg = parts[parts.length - 1];
  const trailingSlash = lastSeg === '' || lastSeg === '.' || lastSeg === '..';
  const path = out.length === 0 ? '/' : '/' + out.join('/') + (trailingSlash ? '/' : '');
  return { ok: true, path, query };
}

// Each refusal reason has a single site, reached from the raw and the encoded spelling alike.
function backslash(): NormalizeResult {
  return reject('normalize.path.backslash', 'The path contains a backslash.');
}

function semicolon(): NormalizeResult {
  return reject('normalize.path.semicolon', 'The path contains a semicolon.');
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1; // also for NaN past the end of the string
}

/** The byte encoded by the two hex digits at `at`, or -1. */
function hexByte(s: string, at: number): number {
  const hi = hexDigit(s.charCodeAt(at));
  const lo = hexDigit(s.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2d ||
    b === DOT ||
    b === 0x5f ||
    b === 0x7e
  );
}

/**
 * The length in bytes of the well-formed UTF-8 sequence whose lead byte `lead` is encoded
 * at `at`, each byte as `%XX`; 0 when it is not well formed (Unicode 15, table 3-7).
 */
function utf8Length(s: string, at: number, lead: number): number {
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    need = 1;
  } else if (lead === 0xe0) {
    need = 2;
    lo = 0xa0; // overlong below U+0800
  } else if (lead === 0xed) {
    need = 2;
    hi = 0x9f; // surrogates U+D800..U+DFFF
  } else if (lead >= 0xe1 && lead <= 0xef) {
    need = 2;
  } else if (lead === 0xf0) {
    need = 3;
    lo = 0x90; // overlong below U+10000
  } else if (lead >= 0xf1 && lead <= 0xf3) {
    need = 3;
  } else if (lead === 0xf4) {
    need = 3;
    hi = 0x8f; // above U+10FFFF
  } else {
    return 0; // stray continuation, overlong C0/C1, or F5..FF
  }
  for (let k = 1; k <= need; k++) {
    const p = at + 3 * k;
    if (s.charCodeAt(p) !== PERCENT) return 0;
    const b = hexByte(s, p + 1);
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/** Whether the decoded path holds `%25` followed by two hex digits. */
function hasDoubleEncoding(decoded: string): boolean {
  for (let at = decoded.indexOf('%25'); at >= 0; at = decoded.indexOf('%25', at + 3)) {
    if (hexByte(decoded, at + 3) >= 0) return true;
  }
  return false;
}

const PLAIN = 0;
const HIDDEN_DOT = 1;
const TRAILING_DOT = 2;

/**
 * Looks at a segment that is not itself `.` or `..` the way a lenient backend would: split at
 * `\` (and `%5C`) and cut at the first `;` (or `%3B`) of each piece. A piece that is then `.`
 * or `..` is a hidden dot segment; a piece ending in `.` is a trailing dot.
 */
function segmentShape(seg: string): number {
  let shape = PLAIN;
  let start = 0;
  let stemEnd = -1;
  const n = seg.length;
  for (let j = 0; j <= n; j++) {
    let kind = j < n ? seg.charCodeAt(j) : BACKSLASH;
    let width = 1;
    if (kind === PERCENT) {
      const b = hexByte(seg, j + 1);
      if (b === BACKSLASH || b === SEMICOLON) {
        kind = b;
        width = 3;
      }
    }
    if (kind === SEMICOLON) {
      if (stemEnd < 0) stemEnd = j;
    } else if (kind === BACKSLASH) {
      const end = stemEnd < 0 ? j : stemEnd;
      const len = end - start;
      if (len > 0 && seg.charCodeAt(end - 1) === DOT) {
        if (len === 1 || (len === 2 && seg.charCodeAt(start) === DOT)) return HIDDEN_DOT;
        shape = TRAILING_DOT;
      }
      start = j + width;
      stemEnd = -1;
    }
    j += width - 1;
  }
  return shape;
}
