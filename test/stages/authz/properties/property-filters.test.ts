import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALL,
  compilePaths,
  propertyPathProblem,
} from '../../../../src/stages/authz/properties/property-paths.js';
import { filterRead } from '../../../../src/stages/authz/properties/read-filter.js';
import {
  firstWriteViolation,
  stripWrite,
} from '../../../../src/stages/authz/properties/write-filter.js';

/** JSON.parse, as the gateway reads bodies: `__proto__` becomes an ordinary own property. */
const parse = (text: string): unknown => JSON.parse(text) as unknown;

describe('property paths', () => {
  it.each([
    ['name'],
    ['address.city'],
    ['items[].sku'],
    ['[].id'],
    ['matrix[][].x'],
    ['constructor'],
    ['*'],
    ['ünïcode key'],
  ])('accepts %s', (path) => {
    expect(propertyPathProblem(path)).toBeUndefined();
    expect(() => compilePaths([path])).not.toThrow();
  });

  it.each([
    ['', 'empty'],
    ['a..b', 'empty segment'],
    ['.a', 'leading dot'],
    ['a.', 'trailing dot'],
    ['items[0].sku', 'an index'],
    ['items[.sku', 'an unclosed bracket'],
    ['items]', 'a stray bracket'],
    ['items[]sku', 'brackets inside a name'],
    ['address.*', 'a wildcard segment'],
    ['a*', 'a wildcard in a name'],
    ['__proto__', '__proto__'],
    ['user.__proto__.isAdmin', '__proto__ on the way'],
  ])('refuses %j (%s) at load', (path) => {
    expect(propertyPathProblem(path)).toBeDefined();
    expect(() => compilePaths([path])).toThrow();
  });

  it('lets a shorter path cover a longer one, in either order', () => {
    for (const paths of [
      ['address', 'address.city'],
      ['address.city', 'address'],
    ]) {
      expect(compilePaths(paths).children.get('address')?.all).toBe(true);
    }
  });
});

const WRITE = compilePaths(['name', 'email', 'address.city', 'items[].sku', 'items[].qty']);

describe('write filter (mass assignment)', () => {
  it.each([
    ['allowed properties', '{"name":"A","email":"a@x"}', undefined],
    ['an empty object', '{}', undefined],
    ['a nested allowed property', '{"address":{"city":"Oslo"}}', undefined],
    [
      'allowed properties in array elements',
      '{"items":[{"sku":"W","qty":1},{"sku":"G"}]}',
      undefined,
    ],
    ['a top-level property', '{"name":"A","balance":1e9}', 'balance'],
    ['a role', '{"role":"admin"}', 'role'],
    ['isAdmin', '{"isAdmin":true}', 'isAdmin'],
    ['a case variant', '{"Name":"A"}', 'Name'],
    ['an upper-case variant of an allowed key', '{"NAME":"A"}', 'NAME'],
    ['a trailing space', '{"name ":"A"}', 'name '],
    ['a Cyrillic look-alike', '{"nаme":"A"}', 'nаme'],
    ['a fullwidth look-alike', '{"ｎａｍｅ":"A"}', 'ｎａｍｅ'],
    ['an escaped forbidden key', '{"\\u0062alance":5}', 'balance'],
    ['a nested forbidden property', '{"address":{"city":"X","verified":true}}', 'address.verified'],
    [
      'a forbidden property in an array element',
      '{"items":[{"sku":"W"},{"sku":"G","price":0}]}',
      'items[].price',
    ],
    ['null over a partially writable object', '{"address":null}', 'address'],
    ['a scalar over a partially writable object', '{"address":"x"}', 'address'],
    ['__proto__', '{"__proto__":{"isAdmin":true}}', '__proto__'],
    ['a nested __proto__', '{"address":{"__proto__":{"x":1}}}', 'address.__proto__'],
    ['constructor.prototype', '{"constructor":{"prototype":{"x":1}}}', 'constructor'],
    ['a scalar body', '42', '(root)'],
    ['a top-level array of objects', '[{"name":"A"},{"tier":"pro"}]', '[].tier'],
  ])('%s', (_name, body, violation) => {
    expect(firstWriteViolation(parse(body), WRITE)).toBe(violation);
  });

  it("never lets '*' cover the prototype-pollution keys, at any depth", () => {
    const all = compilePaths(['*']);
    expect(firstWriteViolation(parse('{"a":{"b":[{"c":1}]}}'), all)).toBeUndefined();
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(firstWriteViolation(parse(`{"a":{"b":[{"${key}":{}}]}}`), all)).toBe(`a.b[].${key}`);
    }
    expect(firstWriteViolation(parse('{"constructor":"x"}'), compilePaths(['constructor']))).toBe(
      undefined,
    );
  });

  it('strips what may not be written and keeps the rest', () => {
    const out = stripWrite(
      parse('{"name":"A","balance":5,"items":[{"sku":"W","price":0},7],"__proto__":{"x":1}}'),
      WRITE,
    );
    expect(JSON.stringify(out?.value)).toBe('{"name":"A","items":[{"sku":"W"}]}');
    expect(out?.removed).toEqual(['balance', 'items[].price', 'items[]', '__proto__']);
    // Built without prototypes: nothing in the body reached Object.prototype.
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('checks a huge array in linear time', () => {
    const items = Array.from({ length: 200_000 }, (_, i) => ({ sku: `S${i}`, qty: i }));
    const body = { items: [...items, { sku: 'X', price: 0 }] };
    expect(firstWriteViolation(body, WRITE)).toBe('items[].price');
  });
});

const READ = compilePaths(['id', 'items[].sku', 'items[].qty', 'owner.name']);

describe('read filter (excessive data exposure)', () => {
  it.each([
    ['keeps allowed properties', '{"id":1,"secret":2}', '{"id":1}'],
    [
      'filters nested arrays',
      '{"id":"o","items":[{"sku":"W","qty":2,"price":9.99},{"sku":"G","qty":1,"price":1}],"total":20}',
      '{"id":"o","items":[{"sku":"W","qty":2},{"sku":"G","qty":1}]}',
    ],
    [
      'filters a top-level list element by element',
      '[{"id":1,"internalRiskScore":12},{"id":2,"internalRiskScore":47}]',
      '[{"id":1},{"id":2}]',
    ],
    ['removes a scalar where an object is expected', '{"id":1,"owner":"bob"}', '{"id":1}'],
    [
      'keeps an allowed nested property',
      '{"owner":{"name":"B","ssn":"x"}}',
      '{"owner":{"name":"B"}}',
    ],
    ['removes case variants', '{"ID":1,"Id":2,"id":3}', '{"id":3}'],
    ['removes __proto__', '{"__proto__":{"id":1},"id":2}', '{"id":2}'],
    ['turns a removed top-level scalar into null', '"secret"', 'null'],
  ])('%s', (_name, body, expected) => {
    expect(JSON.stringify(filterRead(parse(body), READ))).toBe(expected);
  });

  it("keeps everything under '*' and a wholly readable property", () => {
    const body = '{"a":{"b":[1,{"c":2}]},"__proto__":{"d":3}}';
    expect(JSON.stringify(filterRead(parse(body), compilePaths(['*'])))).toBe(
      JSON.stringify(parse(body)),
    );
    expect(JSON.stringify(filterRead(parse(body), compilePaths(['a'])))).toBe(
      '{"a":{"b":[1,{"c":2}]}}',
    );
  });

  it('copies a readable __proto__ key as data, never as the prototype of what it returns', () => {
    // No config path can name __proto__ (see above): a tree built by hand, as a bug might.
    const tree = {
      all: false,
      children: new Map([
        ['__proto__', ALL],
        ['id', ALL],
      ]),
    };
    const out = filterRead(parse('{"id":1,"__proto__":{"isAdmin":true}}'), tree) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(JSON.stringify(out)).toBe('{"id":1,"__proto__":{"isAdmin":true}}');
  });
});

/**
 * Property tests against an oracle that knows nothing of the tree: a scalar at key path p
 * (array positions skipped) is readable exactly when some allowed path is a prefix of p.
 */
const KEYS = ['a', 'b', 'c', 'A', '__proto__', 'constructor'];

type Json = null | boolean | number | string | Json[] | { entries: [string, Json][] };

const json: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, 0, 'x'),
    fc.integer({ min: -5, max: 5 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc
      .uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tie('value')), {
        maxLength: 4,
        selector: (e) => e[0],
      })
      .map((entries) => ({ entries })),
  ),
})).value;

