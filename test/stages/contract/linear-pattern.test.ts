import { describe, expect, it } from 'vitest';
import { backtracksLinearly, linearPattern } from '../../../src/stages/contract/linear-pattern.js';

describe('which spec patterns may run on the backtracking engine', () => {
  it.each([
    ['^[A-Z0-9-]{1,32}$', true],
    ['^acc_[0-9]+$', true],
    ['^\\d{4}-\\d{2}-\\d{2}$', true],
    ['^[^@\\s]+@example\\.com$', true],
    // Catastrophic or polynomial on a backtracking engine: RE2 runs them.
    ['^(a+)+$', false],
    ['^(a|a)*$', false],
    ['^a*a*b$', false],
    ['^\\d+\\d+x$', false],
    ['a+$', false], // unanchored: every start position retries the run
    ['^(\\w+\\s?)*$', false],
    ['^\\d{1,9999}\\d{1,9999}$', false],
    ['^(a)\\1$', false],
  ])('%s: %s', (pattern, linear) => {
    expect(backtracksLinearly(pattern)).toBe(linear);
  });

  it.each([
    ['^(a+)+$', `${'a'.repeat(50_000)}!`],
    ['^a*a*a*a*b$', 'a'.repeat(50_000)],
    ['^(\\w+\\s?)*$', `${'word '.repeat(10_000)}!`],
  ])('matches %s against a hostile input without backtracking', (pattern, input) => {
    const started = performance.now();
    expect(linearPattern(pattern, 'u').test(input)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('gives each pattern its own cache key (ajv caches them by toString)', () => {
    expect(String(linearPattern('^a$', 'u'))).not.toBe(String(linearPattern('^b$', 'u')));
  });

  it('refuses a pattern RE2 cannot run instead of running it unguarded', () => {
    expect(() => linearPattern('^(?=a)(a+)+$', 'u')).toThrow();
  });
});
