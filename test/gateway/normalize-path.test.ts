import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { NormalizationConfig } from '../../src/config/schema.js';
import { NORMALIZE_REASONS, normalizePath } from '../../src/gateway/normalize-path.js';

const STRICT: NormalizationConfig = {
  allowEncodedSlash: false,
  allowBackslash: false,
  allowSemicolon: false,
  allowDoubleEncoding: false,
  allowTrailingDot: false,
};

const LENIENT: NormalizationConfig = {
  allowEncodedSlash: true,
  allowBackslash: true,
  allowSemicolon: true,
  allowDoubleEncoding: true,
  allowTrailingDot: true,
};

type Expected = { path: string; query?: string } | { reason: string };

interface Case {
  readonly name: string;
  readonly target: string;
  readonly expected: Expected;
}

const ok = (path: string, query = ''): Expected => ({ path, query });
const no = (reason: string): Expected => ({ reason: `normalize.path.${reason}` });

/** Path-bypass attempts under the default (strict) settings. */
const CASES: readonly Case[] = [
  // encodings
  { name: 'decodes an encoded unreserved letter', target: '/%61dmin', expected: ok('/admin') },
  { name: 'decodes encoded letters to upper case', target: '/%41%42', expected: ok('/AB') },
  { name: 'decodes an encoded tilde', target: '/a/%7Euser', expected: ok('/a/~user') },
  {
    name: 'refuses an encoded slash before ..',
    target: '/admin%2f..',
    expected: no('encoded_slash'),
  },
  {
    name: 'refuses encoded dots that climb above the root',
    target: '/%2e%2e/',
    expected: no('above_root'),
  },
  {
    name: 'refuses encoded dots and slash',
    target: '/%2E%2E%2Fetc',
    expected: no('encoded_slash'),
  },
  { name: 'refuses an encoded slash after ..', target: '/a/..%2f', expected: no('encoded_slash') },
  { name: 'resolves a lone encoded dot', target: '/%2e', expected: ok('/') },
  { name: 'keeps a reserved byte encoded, upper-cased', target: '/a%3fb', expected: ok('/a%3Fb') },
  { name: 'keeps an encoded space encoded', target: '/a%20b', expected: ok('/a%20b') },
  { name: 'keeps a literal percent encoded', target: '/100%25', expected: ok('/100%25') },
  { name: 'refuses an invalid hex digit', target: '/a%zz', expected: no('bad_percent') },
  { name: 'refuses a truncated escape', target: '/a%2', expected: no('bad_percent') },
  { name: 'refuses an IIS %u escape', target: '/%u002e%u002e/', expected: no('bad_percent') },
  // double encoding
  { name: 'refuses double-encoded dots', target: '/%252e%252e/', expected: no('double_encoding') },
  { name: 'refuses a double-encoded slash', target: '/%252F', expected: no('double_encoding') },
  { name: 'refuses %25 followed by hex', target: '/%2541', expected: no('double_encoding') },
  {
    name: 'refuses a double encoding whose hex digits are themselves encoded',
    target: '/%25%32%65',
    expected: no('double_encoding'),
  },
  // path parameters
  { name: 'refuses the Tomcat ..; trick', target: '/api/..;/admin', expected: no('semicolon') },
  {
    name: 'refuses ..; with encoded dots',
    target: '/api/%2e%2e;/admin',
    expected: no('semicolon'),
  },
  { name: 'refuses an encoded semicolon', target: '/api/..%3b/admin', expected: no('semicolon') },
  { name: 'refuses matrix parameters', target: '/a;jsessionid=1', expected: no('semicolon') },
  // case
  { name: 'preserves upper case', target: '/Admin', expected: ok('/Admin') },
  { name: 'preserves case across dot segments', target: '/ADMIN/../admin', expected: ok('/admin') },
  { name: 'resolves mixed-case encoded dots', target: '/a/%2E./x', expected: ok('/x') },
  {
    name: 'refuses mixed-case encoded dots at the root',
    target: '/%2E./x',
    expected: no('above_root'),
  },
  // backslashes
  { name: 'refuses raw backslashes', target: '/api\\..\\admin', expected: no('backslash') },
  { name: 'refuses encoded backslashes', target: '/%5c..%5cadmin', expected: no('backslash') },
  // trailing dots
  { name: 'refuses a trailing dot', target: '/admin.', expected: no('trailing_dot') },
  {
    name: 'refuses a trailing dot before a slash',
    target: '/admin./',
    expected: no('trailing_dot'),
  },
  { name: 'refuses an encoded trailing dot', target: '/admin%2e', expected: no('trailing_dot') },
  { name: 'refuses a triple-dot segment', target: '/.../x', expected: no('trailing_dot') },
  { name: 'accepts a dot inside a segment', target: '/api/v1.2/x', expected: ok('/api/v1.2/x') },
  { name: 'accepts a leading dot', target: '/.well-known/x', expected: ok('/.well-known/x') },
  // unicode
  { name: 'refuses overlong dots', target: '/%C0%AE%C0%AE/', expected: no('invalid_utf8') },
  { name: 'refuses an overlong slash', target: '/%C0%AF', expected: no('invalid_utf8') },
  { name: 'refuses an overlong NUL', target: '/%c0%80', expected: no('invalid_utf8') },
  {
    name: 'refuses a three-byte overlong slash',
    target: '/%E0%80%AF',
    expected: no('invalid_utf8'),
  },
  { name: 'refuses a four-byte overlong', target: '/%F0%80%80%AF', expected: no('invalid_utf8') },
  { name: 'refuses a surrogate', target: '/%ED%A0%80', expected: no('invalid_utf8') },
  {
    name: 'refuses a code point above U+10FFFF',
    target: '/%F4%90%80%80',
    expected: no('invalid_utf8'),
  },
  { name: 'refuses %FF', target: '/%FF', expected: no('invalid_utf8') },
  { name: 'refuses %FE', target: '/%fe', expected: no('invalid_utf8') },
  { name: 'refuses a stray continuation byte', target: '/%A9', expected: no('invalid_utf8') },
  { name: 'refuses a sequence truncated at the end', target: '/%C3', expected: no('invalid_utf8') },
  { name: 'refuses a sequence cut by a raw char', target: '/%C3a', expected: no('invalid_utf8') },
  {
    name: 'refuses a sequence cut by a bad escape',
    target: '/%E2%82%zz',
    expected: no('invalid_utf8'),
  },
  {
    name: 'keeps valid UTF-8 encoded, upper-cased',
    target: '/caf%c3%a9',
    expected: ok('/caf%C3%A9'),
  },
  { name: 'keeps an emoji encoded', target: '/%F0%9F%98%80', expected: ok('/%F0%9F%98%80') },
  {
    name: 'keeps the last code point below surrogates',
    target: '/%ed%9f%bf',
    expected: ok('/%ED%9F%BF'),
  },
  {
    name: 'does not treat the fullwidth solidus as a slash',
    target: '/%ef%bc%8f..%ef%bc%8fadmin',
    expected: ok('/%EF%BC%8F..%EF%BC%8Fadmin'),
  },
  // slashes and dot segments
  { name: 'collapses a leading double slash', target: '//admin', expected: ok('/admin') },
  { name: 'collapses runs of slashes', target: '/a//b///c', expected: ok('/a/b/c') },
  { name: 'removes a dot segment', target: '/a/./b', expected: ok('/a/b') },
  { name: 'refuses .. above the root', target: '/a/b/../../..', expected: no('above_root') },
  {
    name: 'refuses .. right after a dot segment at the root',
    target: '/./../x',
    expected: no('above_root'),
  },
  {
    name: 'refuses .. after a collapsed slash at the root',
    target: '//..',
    expected: no('above_root'),
  },
  { name: 'keeps the root', target: '/', expected: ok('/') },
  { name: 'keeps a trailing slash', target: '/a/', expected: ok('/a/') },
  { name: 'keeps a trailing slash after a final dot', target: '/a/.', expected: ok('/a/') },
  { name: 'keeps a trailing slash after a final ..', target: '/a/b/..', expected: ok('/a/') },
  { name: 'resolves to the root', target: '/a/..', expected: ok('/') },
  // control characters and raw bytes
  { name: 'refuses an encoded NUL', target: '/a%00.txt', expected: no('control_char') },
  { name: 'refuses an encoded line feed', target: '/a%0a', expected: no('control_char') },
  { name: 'refuses an encoded DEL', target: '/a%7F', expected: no('control_char') },
  { name: 'refuses a raw space', target: '/a b', expected: no('raw_byte') },
  { name: 'refuses a raw tab', target: '/a\tb', expected: no('raw_byte') },
  { name: 'refuses a raw DEL', target: '/a\x7f', expected: no('raw_byte') },
  { name: 'refuses a raw non-ASCII character', target: '/café', expected: no('raw_byte') },
  { name: 'refuses a raw space in the query', target: '/a?x=1 2', expected: no('raw_byte') },
  // target forms, fragment and query
  { name: 'refuses a fragment', target: '/a#frag', expected: no('fragment') },
  { name: 'refuses a fragment in the query', target: '/a?q=1#x', expected: no('fragment') },
  { name: 'refuses the asterisk form', target: '*', expected: no('not_origin_form') },
  {
    name: 'refuses the absolute form',
    target: 'http://example.com/admin',
    expected: no('not_origin_form'),
  },
  { name: 'refuses an empty target', target: '', expected: no('not_origin_form') },
  {
    name: 'passes the query through untouched',
    target: '/a?x=%00&y=1',
    expected: ok('/a', 'x=%00&y=1'),
  },
  { name: 'splits at the first question mark', target: '/a/./b?c?d', expected: ok('/a/b', 'c?d') },
  { name: 'reads an empty query', target: '/a?', expected: ok('/a', '') },
];

