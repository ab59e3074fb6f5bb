import { describe, expect, it } from 'vitest';
import { DecisionCache } from '../../../../src/stages/authz/policies/decision-cache.js';

describe('the decision cache', () => {
  it('forgets the least recently used decision first', () => {
    const cache = new DecisionCache<string>(2, 100);
    cache.set('a', 'allow');
    cache.set('b', 'deny');
    expect(cache.get('a')).toBe('allow'); // a is now the most recent
    cache.set('c', 'allow');

    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('allow');
    expect(cache.get('c')).toBe('allow');
    expect(cache.size).toBe(2);
  });

  it.each([
    ['a key longer than the bound', new DecisionCache<string>(10, 4), 'abcde'],
    ['any key when it holds none', new DecisionCache<string>(0, 100), 'a'],
  ])('keeps no decision for %s', (_, cache, key) => {
    cache.set(key, 'allow');
    expect(cache.get(key)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('stays within its bound under a flood of distinct keys', () => {
    const cache = new DecisionCache<number>(100, 100);
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(100);
    expect(cache.get('k9999')).toBe(9999);
    expect(cache.get('k0')).toBeUndefined();
  });
});
