import fc from 'fast-check';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  measureDocument,
  type MeasureSettings,
} from '../../../src/stages/graphql/query-measure.js';
import { nestsDeeperThan } from '../../../src/stages/graphql/query-nesting.js';

const SETTINGS: MeasureSettings = {
  listArguments: new Set(['first', 'last', 'limit']),
  defaultListSize: 10,
};

const measure = (query: string, variables: Record<string, unknown> = {}) =>
  measureDocument(parse(query, { noLocation: true }), variables, SETTINGS);

/** Fragments F0..F(n-1), each spreading the next twice; the last has one aliased field. */
function fanOut(n: number): string {
  const defs = Array.from({ length: n }, (_, i) =>
    i === n - 1
      ? `fragment F${i} on Q { x: a }`
      : `fragment F${i} on Q { ...F${i + 1} ...F${i + 1} }`,
  );
  return `{ ...F0 } ${defs.join(' ')}`;
}

describe('measureDocument', () => {
  it.each([
    ['{ a }', { depth: 1, aliases: 0, cost: 1 }],
    ['{ a { b c } }', { depth: 2, aliases: 0, cost: 3 }],
    ['{ x: a y: a }', { depth: 1, aliases: 2, cost: 2 }],
    ['{ users(first: 100) { id name } }', { depth: 2, aliases: 0, cost: 300 }],
    ['{ users(first: 5, last: 50) { id } }', { depth: 2, aliases: 0, cost: 100 }],
    ['{ users(first: 0) { id } }', { depth: 2, aliases: 0, cost: 20 }],
    ['{ users(first: "9") { id } }', { depth: 2, aliases: 0, cost: 20 }],
    ['{ users(after: 1000) { id } }', { depth: 2, aliases: 0, cost: 2 }],
    ['{ ...F ...F } fragment F on Q { a { b } }', { depth: 2, aliases: 0, cost: 4 }],
    ['query A { a } query B { b { c { d } } }', { depth: 3, aliases: 0, cost: 3 }],
  ])('measures %s', (query, expected) => {
    expect(measure(query)).toMatchObject({ ok: true, ...expected });
  });

  it('reads list sizes from variables, then from variable defaults', () => {
    const q = 'query Q($n: Int = 7) { users(first: $n) { id } }';
    expect(measure(q)).toMatchObject({ cost: 14 });
    expect(measure(q, { n: 1000 })).toMatchObject({ cost: 2000 });
    expect(measure(q, { n: -5 })).toMatchObject({ cost: 20 });
    expect(measure(q, { n: 2 ** 60 })).toMatchObject({ cost: 20 });
  });

  it('measures a fragment fan-out bomb without expanding it', () => {
    const started = performance.now();
    const m = measure(fanOut(60));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(m).toMatchObject({ ok: true, depth: 1 });
    // 2^59 aliases and fields, held at the ceiling rather than overflowing to Infinity.
    if (!m.ok) throw new Error('not measured');
    expect(m.aliases).toBe(1e15);
    expect(Number.isFinite(m.cost)).toBe(true);
  });

  it.each([
    ['{ ...A } fragment A on Q { ...A }', 'fragment-cycle'],
    ['{ ...A } fragment A on Q { b { ...C } } fragment C on Q { ...A }', 'fragment-cycle'],
    ['{ ...Nope }', 'fragment-unknown'],
    ['{ a } fragment A on Q { a } fragment A on Q { b }', 'fragment-duplicate'],
    ['type Query { a: Int }', 'not-executable'],
    ['fragment A on Q { a }', 'not-executable'],
    ['{ a } extend schema @foo', 'not-executable'],
  ])('refuses %s', (query, fault) => {
    expect(measure(query)).toEqual({ ok: false, fault });
  });

  it('refuses a chain of fragments too long to follow rather than overflow the stack', () => {
    const n = 2_000;
    const defs = Array.from({ length: n }, (_, i) =>
      i === n - 1 ? `fragment F${i} on Q { a }` : `fragment F${i} on Q { ...F${i + 1} }`,
    );
    expect(measure(`{ ...F0 } ${defs.join(' ')}`)).toEqual({
      ok: false,
      fault: 'fragment-nesting',
    });
  });

  it('finds introspection anywhere, and not in __typename', () => {
    expect(measure('{ __typename a { __typename } }')).toMatchObject({ introspection: false });
    expect(measure('{ a } fragment F on Q { b { __type(name: "x") { name } } }')).toMatchObject({
      introspection: true,
    });
  });

  it('counts directives as written and tells writes from queries', () => {
    expect(measure('query @a { b @c @d }')).toMatchObject({ directives: 3, writes: false });
    expect(measure('mutation { a }')).toMatchObject({ writes: true });
    expect(measure('subscription { a }')).toMatchObject({ writes: true });
  });
});

describe('nestsDeeperThan', () => {
  it.each([
    ['{ a { b } }', 2, false],
    ['{ a { b { c } } }', 2, true],
    ['{ a(x: [[1]]) }', 3, true],
    ['{ a(x: "{{{{{{") }', 2, false],
    ['{ a(x: """{{{{ \\""" {{{{""") }', 2, false],
    ['{ a # {{{{{{\n }', 1, false],
    ['{ a(x: "\\"{{{{") }', 2, false],
  ])('%s deeper than %i: %s', (text, max, deeper) => {
    expect(nestsDeeperThan(text, max)).toBe(deeper);
  });

  it('agrees with the nesting of any generated selection', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.string(), (depth, noise) => {
        const comment = `# ${noise.replace(/[\r\n]/g, '')}\n`;
        const q = comment + '{ a'.repeat(depth) + ' }'.repeat(depth);
        return !nestsDeeperThan(q, depth) && nestsDeeperThan(q, depth - 1);
      }),
    );
  });

  it('stays linear on hostile strings', () => {
    for (const text of ['"'.repeat(1_000_000), '"""'.repeat(300_000), '\\'.repeat(1_000_000)]) {
      const started = performance.now();
      nestsDeeperThan(text, 10);
      expect(performance.now() - started).toBeLessThan(500);
    }
  });
});
