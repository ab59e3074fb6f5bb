import type { PropertyNode } from './property-paths.js';

/** Thrown inside the scan when an object names a readable property twice; never escapes. */
const TWICE = new Error('a readable property named twice');

// Byte values of the JSON grammar (RFC 8259).
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

/** 1 for the bytes that may follow a backslash in a string, besides `u`. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of [QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]) SIMPLE_ESCAPE[c] = 1;
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];
/** What a skipped container still waits for, innermost last. */
const IN_ARRAY = 0;
const IN_OBJECT = 1;

// Past the end of the body, `b[i]` is undefined: every comparison below finds it false, so it
// reads as no character at all (the casts to number say so to the type checker).
const isDigit = (c: number): boolean => c >= ZERO && c <= NINE;
const isHex = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** A readable key a member names, and the node below it. */
interface Readable {
  readonly key: string;
  readonly node: PropertyNode;
}
/** A readable key of a node, spelled in UTF-8 as an upstream writes it without escapes. */
interface KeyEntry extends Readable {
  readonly bytes: Uint8Array;
}
/** A node's readable keys by the length of their UTF-8 spelling. */
type KeyTable = readonly (readonly KeyEntry[] | undefined)[];
const TABLES = new WeakMap<PropertyNode, KeyTable>();

/** The last node looked up: a response is mostly objects of one node (a list's elements). */
let lastNode: PropertyNode | undefined;
let lastTable: KeyTable = [];

function keyTable(node: PropertyNode): KeyTable {
  if (node === lastNode) return lastTable;
  const table = TABLES.get(node) ?? compileTable(node);
  lastNode = node;
  lastTable = table;
  return table;
}

function compileTable(node: PropertyNode): KeyTable {
  const table: KeyEntry[][] = [];
  for (const [key, child] of node.children) {
    const bytes = Buffer.from(key, 'utf8');
    // A key with a lone surrogate has no UTF-8 spelling: only an escape names it, and an
    // escaped key is decoded and looked up by name.
    if (bytes.toString('utf8') !== key) continue;
    (table[bytes.length] ??= []).push({ key, bytes, node: child });
  }
  TABLES.set(node, table);
  return table;
}

/**
 * `filterRead` on the JSON body itself, as UTF-8 bytes the caller has checked are well formed:
 * what JSON.parse of the result holds is what `filterRead(JSON.parse(text), node)` returns,
 * without decoding the body, building the value and serializing and encoding it again (on a
 * small response, most of what the read filter cost). The body is checked as strictly as
 * JSON.parse checks it: a SyntaxError for whatever JSON.parse would refuse.
 *
 * What is kept is copied as the upstream wrote it, whitespace and numbers digit for digit: the
 * result is the body with the removed members and elements cut out (the body itself when
 * nothing is removed). Keys are compared as bytes; one with an escape is decoded first.
 * Undefined when an object names one readable property twice: JSON.parse keeps the last, the
 * body both, so the caller filters the parsed value instead.
 */
export function filterReadBytes(body: Buffer, node: PropertyNode): Buffer | undefined {
  const scan = new Scan(body);
  scan.ws();
  try {
    if (node.all) scan.skipValue();
    else if (!scan.filter(node)) {
      // A removed top-level value: what is left of the body is null.
      scan.skipValue();
      scan.ws();
      if (scan.i !== body.length) throw scan.unexpected();
      return Buffer.from('null');
    }
  } catch (err) {
    if (err === TWICE) return undefined;
    throw err;
  }
  scan.ws();
  if (scan.i !== body.length) throw scan.unexpected();
  return scan.result();
}

class Scan {
  i = 0;
  /** The open containers of the value being skipped; reused. */
  readonly #stack: number[] = [];
  /** The ranges kept before `#from` (start, end, start, end...), once something was cut. */
  readonly #kept: number[] = [];
  /** Where the bytes not yet known to be kept or cut start. */
  #from = 0;

  constructor(readonly b: Buffer) {}

  unexpected(): SyntaxError {
    return new SyntaxError(
      this.i < this.b.length
        ? `Unexpected byte in JSON at position ${this.i}`
        : 'Unexpected end of JSON input',
    );
  }

  ws(): void {
    const b = this.b;
    let i = this.i;
    for (;;) {
      const c = b[i];
      if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
      i++;
    }
    this.i = i;
  }

