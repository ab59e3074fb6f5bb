import { describe, expect, it } from 'vitest';
import {
  MAX_CACHED_LENGTH,
  MAX_ENTRIES,
  VerdictCache,
  type Scan,
} from '../../../src/stages/detect/verdict-cache.js';
import { MAX_INSERTS_PER_REQUEST } from '../../../src/stages/detect/detector.js';
import { detector, request, rules } from '../../support/detector.js';

/**
 * The verdict cache remembers what the scanners fired on a value (every level, before
 * exclusions): a value seen before is judged by its route's own paranoia level and exclusions
 * at its own location, never by what another route or location decided.
 */
const NOTHING: Scan = { hits: [], length: 0 };

describe('the verdict cache', () => {
  it('holds at most MAX_ENTRIES values, however many distinct ones arrive', () => {
    const cache = new VerdictCache();
    for (let i = 0; i < MAX_ENTRIES * 10; i++) {
      cache.set('header', `value-${i}`, NOTHING);
      expect(cache.size).toBeLessThanOrEqual(MAX_ENTRIES);
    }
    expect(cache.size).toBeGreaterThanOrEqual(MAX_ENTRIES / 2);
    // The oldest are gone, the newest are there.
    expect(cache.get('header', 'value-0')).toBeUndefined();
    expect(cache.get('header', `value-${MAX_ENTRIES * 10 - 1}`)).toBe(NOTHING);
  });

  it('keeps a value in use while newer ones push the rest out', () => {
    const cache = new VerdictCache();
    cache.set('header', 'Mozilla/5.0', NOTHING);
    for (let i = 0; i < MAX_ENTRIES * 4; i++) {
      cache.set('query', `q-${i}`, NOTHING);
      expect(cache.get('header', 'Mozilla/5.0'), `after ${i}`).toBe(NOTHING);
    }
  });

  it('does not keep a value longer than MAX_CACHED_LENGTH', () => {
    const cache = new VerdictCache();
    const long = 'a'.repeat(MAX_CACHED_LENGTH + 1);
    cache.set('body', long, NOTHING);
    expect(cache.get('body', long)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('tells sources apart: a value is not judged as if it came from elsewhere', () => {
    const cache = new VerdictCache();
    const newline: Scan = { hits: ['detect.cmdi.newline_command'], length: 1 };
    cache.set('body', 'x', newline);
    expect(cache.get('query', 'x')).toBeUndefined();
    expect(cache.get('form', 'x')).toBeUndefined();
    expect(cache.get('body', 'x')).toBe(newline);
  });
});

describe('attack detection with values it has seen before', () => {
  // `<svg>` fires detect.xss.active_tag (paranoia 2) and nothing at paranoia 1.
  const svg = '<svg>';

  it('a value benign at paranoia 1 on one route is still caught at paranoia 2 on another', () => {
    const low = detector({ paranoia: 1 });
    const high = detector({ paranoia: 2, threshold: 3 });
    const parts = request({ headers: { 'x-note': svg } });
    for (let i = 0; i < 3; i++) expect(low.inspect(parts).score, `pass ${i}`).toBe(0);
    for (let i = 0; i < 3; i++) {
      expect(rules(high.inspect(parts)), `pass ${i}`).toEqual(['detect.xss.active_tag']);
    }
  });

  it('the same value, once seen, fires the same rules from the cache, on every request', () => {
    const d = detector({ paranoia: 2 });
    const attack = request({ query: `q=${encodeURIComponent("1' OR '1'='1")}&page=2` });
    const first = rules(d.inspect(attack));
    expect(first).toContain('detect.sqli.tautology');
    for (let i = 0; i < 5; i++) expect(rules(d.inspect(attack)), `pass ${i}`).toEqual(first);
  });

  it('judges a query value it has seen, as sent, as it judged it decoded', () => {
    const d = detector();
    const attack = request({ query: 'a=1&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    for (let i = 0; i < 3; i++) {
      const found = d.inspect(attack);
      expect(rules(found), `pass ${i}`).toEqual(['detect.xss.script_tag']);
      expect(found.findings[0]?.location).toBe('query.q');
    }
    // The same value under another name is found at its own location.
    const moved = d.inspect(request({ query: 'next=%3Cscript%3Ealert(1)%3C%2Fscript%3E' }));
    expect(moved.findings[0]?.location).toBe('query.next');
  });

  it('counts a cached query value against inspectBytes by its decoded length', () => {
    const d = detector({ inspectBytes: 1_024 });
    // 80 characters sent as 240, then 900 plain: 982 decoded (within), 1 142 as sent (not).
    const q = `q=${'%41'.repeat(80)}`;
    const within = request({ query: `${q}&r=${'b'.repeat(900)}` });
    const over = request({ query: `${q}&r=${'b'.repeat(960)}` });
    for (let i = 0; i < 3; i++) {
      expect(d.inspect(within).tooLarge, `pass ${i}`).toBe(false);
      expect(d.inspect(over).tooLarge, `pass ${i}`).toBe(true);
    }
  });

  it('an exclusion at one location does not silence the cached value at another', () => {
    const d = detector({
      exclusions: [{ rules: ['detect.xss'], locations: ['body./bio'] }],
    });
    const payload = '<script>alert(1)</script>';
    expect(d.inspect(request({ body: { bio: payload } })).score).toBe(0);
    const elsewhere = d.inspect(request({ body: { bio: payload, comment: payload } }));
    expect(rules(elsewhere)).toEqual(['detect.xss.script_tag']);
    expect(elsewhere.findings[0]?.location).toBe('body./comment');
  });

  it('a body of thousands of new values adds a bounded few, not flushing the headers out', () => {
    const d = detector();
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0';
    const headers = { 'user-agent': ua };
    d.inspect(request({ headers }));
    const before = d.cachedValues;
    expect(before).toBe(2); // the path and the header
    const big = Array.from({ length: 5_000 }, (_, i) => `note ${i}`);
    d.inspect(request({ headers, body: big }));
    expect(d.cachedValues).toBe(before + MAX_INSERTS_PER_REQUEST);
    // A changed header is not the cached one.
    expect(d.inspect(request({ headers: { 'user-agent': `${ua}; $(id)` } })).score).toBe(5);
  });

  it('still finds an attack repeated across a hostile body of many copies', () => {
    const d = detector();
    const body = Array.from({ length: 2_000 }, (_, i) =>
      i % 2 === 0 ? `n${i}` : '; cat /etc/passwd',
    );
    const found = d.inspect(request({ body }));
    expect(rules(found)).toEqual([
      'detect.cmdi.chained_command',
      'detect.traversal.sensitive_file',
    ]);
  });
});