describe('normalizePath', () => {
  it.each(CASES)('$name: $target', ({ target, expected }) => {
    const result = normalizePath(target, STRICT);
    if ('reason' in expected) {
      expect(result).toMatchObject({ ok: false, reason: expected.reason });
    } else {
      expect(result).toEqual({ ok: true, path: expected.path, query: expected.query ?? '' });
    }
  });

  it('lists every reason id once, and every listed reason is reachable', () => {
    expect(new Set(NORMALIZE_REASONS).size).toBe(NORMALIZE_REASONS.length);
    for (const reason of NORMALIZE_REASONS) expect(reason).toMatch(/^normalize\.path\.[a-z0-9_]+$/);
    const reached = new Set(
      CASES.flatMap((c) => ('reason' in c.expected ? [c.expected.reason] : [])),
    );
    // A hidden dot segment needs an allow* option to get past the earlier checks.
    const hidden = normalizePath('/api/..;/admin', { ...STRICT, allowSemicolon: true });
    if (!hidden.ok) reached.add(hidden.reason);
    expect([...reached].sort()).toEqual([...NORMALIZE_REASONS].sort());
  });

  it('gives one fixed detail per reason and never echoes the target', () => {
    const details = new Map<string, string>();
    for (const { target } of CASES) {
      const result = normalizePath(target, STRICT);
      if (result.ok) continue;
      expect(details.get(result.reason) ?? result.detail).toBe(result.detail);
      details.set(result.reason, result.detail);
      if (target.length > 2) expect(result.detail).not.toContain(target.slice(1));
    }
  });
});

