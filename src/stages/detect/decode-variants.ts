/**
 * The decoding pipeline: what an attacker may wrap a payload in before the application unwraps
 * it. Each decoder is one linear pass; the variants are capped in number, and every decoder
 * shrinks its input, so their total length is at most `maxVariants` times the value's.
 */

const HEX = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Percent-decoding, lenient like the servers an attacker targets: `%XX`, IIS `%uXXXX`, and the
 * overlong UTF-8 spellings of `.`, `/` and `\` (`%c0%af`) that old decoders let through.
 */
export function urlDecode(s: string): string | undefined {
  let i = s.indexOf('%');
  if (i === -1) return undefined;
  if (onlyAsciiEscapes(s, i)) return decodeURIComponent(s);
  let out = '';
  let start = 0; // the first character not yet copied to `out`
  let changed = false;
  // Bytes of one run of escapes are decoded together (a UTF-8 sequence spans several).
  const bytes: number[] = [];
  let ascii = true;
  const flush = (): void => {
    if (bytes.length === 0) return;
    // ASCII needs no UTF-8 decoder (nor a buffer); a long run goes in slices, as a spread of a
    // hostile 100 000 bytes would overflow the stack.
    if (ascii) {
      for (let k = 0; k < bytes.length; k += 4096)
        out += String.fromCharCode(...bytes.slice(k, k + 4096));
    } else out += UTF8.decode(Uint8Array.from(overlongToAscii(bytes)));
    bytes.length = 0;
    ascii = true;
  };
  while (i !== -1) {
    const h1 = HEX(s.charCodeAt(i + 1));
    const h2 = HEX(s.charCodeAt(i + 2));
    const u = s.charCodeAt(i + 1);
    const code = u === 117 || u === 85 ? hex4(s, i + 2) : -1;
    if ((h1 < 0 || h2 < 0) && code < 0) {
      i = s.indexOf('%', i + 1);
      continue;
    }
    if (i > start) {
      flush();
      out += s.slice(start, i);
    }
    if (h1 >= 0 && h2 >= 0) {
      const b = h1 * 16 + h2;
      if (b >= 0x80) ascii = false;
      bytes.push(b);
      start = i + 3;
    } else {
      flush();
      out += String.fromCharCode(code);
      start = i + 6;
    }
    changed = true;
    i = s.indexOf('%', start);
  }
  flush();
  out += s.slice(start);
  return changed ? out : undefined;
}

/**
 * Whether every `%` from `at` on starts an escape of an ASCII byte (`%00` to `%7F`): then the
 * built-in decoder reads the value exactly as the lenient one below (no `%u`, no UTF-8, no
 * overlong form, nothing left undecoded), and cannot throw.
 */
function onlyAsciiEscapes(s: string, at: number): boolean {
  for (let i = at; i !== -1; i = s.indexOf('%', i + 3)) {
    const h1 = HEX(s.charCodeAt(i + 1));
    if (h1 < 0 || h1 > 7 || HEX(s.charCodeAt(i + 2)) < 0) return false;
  }
  return true;
}

function hex4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const h = HEX(s.charCodeAt(at + k));
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/** `C0 AF` → `/`, `E0 80 AE` → `.`: overlong forms of ASCII, decoded as old parsers did. */
function overlongToAscii(bytes: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    if ((b === 0xc0 || b === 0xc1) && (b1 & 0xc0) === 0x80) {
      out.push(((b & 0x1f) << 6) | (b1 & 0x3f));
      i += 1;
    } else if (b === 0xe0 && (b1 & 0xe0) === 0x80 && (b2 & 0xc0) === 0x80) {
      out.push(((b1 & 0x3f) << 6) | (b2 & 0x3f));
      i += 2;
    } else out.push(b);
  }
  return out;
}

const NAMED: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  amp: '&',
  sol: '/',
  bsol: '\\',
  colon: ':',
  semi: ';',
  lpar: '(',
  rpar: ')',
  tab: '\t',
  newline: '\n',
  nbsp: ' ',
  grave: '`',
  equals: '=',
  period: '.',
  percnt: '%',
  excl: '!',
  num: '#',
  dollar: '$',
  lcub: '{',
  rcub: '}',
  lbrace: '{',
  rbrace: '}',
};

