import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasDuplicateKey } from '../../src/gateway/json-duplicate-keys.js';

describe('hasDuplicateKey', () => {
  it.each([
    ['{"a":1,"b":2}', false],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', false],
    ['[{"a":1},{"a":1}]', false],
    ['{"a":"a","b":"\\"a\\""}', false],
    ['{"a":1,"a":2}', true],
    ['{"role":"user","\\u0072ole":"admin"}', true],
    ['{"x":{"y":[{"a":1,"b":{"c":1,"c":2}}]}}', true],
    ['[[{"k":1,"k":1}]]', true],
    ['{"a":{"b":1},"a":2}', true],
    ['{"a\\"b":1,"a\\u0022b":2}', true],
  ])('%s → %s', (json, expected) => {
    expect(hasDuplicateKey(json)).toBe(expected);
  });

  it('scans a large body in linear time', () => {
    const many = `[${Array.from({ length: 100_000 }, (_, i) => `{"k${i}":${i},"v":"x"}`).join(',')}]`;
    expect(hasDuplicateKey(many)).toBe(false);
    expect(hasDuplicateKey(`{${many.slice(1, -1).replaceAll(/[{}]/g, '')},"v":0}`)).toBe(true);
  });

  it('agrees with a recursive-descent parser that records every member', () => {
    const key = fc.constantFrom('a', 'b', '\\u0061', 'a"', '__proto__');
    const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom('1', 'null', '"a"', '"{\\"a\\":1}"'),
        fc.array(tie('v'), { maxLength: 3 }).map((xs) => `[${xs.join(',')}]`),
        fc
          .array(fc.tuple(key, tie('v')), { maxLength: 3 })
          .map((es) => `{${es.map(([k, v]) => `"${k.replace('"', '\\"')}":${v}`).join(',')}}`),
      ),
    })).v;
    fc.assert(
      fc.property(value, (json) => {
        expect(hasDuplicateKey(json)).toBe(oracle(json));
      }),
      { numRuns: 2_000 },
    );
  });
});

/** A slow, obviously correct check: a recursive-descent parser that records every member. */
function oracle(json: string): boolean {
  let i = 0;
  let dup = false;
  const ws = (): void => {
    while (json[i] === ' ') i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(json.slice(start, i)) as string;
  };
  const val = (): void => {
    ws();
    const c = json[i];
    if (c === '"') {
      str();
    } else if (c === '[') {
      i++;
      ws();
      while (json[i] !== ']') {
        val();
        ws();
        if (json[i] === ',') i++;
      }
      i++;
    } else if (c === '{') {
      i++;
      const keys = new Set<string>();
      ws();
      while (json[i] !== '}') {
        const k = str();
        if (keys.has(k)) dup = true;
        keys.add(k);
        i++; // :
        val();
        ws();
        if (json[i] === ',') i++;
        ws();
      }
      i++;
    } else {
      while (i < json.length && !',]}'.includes(json[i] as string)) i++;
    }
  };
  val();
  return dup;
}