describe('normalizePath options', () => {
  const OPTION_CASES: readonly {
    option: keyof NormalizationConfig;
    target: string;
    reason: string;
    path: string;
  }[] = [
    { option: 'allowEncodedSlash', target: '/a%2fb', reason: 'encoded_slash', path: '/a%2Fb' },
    { option: 'allowBackslash', target: '/a\\b', reason: 'backslash', path: '/a\\b' },
    { option: 'allowBackslash', target: '/a%5cb', reason: 'backslash', path: '/a%5Cb' },
    { option: 'allowSemicolon', target: '/a;v=1/b', reason: 'semicolon', path: '/a;v=1/b' },
    { option: 'allowSemicolon', target: '/a%3bb', reason: 'semicolon', path: '/a%3Bb' },
    {
      option: 'allowDoubleEncoding',
      target: '/%252e%252e/',
      reason: 'double_encoding',
      path: '/%252e%252e/',
    },
    { option: 'allowTrailingDot', target: '/admin.', reason: 'trailing_dot', path: '/admin.' },
    { option: 'allowTrailingDot', target: '/a/.../b', reason: 'trailing_dot', path: '/a/.../b' },
  ];

  it.each(OPTION_CASES)(
    '$option switches off the $reason refusal of $target',
    ({ option, target, reason, path }) => {
      expect(normalizePath(target, STRICT)).toMatchObject({ reason: `normalize.path.${reason}` });
      expect(normalizePath(target, { ...STRICT, [option]: true })).toEqual({
        ok: true,
        path,
        query: '',
      });
    },
  );

  it.each([
    ['allowEncodedSlash', '/a\\b', 'backslash'],
    ['allowBackslash', '/a;b', 'semicolon'],
    ['allowSemicolon', '/a%2fb', 'encoded_slash'],
    ['allowDoubleEncoding', '/admin.', 'trailing_dot'],
    ['allowTrailingDot', '/%2541', 'double_encoding'],
  ] as const)('%s leaves the %s target refused as %s', (option, target, reason) => {
    expect(normalizePath(target, { ...STRICT, [option]: true })).toMatchObject({
      reason: `normalize.path.${reason}`,
    });
  });

  it.each([
    ['allowSemicolon', '/api/..;/admin'],
    ['allowSemicolon', '/api/.;x/admin'],
    ['allowSemicolon', '/api/..%3b/admin'],
    ['allowBackslash', '/api\\..\\admin'],
    ['allowBackslash', '/%5c..%5cadmin'],
    ['allowBackslash', '/api/..\\'],
  ] as const)('%s still refuses the dot segment hidden in %s', (option, target) => {
    expect(normalizePath(target, { ...STRICT, [option]: true })).toMatchObject({
      reason: 'normalize.path.hidden_dot_segment',
    });
  });

  it.each([
    ['/admin.;x', 'trailing_dot'],
    ['/a.\\b', 'trailing_dot'],
  ] as const)(
    'checks trailing dots on each piece a lenient backend would see in %s',
    (target, reason) => {
      expect(
        normalizePath(target, { ...STRICT, allowSemicolon: true, allowBackslash: true }),
      ).toMatchObject({ reason: `normalize.path.${reason}` });
    },
  );

  it('keeps allowed separators as literal data, never as path separators', () => {
    expect(normalizePath('/a%2f..', LENIENT)).toEqual({ ok: true, path: '/a%2F..', query: '' });
    expect(normalizePath('/a;x/../b', LENIENT)).toEqual({ ok: true, path: '/b', query: '' });
  });
});

