import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  API_KEY_ID_PATTERN,
  API_KEY_LENGTH,
  generateApiKey,
  generateApiKeyId,
  parseApiKey,
} from '../../../../src/stages/authn/api-key/api-key-format.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PREFIX = 'pcl_live_'.length;

describe('the API key format', () => {
  it('generates keys of one fixed length, with the prefix of their environment', () => {
    const live = generateApiKey('live');
    const test = generateApiKey('test');
    expect(live).toMatch(/^pcl_live_[0-9A-Za-z]{49}$/);
    expect(test).toMatch(/^pcl_test_[0-9A-Za-z]{49}$/);
    expect(live).toHaveLength(API_KEY_LENGTH);
    expect(API_KEY_LENGTH).toBe(58);
    expect(generateApiKey('live')).not.toBe(live);
  });

  it('parses every key it generates, with its environment', () => {
    fc.assert(
      fc.property(fc.constantFrom('live' as const, 'test' as const), (env) => {
        expect(parseApiKey(generateApiKey(env))).toEqual({ ok: true, environment: env });
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses any single character changed after the prefix, by the checksum', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('live' as const, 'test' as const),
        fc.integer({ min: PREFIX, max: API_KEY_LENGTH - 1 }),
        fc.integer({ min: 1, max: ALPHABET.length - 1 }),
        (env, at, shift) => {
          const key = generateApiKey(env);
          const was = ALPHABET.indexOf(key[at] as string);
          const changed = key.slice(0, at) + ALPHABET[(was + shift) % 62] + key.slice(at + 1);
          expect(changed).not.toBe(key);
          expect(parseApiKey(changed)).toEqual({ ok: false, problem: 'checksum' });
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('refuses any single character changed anywhere, to anything', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: API_KEY_LENGTH - 1 }),
        fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
        (at, c) => {
          const key = generateApiKey('live');
          fc.pre(key[at] !== c);
          const changed = key.slice(0, at) + c + key.slice(at + 1);
          expect(parseApiKey(changed).ok).toBe(false);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('refuses two neighbouring characters swapped', () => {
    fc.assert(
      fc.property(fc.integer({ min: PREFIX, max: API_KEY_LENGTH - 2 }), (at) => {
        const key = generateApiKey('live');
        fc.pre(key[at] !== key[at + 1]);
        const swapped = key.slice(0, at) + key[at + 1] + key[at] + key.slice(at + 2);
        expect(parseApiKey(swapped)).toEqual({ ok: false, problem: 'checksum' });
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses any other string, without throwing, whatever its size', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (s) => {
        expect(parseApiKey(s).ok).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['empty', '', 'length'],
    ['truncated by one', (k: string) => k.slice(0, -1), 'length'],
    ['one character too many', (k: string) => `${k}a`, 'length'],
    ['another prefix', (k: string) => `pcl_prod_${k.slice(9)}`, 'prefix'],
    ['the prefix in capitals', (k: string) => `PCL_LIVE_${k.slice(9)}`, 'prefix'],
    [
      'a Cyrillic a in the body',
      (k: string) => `${k.slice(0, 20)}\u0430${k.slice(21)}`,
      'alphabet',
    ],
    ['a space in the body', (k: string) => `${k.slice(0, 20)} ${k.slice(21)}`, 'alphabet'],
    ['an underscore in the body', (k: string) => `${k.slice(0, 20)}_${k.slice(21)}`, 'alphabet'],
    ['a megabyte', () => 'a'.repeat(1 << 20), 'length'],
  ] as const)('refuses a key that is %s (%s)', (_label, make, problem) => {
    const key = generateApiKey('live');
    const value = typeof make === 'string' ? make : make(key);
    expect(parseApiKey(value)).toEqual({ ok: false, problem });
  });

  it('generates public key ids of the documented shape, each different', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => generateApiKeyId()));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(API_KEY_ID_PATTERN);
  });
});
