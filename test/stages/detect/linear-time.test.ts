import { beforeAll, describe, expect, it } from 'vitest';
import { detector, request } from '../../support/detector.js';

/**
 * The engine stays linear in its input: hostile 1 MB values built to make each family's scanner
 * revisit what it has read (runs of openers that never close, separators with nothing after,
 * nested lookups, decodable strings that decode into more hostile strings). A quadratic scan
 * of 1 MB takes minutes; each answer must come in well under a second (a generous bound for a
 * shared machine; `npm run eval:detection` measures the real cost).
 */
const MB = 1_048_576;
const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);

const HOSTILE: readonly (readonly [string, string])[] = [
  ['sqli: quotes and logic that never compare', fill("' or (")],
  ['sqli: stacked separators', fill('; select ')],
  ['sqli: an open comment', `/*${fill('a')}`],
  ['sqli: dashes', fill('-')],
  ['xss: tags that never close', fill('<a on')],
  ['xss: attribute breakouts', fill('" on')],
  ['xss: scheme fragments', fill('javascript')],
  ['cmdi: separator runs', fill(';')],
  ['cmdi: pipes and spaces', fill('| ')],
  ['cmdi: subshells', fill('$(')],
  ['cmdi: brace expansion', fill('{cat')],
  ['traversal: dots', fill('.')],
  ['traversal: dot-dot without a slash', fill('..a')],
  ['ssrf: schemes without hosts', fill('://')],
  ['ssrf: long authority', `http://${fill('1')}`],
  ['nosql: dollars', fill('{"$')],
  ['proto: underscores', fill('_')],
  ['xxe: doctypes', fill('<!doctype ')],
  ['ssti: openers that never close', fill('{{')],
  ['ssti: one closer far away', `${fill('{{7*')}}}`],
  ['jndi: nested lookups', fill('${')],
  ['jndi: lookups that never close', fill('${lower:')],
  ['crlf: line breaks', fill('\r\n')],
  ['crlf: header-like lines', fill('\na:')],
  ['decoding: percent runs', fill('%25')],
  ['decoding: broken escapes', fill('%u00')],
  ['decoding: entities', fill('&#x')],
  ['decoding: unicode escapes', fill('\\u')],
  ['decoding: base64 of text', Buffer.from(fill("' or ")).toString('base64').slice(0, MB)],
];

/**
 * The time of `run`, retried up to three times while over the bound: the machine is shared
 * with other test processes, and a scheduling pause is not the algorithm.
 */
function fastestOfThree(run: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3 && best >= 1_000; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const engine = detector({ inspectBytes: 4 * MB, paranoia: 4 });

describe('attack detection on hostile 1 MB inputs', () => {
  // Compiled code, not the interpreter, is what runs in a gateway under load: warm it up on
  // 16 KB of each input first, so the bound measures the algorithm.
  beforeAll(() => {
    for (const [, value] of HOSTILE)
      engine.inspect(request({ body: { v: value.slice(0, 16_384) } }));
  });

  it.each(HOSTILE)('answers %s in linear time', (_name, value) => {
    expect(value.length).toBeGreaterThanOrEqual(MB - 16);
    // The body is where 1 MB can arrive (the URL and headers have limits of a few KB); the
    // query is checked at its own limit's size, as one parameter and as many.
    const query = value.slice(0, 8_192);
    for (const parts of [
      request({ body: { v: value } }),
      request({ body: value.slice(0, MB / 8).split('') }),
      request({ query: `q=${encodeURIComponent(query)}` }),
      request({ query }),
    ]) {
      expect(fastestOfThree(() => engine.inspect(parts))).toBeLessThan(1_000);
    }
  });
});