// Segments chosen to hit every rule: dot segments in all spellings, separators, parameters,
// double encodings, UTF-8 valid and not, empty segments and trailing dots.
const SEGMENTS = [
  '',
  '.',
  '..',
  '...',
  '%2e',
  '%2E%2e',
  '.%2e',
  '%2F',
  '%2f..',
  ';',
  '..;',
  'a;b',
  '%3B',
  '%25',
  '%2541',
  '%25%32%65',
  '\\',
  '%5C..',
  'a',
  'B',
  'v1.2',
  'x.',
  '~',
  '%7E',
  '%41',
  '%20',
  '%3f',
  '%c3%a9',
  '%EF%BC%8F',
  '%C0%AE',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '%E2%82',
  '%zz',
  '%00',
];

const options = fc.record({
  allowEncodedSlash: fc.boolean(),
  allowBackslash: fc.boolean(),
  allowSemicolon: fc.boolean(),
  allowDoubleEncoding: fc.boolean(),
  allowTrailingDot: fc.boolean(),
});

const hostilePath = fc
  .array(fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }), {
    maxLength: 8,
  })
  .map((segs) => '/' + segs.map((parts) => parts.join('')).join('/'));

const hostileTarget = fc
  .tuple(hostilePath, fc.option(fc.constantFrom('x=1', '', 'a=%00&b=..%2f', 'q=a;b')))
  .map(([path, query]) => (query === null ? path : `${path}?${query}`));

const withQuery = (path: string, query: string): string =>
  query === '' ? path : `${path}?${query}`;

describe('normalizePath properties', () => {
  it('is idempotent: a canonical target normalizes to itself', () => {
    fc.assert(
      fc.property(hostileTarget, options, (target, opts) => {
        const first = normalizePath(target, opts);
        if (!first.ok) return;
        expect(normalizePath(withQuery(first.path, first.query), opts)).toEqual(first);
      }),
      { numRuns: 2000 },
    );
  });

  it('never outputs a dot segment, an empty segment, a separator look-alike or an encoded unreserved byte', () => {
    fc.assert(
      fc.property(hostilePath, (target) => {
        const result = normalizePath(target, STRICT);
        if (!result.ok) return;
        const { path } = result;
        expect(path.startsWith('/')).toBe(true);
        for (const bad of ['//', '/./', '/../', '\\', ';']) expect(path).not.toContain(bad);
        expect(path.endsWith('/..')).toBe(false);
        expect(path.endsWith('/.')).toBe(false);
        for (const escape of path.match(/%../g) ?? []) {
          expect(escape).toBe(escape.toUpperCase());
          const byte = Number.parseInt(escape.slice(1), 16);
          expect(/[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte))).toBe(false);
          expect([0x2f, 0x5c, 0x3b]).not.toContain(byte);
        }
        expect(path).not.toMatch(/%25[0-9A-Fa-f]{2}/);
      }),
      { numRuns: 2000 },
    );
  });

  // Printable ASCII without the characters that send a path to the slow path or end it.
  const plainChar = fc.constantFrom(...'abcXYZ019-_~!$&\'()*+,=:@"<>[]^`{|}');
  const plainPath = fc
    .array(fc.string({ unit: plainChar, minLength: 1, maxLength: 6 }), {
      minLength: 1,
      maxLength: 6,
    })
    .chain((segs) => fc.boolean().map((trailing) => '/' + segs.join('/') + (trailing ? '/' : '')));

  it('returns a path without specials unchanged, as the slow path does', () => {
    fc.assert(
      fc.property(plainPath, options, (path, opts) => {
        expect(normalizePath(path, opts)).toEqual({ ok: true, path, query: '' });
        // The same path forced through the slow path by a dot segment, a doubled slash
        // and encoded unreserved characters comes out identical.
        const slow = ('/.' + path.replace(/\//g, '//')).replace(
          /[a-z]/g,
          (c) => `%${c.charCodeAt(0).toString(16)}`,
        );
        expect(normalizePath(`${slow}?q=1`, opts)).toEqual({ ok: true, path, query: 'q=1' });
      }),
      { numRuns: 1000 },
    );
  });
});
