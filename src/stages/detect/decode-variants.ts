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
  if (s.indexOf('%') === -1) return undefined;
  const bytes: number[] = [];
  let out = '';
  let changed = false;
  const flush = (): void => {
    if (bytes.length === 0) return;
    out += UTF8.decode(Uint8Array.from(overlongToAscii(bytes)));
    bytes.length = 0;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      const h1 = HEX(s.charCodeAt(i + 1));
      const h2 = HEX(s.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        bytes.push(h1 * 16 + h2);
        i += 2;
        changed = true;
        continue;
      }
      const u = s.charCodeAt(i + 1);
      if (u === 117 || u === 85) {
        const code = hex4(s, i + 2);
        if (code >= 0) {
          flush();
          out += String.fromCharCode(code);
          i += 5;
          changed = true;
          continue;
        }
      }
    }
    flush();
    out += s[i];
  }
  flush();
  return changed ? out : undefined;
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
  if (s.indexOf('&') === -1) return undefined;
  let out = '';
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 38 /* & */) {
      out += s[i];
      continue;
    }
    if (s.charCodeAt(i + 1) === 35 /* # */) {
      const hex = s.charCodeAt(i + 2) === 120 || s.charCodeAt(i + 2) === 88;
      let j = i + (hex ? 3 : 2);
      let v = 0;
      const start = j;
      // Leading zeros are how filters are evaded (`&#0000060`); the digits are bounded.
      while (j < s.length && j - start < 12) {
        const d = hex ? HEX(s.charCodeAt(j)) : s.charCodeAt(j) - 48;
        if (d < 0 || d > (hex ? 15 : 9)) break;
        v = v * (hex ? 16 : 10) + d;
        j++;
      }
      if (j > start && v > 0 && v <= 0x10ffff) {
        out += String.fromCodePoint(v);
        if (s.charCodeAt(j) === 59 /* ; */) j++;
        i = j - 1;
        changed = true;
        continue;
      }
    } else {
      let j = i + 1;
      while (j < s.length && j - i <= 8 && isLetter(s.charCodeAt(j))) j++;
      const name = s.slice(i + 1, j).toLowerCase();
      const ch = NAMED[name];
      if (ch !== undefined) {
        out += ch;
        if (s.charCodeAt(j) === 59) j++;
        i = j - 1;
        changed = true;
        continue;
      }
    }
    out += '&';
  }
  return changed ? out : undefined;
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** JavaScript and JSON escapes left in a string: `\u003c`, `\u{3c}`, `\x3c`. */
export function escapeDecode(s: string): string | undefined {
  if (s.indexOf('\\') === -1) return undefined;
  let out = '';
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 92 /* \ */) {
      const k = s.charCodeAt(i + 1);
      if (k === 117 /* u */) {
        if (s.charCodeAt(i + 2) === 123 /* { */) {
          let j = i + 3;
          let v = 0;
          while (j < s.length && j - i < 10 && HEX(s.charCodeAt(j)) >= 0) {
            v = v * 16 + HEX(s.charCodeAt(j));
            j++;
          }
          if (s.charCodeAt(j) === 125 && j > i + 3 && v <= 0x10ffff) {
            out += String.fromCodePoint(v);
            i = j;
            changed = true;
            continue;
          }
        } else {
          const v = hex4(s, i + 2);
          if (v >= 0) {
            out += String.fromCharCode(v);
            i += 5;
            changed = true;
            continue;
          }
        }
      } else if (k === 120 /* x */) {
        const h1 = HEX(s.charCodeAt(i + 2));
        const h2 = HEX(s.charCodeAt(i + 3));
        if (h1 >= 0 && h2 >= 0) {
          out += String.fromCharCode(h1 * 16 + h2);
          i += 3;
          changed = true;
          continue;
        }
      }
    }
    out += s[i];
  }
  return changed ? out : undefined;
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
