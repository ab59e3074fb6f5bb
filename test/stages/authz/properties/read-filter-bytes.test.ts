import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALL,
  compilePaths,
  type PropertyNode,
} from '../../../../src/stages/authz/properties/property-paths.js';
import { filterReadBytes } from '../../../../src/stages/authz/properties/read-filter-bytes.js';
import { filterRead } from '../../../../src/stages/authz/properties/read-filter.js';

/**
 * The byte filter is held to the value filter it stands in for: for any text, sent as UTF-8,
 * JSON.parse of its result equals filterRead of the parsed text, and it refuses exactly the
 * texts JSON.parse refuses. The texts below are strings; each is what its UTF-8 bytes read as
 * (a lone surrogate has no UTF-8 spelling, so an edit that splits a pair becomes U+FFFD).
 */
const parse = (text: string): unknown => JSON.parse(text) as unknown;

/** Undefined when JSON.parse refuses the text. */
function parsedOrUndefined(text: string): { value: unknown } | undefined {
  try {
    return { value: parse(text) };
  } catch {
    return undefined;
  }
}

/** The text as the bytes an upstream sends read back. */
const asSent = (text: string): string => Buffer.from(text).toString('utf8');

/** filterReadBytes on a text's bytes, as text; throws what it throws. */
function filterText(text: string, node: PropertyNode): string | undefined {
  return filterReadBytes(Buffer.from(text), node)?.toString('utf8');
}

/** What filterReadBytes does with a text: its result parsed, 'refused', or 'undecided'. */
function viaBytes(text: string, node: PropertyNode): { value: unknown } | 'refused' | 'undecided' {
  let out: string | undefined;
  try {
    out = filterText(text, node);
  } catch (err) {
    expect(err).toBeInstanceOf(SyntaxError);
    return 'refused';
  }
  return out === undefined ? 'undecided' : { value: parse(out) };
}

/**
 * Node's deep equality, prototypes included: vitest's takes an own `constructor` key (one of the
 * keys below) for the object's class.
 */
const sameValue = (a: unknown, b: unknown): void => deepStrictEqual(a, b);

const KEYS = ['a', 'b', 'c', 'A', '__proto__', 'constructor', 'é'];

