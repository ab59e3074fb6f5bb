import type { PropertyNode } from './property-paths.js';

/** Thrown inside the scan when an object names a readable property twice; never escapes. */
const TWICE = new Error('a readable property named twice');

// Character codes of the JSON grammar (RFC 8259).
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_U = 0x75;

/** The characters that may follow a backslash in a string, besides `u`. */
const SIMPLE_ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
/** What a skipped container still waits for, innermost last. */
const IN_ARRAY = 0;
const IN_OBJECT = 1;

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE;
const isHex = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * `filterRead` on the JSON text itself: what JSON.parse of the result holds is what
 * `filterRead(JSON.parse(text), node)` returns, without building the value and serializing it
 * again (on a small response, most of what the read filter cost). The text is checked as
 * strictly as JSON.parse checks it: a SyntaxError for whatever JSON.parse would refuse.
 *
 * What is kept is copied as the upstream wrote it, whitespace and numbers digit for digit: the
 * result is the text with the removed members and elements cut out (the text itself when
 * nothing is removed). Undefined when an object names one readable property twice: JSON.parse
 * keeps the last, the text both, so the caller filters the parsed value instead.
 */
export function filterReadText(text: string, node: PropertyNode): string | undefined {
  const scan = new Scan(text);
  scan.ws();
  try {
    if (node.all) scan.skipValue();
    else if (!scan.filter(node)) {
      // A removed top-level value: what is left of the text is null.
      scan.skipValue();
      scan.ws();
      if (scan.i !== text.length) throw scan.unexpected();
      return 'null';
    }
  } catch (err) {
    if (err === TWICE) return undefined;
    throw err;
  }
  scan.ws();
  if (scan.i !== text.length) throw scan.unexpected();
  return scan.result();
}

class Scan {
  i = 0;
  /** The open containers of the value being skipped; reused. */
  readonly #stack: number[] = [];
  /** The text kept before `#from`, once something was cut. */
  #out = '';
  /** Where the text not yet copied to `#out` starts. */
  #from = 0;

  constructor(readonly s: string) {}