/** As text, so that `__proto__` is a key like any other when parsed. */
function text(v: Json): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(text).join(',')}]`;
  return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${text(x)}`).join(',')}}`;
}

/** Every scalar with its key path, arrays skipped: `a.b=1`. */
function scalars(v: unknown, path: readonly string[] = []): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => scalars(x, path));
  if (typeof v === 'object' && v !== null) {
    return Object.keys(v).flatMap((k) => scalars((v as Record<string, unknown>)[k], [...path, k]));
  }
  return [`${path.join('.')}=${JSON.stringify(v)}`];
}

const allowList = fc.uniqueArray(
  fc.array(fc.constantFrom('a', 'b', 'c', 'A', 'constructor'), { minLength: 1, maxLength: 3 }),
  { maxLength: 4, selector: (p) => p.join('.') },
);

function readable(scalar: string, allowed: readonly (readonly string[])[]): boolean {
  const path = scalar.slice(0, scalar.lastIndexOf('=')).split('.');
  return allowed.some((p) => p.length <= path.length && p.every((k, i) => path[i] === k));
}

describe('filters: properties', () => {
  it('the read filter never leaves a disallowed scalar and never removes an allowed one', () => {
    fc.assert(
      fc.property(json, allowList, (value, allowed) => {
        const tree = compilePaths(allowed.map((p) => p.join('.')));
        const input = parse(text(value));
        const expected = scalars(input)
          .filter((s) => readable(s, allowed))
          .sort();
        const out = filterRead(input, tree);
        const kept = out === null && expected.length === 0 ? [] : scalars(out).sort();
        expect(kept.filter((s) => s !== '=null' || expected.includes(s))).toEqual(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a stripped body passes the write check, and a body that passes is not changed by strip', () => {
    fc.assert(
      fc.property(json, allowList, (value, allowed) => {
        const tree = compilePaths(allowed.map((p) => p.join('.')));
        const input = parse(text(value));
        const stripped = stripWrite(input, tree);
        if (stripped !== undefined) {
          expect(firstWriteViolation(stripped.value, tree)).toBeUndefined();
          for (const s of scalars(stripped.value)) expect(scalars(input)).toContain(s);
        }
        if (firstWriteViolation(input, tree) === undefined) {
          expect(stripped?.removed).toEqual([]);
          expect(JSON.stringify(stripped?.value)).toBe(JSON.stringify(input));
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