/** A JSON text written in the many ways an upstream may write one. */
const ws = fc.constantFrom('', '', ' ', '\n  ', '\t', '\r\n');
const keyText = fc.constantFrom(...KEYS).chain((k) =>
  fc.constantFrom(
    JSON.stringify(k),
    // The same key with an escape: equal once decoded.
    `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${k.slice(1)}"`,
  ),
);
const scalarText = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '0', '-0', '1.5e3', '-12.25E-2', '1e400', '""'),
  fc.constantFrom('"x"', '"a\\"b\\\\c\\/\\b\\f\\n\\r\\t"', '"\\ud800"', '"é€😀"'),
  fc.integer().map(String),
  fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
);
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarText,
    fc
      .array(fc.tuple(ws, tie('value'), ws), { maxLength: 4 })
      .map((items) => `[${items.map(([a, v, b]) => a + v + b).join(',')}]`),
    // Keys may repeat: JSON.parse keeps the last.
    fc
      .array(fc.tuple(ws, keyText, ws, ws, tie('value'), ws), { maxLength: 5 })
      .map(
        (members) =>
          `{${members.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`).join(',')}}`,
      ),
  ),
})).value;
const documentText = fc.tuple(ws, jsonText, ws).map(([a, v, b]) => a + v + b);

const allowList = fc.uniqueArray(
  fc.array(fc.constantFrom('a', 'b', 'c', 'A', 'constructor', 'é'), {
    minLength: 1,
    maxLength: 3,
  }),
  { maxLength: 4, selector: (p) => p.join('.') },
);
const tree = fc.oneof(
  { weight: 5, arbitrary: allowList.map((paths) => compilePaths(paths.map((p) => p.join('.')))) },
  { weight: 1, arbitrary: fc.constant(ALL) },
);

/** Does some object of a valid JSON text name a key twice (once decoded)? */
function hasTwice(text: string): boolean {
  const open: Set<string>[] = [];
  let last: string | undefined;
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"|[{}:]/g)) {
    if (token === '{') open.push(new Set());
    else if (token === '}') open.pop();
    else if (token === ':' && last !== undefined) {
      const keys = open[open.length - 1] as Set<string>;
      const key = parse(last) as string;
      if (keys.has(key)) return true;
      keys.add(key);
    }
    last = token.startsWith('"') ? token : undefined;
  }
  return false;
}

describe('read filter on the bytes', () => {
  it('equals the value filter on any text, written any way', () => {
    fc.assert(
      fc.property(documentText.map(asSent), tree, (text, node) => {
        const got = viaBytes(text, node);
        if (got === 'undecided') {
          // Only an object that names a key twice may leave the text filter undecided.
          expect(hasTwice(text)).toBe(true);
          return;
        }
        expect(got).not.toBe('refused');
        sameValue((got as { value: unknown }).value, filterRead(parse(text), node));
      }),
      { numRuns: 5_000 },
    );
  });

  it('refuses exactly the texts JSON.parse refuses (a character changed, added or removed)', () => {
    const edit = fc.tuple(
      documentText,
      fc.nat(),
      fc.constantFrom('delete', 'insert', 'replace'),
      fc.constantFrom(...'{}[]",:\\ -+.0123456789eEtruefalsn\u0000\u001f\u00a0\ufeffx'),
    );
    fc.assert(
      fc.property(edit, tree, ([text, at, how, c], node) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const changed = asSent(
          how === 'delete'
            ? text.slice(0, i) + text.slice(i + 1)
            : how === 'insert'
              ? text.slice(0, i) + c + text.slice(i)
              : text.slice(0, i) + c + text.slice(i + 1),
        );
        const expected = parsedOrUndefined(changed);
        const got = viaBytes(changed, node);
        if (expected === undefined) {
          // Undecided is fine too: the parse the caller falls back to refuses it.
          expect(got === 'refused' || got === 'undecided').toBe(true);
        } else if (got !== 'undecided') {
          expect(got).not.toBe('refused');
          sameValue((got as { value: unknown }).value, filterRead(expected.value, node));
        }
      }),
      { numRuns: 10_000 },
    );
  });

  const READ = compilePaths(['id', 'items[].sku', 'owner.name']);

  it.each([
    [''],
    [' '],
    ['{'],
    ['{"id":1,}'],
    ['[1,]'],
    ['[,1]'],
    ['01'],
    ['1.'],
    ['.5'],
    ['-'],
    ['1e'],
    ['1e+'],
    ['+1'],
    ['tru'],
    ['nul'],
    ['NaN'],
    ['Infinity'],
    ['"\\x"'],
    ['"\u0001"'],
    ['"\\u12G4"'],
    ['"abc'],
    ['\ufeff{}'],
    ['{"id" 1}'],
    ['{id:1}'],
    ["{'id':1}"],
    ['[1 2]'],
    ['{"id":1 "x":2}'],
    ['1 2'],
    ['[]]'],
    ['{}}'],
    ['{"secret":[1,}'],
    ['{"secret":{"a":1,"b"}}'],
    ['{"secret":01}'],
    ['{"items":[{"sku":"a","price":1.}]}'],
  ])('refuses %j, as JSON.parse does', (text) => {
    expect(() => parse(text)).toThrow(SyntaxError);
    for (const node of [READ, ALL]) expect(() => filterText(text, node)).toThrow(SyntaxError);
  });

  it.each([
    ['{"id":1,"secret":2}', '{"id":1}'],
    ['{ "secret" : 2 , "id" : 1 }', '{ "id" : 1 }'],
    ['[{"id":1,"x":2},3,{"id":4}]', '[{"id":1},{"id":4}]'],
    [
      '{"items":[{"sku":"W","price":9.99},[{"sku":"N"}]],"total":20}',
      '{"items":[{"sku":"W"},[{"sku":"N"}]]}',
    ],
    ['{"owner":"bob","id":1}', '{"id":1}'],
    ['{"\\u0069d":1,"ID":2}', '{"\\u0069d":1}'],
    ['{"__proto__":{"id":1},"id":2}', '{"id":2}'],
    ['"secret"', 'null'],
    ['{"id":1e400,"n":-0}', '{"id":1e400}'],
  ])('filters %s to %s', (text, expected) => {
    expect(filterText(text, READ)).toBe(expected);
  });

  it('matches keys by their UTF-8 bytes, and escaped keys by name', () => {
    const node = compilePaths(['é', 'ic', '\ud800']);
    expect(filterText('[{"id":1,"ic":2,"é":3,"e":4},{"\\u00e9":5,"x":6}]', node)).toBe(
      '[{"ic":2,"é":3},{"\\u00e9":5}]',
    );
    // Spelled both ways in one object, it is named twice: the parsed value decides.
    expect(filterText('{"é":3,"\\u00e9":5}', node)).toBeUndefined();
    // A lone surrogate has no UTF-8 spelling: only its escape can name it.
    expect(filterText('[{"\\ud800":1,"x":3},{"\\uD800":2,"\ufffd":4}]', node)).toBe(
      '[{"\\ud800":1},{"\\uD800":2}]',
    );
  });

  it('sends back the very body it was given when nothing is removed', () => {
    const body = Buffer.from('{ "id" : 1 }');
    expect(filterReadBytes(body, READ)).toBe(body);
    expect(filterReadBytes(body, ALL)).toBe(body);
  });

  it('leaves a text whose properties are all readable as it is, whitespace included', () => {
    const text = '{\n  "id": 1,\n  "items": [ ]\n}\n';
    expect(filterText(text, compilePaths(['*']))).toBe(text);
  });

  it('steps aside when an object names a readable property twice', () => {
    expect(filterText('{"id":1,"id":{"x":1}}', READ)).toBeUndefined();
    // A key that no rule reads may repeat: it goes either way.
    expect(filterText('{"x":1,"x":2,"id":3}', READ)).toBe('{"id":3}');
  });

  it('checks a deeply nested value without running out of stack', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(filterText(`{"id":${deep},"x":${deep}}`, READ)).toBe(`{"id":${deep}}`);
    expect(() => filterText(`{"x":${deep.slice(0, -1)}}`, READ)).toThrow(SyntaxError);
  });
});
