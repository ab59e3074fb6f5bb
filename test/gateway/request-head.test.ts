import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDenial, readHead } from '../../src/gateway/request-head.js';

/** The reason readHead gives a request with `value` in one header, or 'ok'. */
function verdictOf(value: string): string {
  const head = readHead(['Host', 'api.example.com', 'X-Test', value], false, 'x-request-id');
  return isDenial(head) ? head.reason : 'ok';
}

/** The definition: HTAB, and nothing else below 0x20, nor DEL. */
const hasControl = (value: string): boolean =>
  [...value].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09) || c === 0x7f;
  });

describe('header values with control characters', () => {
  const controls = [...Array.from({ length: 0x20 }, (_, c) => c), 0x7f].filter((c) => c !== 0x09);

  it.each(controls.map((c) => [`0x${c.toString(16).padStart(2, '0')}`, c]))(
    'refuses %s anywhere in a value',
    (_hex, c) => {
      const ch = String.fromCharCode(c);
      for (const value of [ch, `a${ch}`, `${ch}b`, `Bearer abc${ch}def`]) {
        expect(verdictOf(value)).toBe('headers.control_char');
      }
    },
  );

  it.each([
    ['HTAB', 'a\tb'],
    ['space and printable ASCII', ' !~azAZ09'],
    ['latin-1 above DEL', '\x80\xa0\xff'],
    ['the empty value', ''],
  ])('accepts %s', (_name, value) => {
    expect(verdictOf(value)).toBe('ok');
  });

  it('agrees with the definition on any value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (value) => {
        expect(verdictOf(value) === 'headers.control_char').toBe(hasControl(value));
      }),
    );
  });

  it('scans a large value in linear time', () => {
    const large = 'a'.repeat(1_000_000);
    expect(verdictOf(large)).toBe('ok');
    expect(verdictOf(`${large}\x01`)).toBe('headers.control_char');
    expect(verdictOf(`${large}\x01${large}`)).toBe('headers.control_char');
  });
});
