import fc from 'fast-check';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { headerFromLines } from '../../src/gateway/header-lines.js';

/** What Node itself makes of the lines: the `headers` every stage could read instead. */
function nodeHeaders(raw: string[]): IncomingMessage['headers'] {
  const m = new IncomingMessage(new Socket());
  (m as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(
    raw,
    raw.length,
  );
  return m.headers;
}

// Headers Node keeps once, joins with `, `, with `; `, collects; in several spellings.
const NAMES = [
  'Authorization',
  'authorization',
  'AUTHORIZATION',
  'X-API-Key',
  'x-api-key',
  'Cookie',
  'cookie',
  'Set-Cookie',
  'set-cookie',
  'Content-Type',
  'Content-Length',
  'User-Agent',
  'Host',
  'Age',
  'Accept',
  'X-Forwarded-For',
  'Proxy-Authorization',
  'If-Unmodified-Since',
  'Date',
];

describe('headerFromLines', () => {
  it('gives every header the value IncomingMessage.headers gives it, repeats included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.stringMatching(/^[ -~]{0,12}$/)), {
          maxLength: 12,
        }),
        (lines) => {
          const raw = lines.flat();
          const lower = lines.map(([n]) => n.toLowerCase());
          const expected = nodeHeaders(raw);
          for (const name of new Set([...lower, 'absent'])) {
            expect(headerFromLines({ raw, lower }, name)).toEqual(expected[name]);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps the first Authorization, joins repeated keys, cookies and set-cookies as Node does', () => {
    const raw = [
      'Authorization',
      'Bearer a',
      'authorization',
      'Bearer b',
      'X-API-Key',
      'k1',
      'x-api-key',
      'k2',
      'Cookie',
      'a=1',
      'cookie',
      'b=2',
      'Set-Cookie',
      's1',
      'set-cookie',
      's2',
    ];
    const lower = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(headerFromLines({ raw, lower }, 'authorization')).toBe('Bearer a');
    expect(headerFromLines({ raw, lower }, 'x-api-key')).toBe('k1, k2');
    expect(headerFromLines({ raw, lower }, 'cookie')).toBe('a=1; b=2');
    expect(headerFromLines({ raw, lower }, 'set-cookie')).toEqual(['s1', 's2']);
    expect(headerFromLines({ raw, lower }, 'accept')).toBeUndefined();
  });
});
