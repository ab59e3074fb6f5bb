import type { RuleId } from './rule-catalogue.js';

/** Where a value came from: rules weigh some signals differently in free-text JSON bodies. */
export type Source = 'path' | 'query' | 'header' | 'cookie' | 'body';

/**
 * One decoded variant of one request value, as every rule family sees it. The lower-cased form
 * is computed once, on first use, and shared by the families.
 */
/** Bits of Subject.mask: which punctuation a value holds, so a family can skip it in O(1). */
export const C = {
  QUOTE: 1 << 0, // ' "
  BACKTICK: 1 << 1,
  SEMI: 1 << 2,
  PAREN: 1 << 3, // (
  LT: 1 << 4,
  GT: 1 << 5,
  AMP: 1 << 6,
  PIPE: 1 << 7,
  DOLLAR: 1 << 8,
  BRACE: 1 << 9, // {
  PERCENT: 1 << 10,
  BACKSLASH: 1 << 11,
  SLASH: 1 << 12,
  COLON: 1 << 13,
  DOT: 1 << 14,
  EQ: 1 << 15,
  HASH: 1 << 16,
  DASH: 1 << 17,
  AT: 1 << 18,
  NEWLINE: 1 << 19, // \n \r
  STAR: 1 << 20,
  BRACKET: 1 << 21, // [
  NUL: 1 << 22,
  UNDERSCORE: 1 << 23,
  OTHER_CONTROL: 1 << 24,
} as const;

const CHAR_BITS = new Int32Array(128);
for (const [ch, bit] of [
  ["'", C.QUOTE],
  ['"', C.QUOTE],
  ['`', C.BACKTICK],
  [';', C.SEMI],
  ['(', C.PAREN],
  ['<', C.LT],
  ['>', C.GT],
  ['&', C.AMP],
  ['|', C.PIPE],
  ['$', C.DOLLAR],
  ['{', C.BRACE],
  ['%', C.PERCENT],
  ['\\', C.BACKSLASH],
  ['/', C.SLASH],
  [':', C.COLON],
  ['.', C.DOT],
  ['=', C.EQ],
  ['#', C.HASH],
  ['-', C.DASH],
  ['@', C.AT],
  ['\n', C.NEWLINE],
  ['\r', C.NEWLINE],
  ['*', C.STAR],
  ['[', C.BRACKET],
  ['\u0000', C.NUL],
  ['_', C.UNDERSCORE],
] as const) {
  CHAR_BITS[ch.charCodeAt(0)] = bit;
}

/**
 * Whether `text` is ASCII without any character that has a C bit: letters, digits, spaces and
 * punctuation no rule family reads (`,` `+` `!` `?` `)` ...). Such a text can only fire the
 * rules that read bare words (see isInert in detector.ts).
 */
export function isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || CHAR_BITS[c] !== 0) return false;
  }
  return true;
}

export class Subject {
  #lower: string | undefined;
  #mask = -1;

  constructor(
    readonly text: string,
    readonly source: Source,
    /** true when the variant came out of a decoder (the client encoded it). */
    readonly decoded: boolean,
  ) {}

  get lower(): string {
    this.#lower ??= this.text.toLowerCase();
    return this.#lower;
  }

  /** The C bits of the punctuation the text holds (one pass, on first use). */
  get mask(): number {
    if (this.#mask === -1) {
      let m = 0;
      const t = this.text;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        if (c < 128) m |= CHAR_BITS[c] as number;
      }
      this.#mask = m;
    }
    return this.#mask;
  }

  has(bits: number): boolean {
    return (this.mask & bits) !== 0;
  }
}

/** Records a rule hit; the engine drops rules above the stage's paranoia level. */
export type Hit = (id: RuleId) => void;

/** A rule family's scanner: linear in the length of the subject, no backtracking. */
export type ValueScanner = (s: Subject, hit: Hit) => void;

/** A scanner of the keys on one path: JSON member names, bracketed parameter name segments. */
export type KeyScanner = (keys: readonly string[], hit: Hit) => void;

export function isWordChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 // _
  );
}

export function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** Whether `needle` occurs in `hay` at `at` and is not followed by a word character. */
export function wordAt(hay: string, at: number, needle: string): boolean {
  if (!hay.startsWith(needle, at)) return false;
  const next = hay.charCodeAt(at + needle.length);
  return Number.isNaN(next) || !isWordChar(next);
}

/** Every index of `needle` in `hay`, at most `max` of them (the scan stays linear). */
export function indexesOf(hay: string, needle: string, max = 64): number[] {
  const out: number[] = [];
  let at = hay.indexOf(needle);
  while (at !== -1 && out.length < max) {
    out.push(at);
    at = hay.indexOf(needle, at + needle.length);
  }
  return out;
}