  unexpected(): SyntaxError {
    return new SyntaxError(
      this.i < this.s.length
        ? `Unexpected character in JSON at position ${this.i}`
        : 'Unexpected end of JSON input',
    );
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
      i++;
    }
    this.i = i;
  }

  #expect(c: number): void {
    if (this.s.charCodeAt(this.i) !== c) throw this.unexpected();
    this.i++;
  }

  /** Past a string (at its opening quote); true when it holds an escape. */
  #string(): boolean {
    const s = this.s;
    let i = this.i + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === QUOTE) break;
      // NaN (the end of the text) is no character either.
      if (!(c >= SPACE)) {
        this.i = i;
        throw this.unexpected();
      }
      if (c === BACKSLASH) {
        escaped = true;
        const e = s.charCodeAt(i + 1);
        if (e === LOWER_U) {
          for (let k = 2; k < 6; k++) {
            if (!isHex(s.charCodeAt(i + k))) {
              this.i = i + k;
              throw this.unexpected();
            }
          }
          i += 6;
          continue;
        }
        if (!SIMPLE_ESCAPES.has(e)) {
          this.i = i + 1;
          throw this.unexpected();
        }
        i += 2;
        continue;
      }
      i++;
    }
    this.i = i + 1;
    return escaped;
  }

  /** A member's key, decoded (at its opening quote). */
  #key(): string {
    const start = this.i;
    if (this.s.charCodeAt(start) !== QUOTE) throw this.unexpected();
    return this.#string()
      ? (JSON.parse(this.s.slice(start, this.i)) as string)
      : this.s.slice(start + 1, this.i - 1);
  }

  #number(): void {
    const s = this.s;
    let i = this.i;
    if (s.charCodeAt(i) === MINUS) i++;
    const first = s.charCodeAt(i);
    if (first === ZERO) i++;
    else if (first > ZERO && first <= NINE) i = this.#digits(i + 1);
    else return this.#fail(i);
    if (s.charCodeAt(i) === DOT) {
      if (!isDigit(s.charCodeAt(i + 1))) return this.#fail(i + 1);
      i = this.#digits(i + 2);
    }
    const e = s.charCodeAt(i);
    if (e === LOWER_E || e === UPPER_E) {
      i++;
      const sign = s.charCodeAt(i);
      if (sign === PLUS || sign === MINUS) i++;
      if (!isDigit(s.charCodeAt(i))) return this.#fail(i);
      i = this.#digits(i + 1);
    }
    this.i = i;
  }

  /** Past the digits from `i`. */
  #digits(i: number): number {
    while (isDigit(this.s.charCodeAt(i))) i++;
    return i;
  }

  #fail(at: number): never {
    this.i = at;
    throw this.unexpected();
  }

  #literal(word: string): void {
    if (!this.s.startsWith(word, this.i)) throw this.unexpected();
    this.i += word.length;
  }

  /** Past one scalar, or past the opening of a container (true: the container was opened). */
  #open(): boolean {
    const c = this.s.charCodeAt(this.i);
    if (c === QUOTE) this.#string();
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) return true;
    else if (c === 0x74) this.#literal('true');
    else if (c === 0x66) this.#literal('false');
    else if (c === 0x6e) this.#literal('null');
    else this.#number();
    return false;
  }

  /**
   * Past one value, checked, whatever its depth: containers are tracked on a stack, not by
   * recursion, so a deeply nested value costs no call stack.
   */
  skipValue(): void {
    const stack = this.#stack;
    const base = stack.length;
    // Each turn reads one value (a scalar, or a container's opening), then whatever closes.
    for (;;) {
      if (this.#open()) {
        const object = this.s.charCodeAt(this.i) === OPEN_BRACE;
        this.i++;
        this.ws();
        const c = this.s.charCodeAt(this.i);
        if (c === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
          this.i++;
        } else {
          stack.push(object ? IN_OBJECT : IN_ARRAY);
          if (object) this.#memberHead();
          continue;
        }
      }
      // A value ended: close what it ends, until a comma asks for the next value.
      for (;;) {
        if (stack.length === base) return;
        this.ws();
        const c = this.s.charCodeAt(this.i);
        const top = stack[stack.length - 1];
        if (c === COMMA) {
          this.i++;
          this.ws();
          if (top === IN_OBJECT) this.#memberHead();
          break;
        }
        if (c !== (top === IN_OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) throw this.unexpected();
        this.i++;
        stack.pop();
      }
    }
  }

  /** Past a member's key and colon, to the start of its value. */
  #memberHead(): void {
    if (this.s.charCodeAt(this.i) !== QUOTE) throw this.unexpected();
    this.#string();
    this.ws();
    this.#expect(COLON);
    this.ws();
  }

  /**
   * Cuts the text from `start` to `end` out of the result. Cuts come in the order of the text;
   * one that starts where a cut already reached only extends it.
   */
  #cut(start: number, end: number): void {
    if (end <= start) return;
    if (start > this.#from) this.#out += this.s.slice(this.#from, start);
    this.#from = end;
  }

  result(): string {
    return this.#from === 0 ? this.s : this.#out + this.s.slice(this.#from);
  }

  /**
   * Filters the value at the scan with a node that is not `all`; false when the whole value is
   * removed (a scalar where the rules expect a container says more than they allow), and then
   * the scan has not moved.
   */
  filter(node: PropertyNode): boolean {
    const c = this.s.charCodeAt(this.i);
    if (c === OPEN_BRACKET) this.#array(node);
    else if (c === OPEN_BRACE) this.#object(node);
    else return false;
    return true;
  }

  /**
   * A list is filtered element by element; an element the rules remove is cut out with the
   * comma before it (after it, for the first ones).
   */
  #array(node: PropertyNode): void {
    this.#members(CLOSE_BRACKET, () => {
      if (this.filter(node)) return true;
      this.skipValue();
      return false;
    });
  }

  #object(node: PropertyNode): void {
    let named: string[] | undefined;
    this.#members(CLOSE_BRACE, () => {
      const key = this.#key();
      this.ws();
      this.#expect(COLON);
      this.ws();
      const child = node.children.get(key);
      if (child !== undefined) {
        // JSON.parse keeps the last of two; the text would keep both.
        if (named?.includes(key) === true) throw TWICE;
        (named ??= []).push(key);
        if (child.all) {
          this.skipValue();
          return true;
        }
        if (this.filter(child)) return true;
      }
      this.skipValue();
      return false;
    });
  }

  /**
   * The members of an object or the elements of an array, each read by `member`: true when it
   * is kept, false when it is cut out. A removed member goes with the comma before it; those
   * before the first kept one, with the commas after them.
   */
  #members(close: number, member: () => boolean): void {
    this.i++;
    this.ws();
    if (this.s.charCodeAt(this.i) === close) {
      this.i++;
      return;
    }
    /** While no member is kept: where the first one starts. */
    let leading: number | undefined = this.i;
    /** Where the last kept member ends. */
    let keptEnd = 0;
    for (;;) {
      // What was removed before the first kept member goes before anything inside it is cut.
      if (leading !== undefined) this.#cut(leading, this.i);
      if (member()) {
        leading = undefined;
        keptEnd = this.i;
      } else if (leading === undefined) {
        this.#cut(keptEnd, this.i);
      }
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === close) {
        if (leading !== undefined) this.#cut(leading, this.i);
        this.i++;
        return;
      }
      if (c !== COMMA) throw this.unexpected();
      this.i++;
      this.ws();
    }
  }
}