/** HTML character references: `&lt;`, `&#60;`, `&#x3c;`, with or without the `;`. */
export function htmlEntityDecode(s: string): string | undefined {
  let i = s.indexOf('&');
  if (i === -1) return undefined;
  let out = '';
  let start = 0;
  while (i !== -1) {
    let decoded: string | undefined;
    let j = i + 1;
    if (s.charCodeAt(j) === 35 /* # */) {
      const hex = s.charCodeAt(j + 1) === 120 || s.charCodeAt(j + 1) === 88;
      j += hex ? 2 : 1;
      const first = j;
      let v = 0;
      // Leading zeros are how filters are evaded (`&#0000060`); the digits are bounded.
      while (j < s.length && j - first < 12) {
        const d = hex ? HEX(s.charCodeAt(j)) : s.charCodeAt(j) - 48;
        if (d < 0 || d > (hex ? 15 : 9)) break;
        v = v * (hex ? 16 : 10) + d;
        j++;
      }
      if (j > first && v > 0 && v <= 0x10ffff) decoded = String.fromCodePoint(v);
    } else {
      while (j < s.length && j - i <= 8 && isLetter(s.charCodeAt(j))) j++;
      decoded = NAMED[s.slice(i + 1, j).toLowerCase()];
    }
    if (decoded === undefined) {
      i = s.indexOf('&', i + 1);
      continue;
    }
    if (s.charCodeAt(j) === 59 /* ; */) j++;
    out += s.slice(start, i) + decoded;
    start = j;
    i = s.indexOf('&', j);
  }
  return start === 0 ? undefined : out + s.slice(start);
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** JavaScript and JSON escapes left in a string: `\u003c`, `\u{3c}`, `\x3c`. */
export function escapeDecode(s: string): string | undefined {
  let i = s.indexOf('\\');
  if (i === -1) return undefined;
  let out = '';
  let start = 0;
  while (i !== -1) {
    const k = s.charCodeAt(i + 1);
    let decoded: string | undefined;
    let next = i + 1;
    if (k === 117 /* u */ && s.charCodeAt(i + 2) === 123 /* { */) {
      let j = i + 3;
      let v = 0;
      while (j < s.length && j - i < 10 && HEX(s.charCodeAt(j)) >= 0) {
        v = v * 16 + HEX(s.charCodeAt(j));
        j++;
      }
      if (s.charCodeAt(j) === 125 && j > i + 3 && v <= 0x10ffff) {
        decoded = String.fromCodePoint(v);
        next = j + 1;
      }
    } else if (k === 117) {
      const v = hex4(s, i + 2);
      if (v >= 0) {
        decoded = String.fromCharCode(v);
        next = i + 6;
      }
    } else if (k === 120 /* x */) {
      const h1 = HEX(s.charCodeAt(i + 2));
      const h2 = HEX(s.charCodeAt(i + 3));
      if (h1 >= 0 && h2 >= 0) {
        decoded = String.fromCharCode(h1 * 16 + h2);
        next = i + 4;
      }
    }
    if (decoded !== undefined) {
      out += s.slice(start, i) + decoded;
      start = next;
    }
    i = s.indexOf('\\', next);
  }
  return start === 0 ? undefined : out + s.slice(start);
}

function isBase64Char(c: number): boolean {
  return (
    isLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 45 || c === 95 // + / - _
  );
}

/**
 * Base64 (standard or URL-safe), only where the whole value looks like it and decodes to text:
 * a payload hidden in a field the application decodes. Binary (an image, a key) is left alone.
 */
export function base64Decode(s: string): string | undefined {
  const t = s.trim();
  if (t.length < 12) return undefined;
  let end = t.length;
  while (end > 0 && t.charCodeAt(end - 1) === 61 /* = */) end--;
  if (t.length - end > 2) return undefined;
  let letters = 0;
  let digitsOrSigns = 0;
  for (let i = 0; i < end; i++) {
    const c = t.charCodeAt(i);
    if (!isBase64Char(c)) return undefined;
    if (isLetter(c)) letters++;
    else digitsOrSigns++;
  }
  // A plain word (`internationalization`) is valid base64 too: demand the mix base64 has.
  if (digitsOrSigns === 0 && end < 24) return undefined;
  if (end % 4 === 1) return undefined;
  const bytes = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  if (bytes.length === 0) return undefined;
  let printable = 0;
  for (const b of bytes) if ((b >= 32 && b < 127) || b === 9 || b === 10 || b === 13) printable++;
  if (printable / bytes.length < 0.9 || letters === 0) return undefined;
  return bytes.toString('utf8');
}

const DECODERS = [urlDecode, htmlEntityDecode, escapeDecode, base64Decode];

/**
 * The variants of a value the rules see: the value itself, then what each decoder makes of each
 * variant, breadth first (URL, double URL, entities inside URL encoding, base64 of
 * URL-encoded...), without repeats, at most `maxVariants` of them.
 */
export function decodeVariants(value: string, maxVariants: number): string[] {
  const variants = [value];
  for (let i = 0; i < variants.length && variants.length < maxVariants; i++) {
    const v = variants[i] as string;
    for (const decode of DECODERS) {
      const out = decode(v);
      if (out !== undefined && out !== v && !variants.includes(out)) {
        variants.push(out);
        if (variants.length >= maxVariants) break;
      }
    }
  }
  return variants;
}