  #expect(c: number): void {
    if (this.b[this.i] !== c) throw this.unexpected();
    this.i++;
  }

  /** Past a string (at its opening quote); true when it holds an escape. */
  #string(): boolean {
    const b = this.b;
    let i = this.i + 1;
    let escaped = false;
    for (;;) {
      const c = b[i] as number;
      if (c === QUOTE) break;
      // Bytes from 0x80 are UTF-8 the caller has checked; below SPACE, none may appear raw.
      if (!(c >= SPACE)) {
        this.i = i;
        throw this.unexpected();
      }
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[i + 1] as number;
        if (e === LOWER_U) {
          for (let k = 2; k < 6; k++) {
            if (!isHex(b[i + k] as number)) {
              this.i = i + k;
              throw this.unexpected();
            }
          }
          i += 6;
          continue;
        }
        if (!(e >= 0) || SIMPLE_ESCAPE[e] !== 1) {
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

  /** The readable key a member names (at its opening quote), or undefined. */
  #child(node: PropertyNode): Readable | undefined {
    const start = this.i;
    if (this.b[start] !== QUOTE) throw this.unexpected();
    if (this.#string()) {
      const key = JSON.parse(this.b.toString('utf8', start, this.i)) as string;
      const child = node.children.get(key);
      return child === undefined ? undefined : { key, node: child };
    }
    const from = start + 1;
    const candidates = keyTable(node)[this.i - 1 - from];
    if (candidates === undefined) return undefined;
    const b = this.b;
    for (const entry of candidates) {
      const bytes = entry.bytes;
      let k = 0;
      while (k < bytes.length && bytes[k] === b[from + k]) k++;
      if (k === bytes.length) return entry;
    }
    return undefined;
  }

  #number(): void {
    const b = this.b;
    let i = this.i;
    if (b[i] === MINUS) i++;
    const first = b[i] as number;
    if (first === ZERO) i++;
    else if (first > ZERO && first <= NINE) i = this.#digits(i + 1);
    else return this.#fail(i);
    if (b[i] === DOT) {
      if (!isDigit(b[i + 1] as number)) return this.#fail(i + 1);
      i = this.#digits(i + 2);
    }
    const e = b[i];
    if (e === LOWER_E || e === UPPER_E) {
      i++;
      const sign = b[i];
      if (sign === PLUS || sign === MINUS) i++;
      if (!isDigit(b[i] as number)) return this.#fail(i);
      i = this.#digits(i + 1);
    }
    this.i = i;
  }

  /** Past the digits from `i`. */
  #digits(i: number): number {
    while (isDigit(this.b[i] as number)) i++;
    return i;
  }

  #fail(at: number): never {
    this.i = at;
    throw this.unexpected();
  }

  #literal(word: readonly number[]): void {
    for (let k = 0; k < word.length; k++) {
      if (this.b[this.i] !== word[k]) throw this.unexpected();
      this.i++;
    }
  }

  /** Past one scalar, or past the opening of a container (true: the container was opened). */
  #open(): boolean {
    const c = this.b[this.i];
    if (c === QUOTE) this.#string();
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) return true;
    else if (c === 0x74) this.#literal(TRUE);
    else if (c === 0x66) this.#literal(FALSE);
    else if (c === 0x6e) this.#literal(NULL);
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
        const object = this.b[this.i] === OPEN_BRACE;
        this.i++;
        this.ws();
        if (this.b[this.i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
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
        const c = this.b[this.i];
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
    if (this.b[this.i] !== QUOTE) throw this.unexpected();
    this.#string();
    this.ws();
    this.#expect(COLON);
    this.ws();
  }

  /**
   * Cuts the bytes from `start` to `end` out of the result. Cuts come in the order of the
   * body; one that starts where a cut already reached only extends it.
   */
  #cut(start: number, end: number): void {
    if (end <= start) return;
    if (start > this.#from) this.#kept.push(this.#from, start);
    this.#from = end;
  }

  result(): Buffer {
    const b = this.b;
    if (this.#from === 0) return b;
    const kept = this.#kept;
    kept.push(this.#from, b.length);
    let length = 0;
    for (let k = 0; k < kept.length; k += 2)
      length += (kept[k + 1] as number) - (kept[k] as number);
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (let k = 0; k < kept.length; k += 2) {
      const piece = b.subarray(kept[k], kept[k + 1]);
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /**
   * Filters the value at the scan with a node that is not `all`; false when the whole value is
   * removed (a scalar where the rules expect a container says more than they allow), and then
   * the scan has not moved.
   */
  filter(node: PropertyNode): boolean {
    const c = this.b[this.i];
    if (c === OPEN_BRACKET) this.#members(CLOSE_BRACKET, node);
    else if (c === OPEN_BRACE) this.#members(CLOSE_BRACE, node);
    else return false;
    return true;
  }

  /** An element of a list, filtered with the list's node; true when it is kept. */
  #element(node: PropertyNode): boolean {
    if (this.filter(node)) return true;
    this.skipValue();
    return false;
  }

  /** A member of an object; true when it is kept. `named`: the readable keys seen before. */
  #member(node: PropertyNode, named: string[]): boolean {
    const entry = this.#child(node);
    this.ws();
    this.#expect(COLON);
    this.ws();
    if (entry !== undefined) {
      // JSON.parse keeps the last of two; the body would keep both.
      if (named.includes(entry.key)) throw TWICE;
      named.push(entry.key);
      if (entry.node.all) {
        this.skipValue();
        return true;
      }
      if (this.filter(entry.node)) return true;
    }
    this.skipValue();
    return false;
  }

  /**
   * The members of an object (`close` a brace) or the elements of a list, each kept or cut
   * out. A removed member goes with the comma before it; those before the first kept one, with
   * the commas after them.
   */
  #members(close: number, node: PropertyNode): void {
    this.i++;
    this.ws();
    if (this.b[this.i] === close) {
      this.i++;
      return;
    }
    const named: string[] | undefined = close === CLOSE_BRACE ? [] : undefined;
    /** While no member is kept: where the first one starts. */
    let leading: number | undefined = this.i;
    /** Where the last kept member ends. */
    let keptEnd = 0;
    for (;;) {
      // What was removed before the first kept member goes before anything inside it is cut.
      if (leading !== undefined) this.#cut(leading, this.i);
      if (named === undefined ? this.#element(node) : this.#member(node, named)) {
        leading = undefined;
        keptEnd = this.i;
      } else if (leading === undefined) {
        this.#cut(keptEnd, this.i);
      }
      this.ws();
      const c = this.b[this.i];
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
