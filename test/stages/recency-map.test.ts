import { describe, expect, it } from 'vitest';
import { RecencyMap } from '../../src/stages/recency-map.js';

function filled(max: number, keys: readonly string[]): RecencyMap<string, number> {
  const m = new RecencyMap<string, number>(max);
  keys.forEach((k, i) => m.set(k, i));
  return m;
}

describe('RecencyMap', () => {
  it('never holds more than its bound', () => {
    const m = new RecencyMap<number, number>(100);
    for (let i = 0; i < 10_000; i++) {
      m.set(i, i);
      if (i % 3 === 0) m.get(i - 50);
    }
    expect(m.size).toBe(100);
  });

  it('evicts the oldest entry that was not asked for since it came in', () => {
    const m = filled(3, ['a', 'b', 'c']);
    expect(m.get('a')).toBe(0);
    m.set('d', 3);
    expect([...['a', 'b', 'c', 'd']].filter((k) => m.has(k))).toEqual(['a', 'c', 'd']);
  });

  it('keeps what is asked for between inserts, evicting the entries nobody asks for', () => {
    const m = new RecencyMap<string, number>(10);
    m.set('hot-1', -1);
    m.set('hot-2', -2);
    for (let i = 0; i < 1_000; i++) {
      m.set(`once-${i}`, i);
      expect(m.get('hot-1')).toBe(-1);
      expect(m.get('hot-2')).toBe(-2);
    }
    // The newest of the rest are there, the older ones gone.
    expect(m.has('once-999')).toBe(true);
    expect(m.has('once-0')).toBe(false);
    expect(m.size).toBe(10);
  });

  it('gives a marked entry one second chance, not two', () => {
    const m = filled(2, ['a', 'b']);
    m.get('a');
    m.get('b');
    // Both marked: the pass unmarks both, then evicts the oldest.
    m.set('c', 2);
    expect(m.has('a')).toBe(false);
    expect(m.has('b')).toBe(true);
    // b lost its mark in that pass: it goes before c, which was not asked for either but is newer.
    m.set('d', 3);
    expect(m.has('b')).toBe(false);
    expect(m.has('c')).toBe(true);
  });

  it('does not mark an entry on peek or has', () => {
    const m = filled(2, ['a', 'b']);
    expect(m.peek('a')).toBe(0);
    expect(m.has('a')).toBe(true);
    m.set('c', 2);
    expect(m.has('a')).toBe(false);
  });

  it('tells of every entry that goes, a replaced one included', () => {
    const m = filled(2, ['a', 'b']);
    const gone: string[] = [];
    m.set('a', 10, (k, v) => gone.push(`${k}=${v}`));
    expect(gone).toEqual(['a=0']);
    m.set('c', 11, (k, v) => gone.push(`${k}=${v}`));
    expect(gone).toEqual(['a=0', 'b=1']);
    expect(m.get('a')).toBe(10);
  });

  it('a replaced entry is new again: unmarked', () => {
    const m = filled(2, ['a', 'b']);
    m.get('a');
    m.set('a', 5);
    m.get('b');
    m.set('c', 2);
    expect(m.has('a')).toBe(false);
    expect(m.has('b')).toBe(true);
  });

  it('deletes and clears', () => {
    const m = filled(3, ['a', 'b']);
    expect(m.delete('a')).toBe(0);
    expect(m.delete('a')).toBeUndefined();
    expect(m.size).toBe(1);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.evictOne()).toBeUndefined();
  });
});
