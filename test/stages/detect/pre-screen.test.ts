import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeVariants } from '../../../src/stages/detect/decode-variants.js';
import { isInert, MAX_VARIANTS } from '../../../src/stages/detect/detector.js';
import { scanCmdi } from '../../../src/stages/detect/families/cmdi.js';
import { scanCrlf } from '../../../src/stages/detect/families/crlf.js';
import { scanJndi } from '../../../src/stages/detect/families/jndi.js';
import { scanNosql } from '../../../src/stages/detect/families/nosql.js';
import { scanProto } from '../../../src/stages/detect/families/proto.js';
import { scanSqli, scanSqlTokens } from '../../../src/stages/detect/families/sqli.js';
import { scanSsrf } from '../../../src/stages/detect/families/ssrf.js';
import { scanSsti } from '../../../src/stages/detect/families/ssti.js';
import { scanTraversal } from '../../../src/stages/detect/families/traversal.js';
import { scanXss } from '../../../src/stages/detect/families/xss.js';
import { scanXxe } from '../../../src/stages/detect/families/xxe.js';
import {
  formDecode,
  walkRequest,
  type RequestParts,
} from '../../../src/stages/detect/request-values.js';
import {
  FAMILIES,
  RULES,
  type Family,
  type RuleId,
} from '../../../src/stages/detect/rule-catalogue.js';
import { Subject, type Source, type ValueScanner } from '../../../src/stages/detect/subject.js';
import { detector, request, rules } from '../../support/detector.js';

/**
 * The pre-screens skip work, never a catch: a variant isInert() calls inert fires no rule of
 * any family, and the screens in front of the SQL tokenizer let through everything the
 * tokenizer's rules fire on. Checked on every value of every attack of the corpus (each family
 * must be represented) and on generated strings made of the pieces rules look for.
 */

const SCANNERS: readonly ValueScanner[] = [
  scanSqlTokens, // the SQL rules without the trigger screen: what scanSqli must not lose
  scanXss,
  scanCmdi,
  scanTraversal,
  scanSsrf,
  scanNosql,
  scanProto,
  scanXxe,
  scanSsti,
  scanJndi,
  scanCrlf,
];

function firedBy(
  scanners: readonly ValueScanner[],
  text: string,
  source: Source,
  decoded: boolean,
): RuleId[] {
  const out: RuleId[] = [];
  const subject = new Subject(text, source, decoded);
  for (const scan of scanners) scan(subject, (id) => out.push(id));
  return [...new Set(out)].sort();
}

interface CorpusRecord {
  readonly label: 'attack' | 'benign';
  readonly category: string;
  readonly request: {
    path: string;
    query?: string;
    headers?: Record<string, string>;
    body?: unknown;
  };
}

function corpus(name: string): CorpusRecord[] {
  const text = readFileSync(
    new URL(`../../../eval/detection/corpus/${name}`, import.meta.url),
    'utf8',
  );
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CorpusRecord);
}

/** Every value the engine would scan in a request, with its source. */
function valuesOf(parts: RequestParts): [string, Source][] {
  const out: [string, Source][] = [];
  walkRequest(
    parts,
    { path: true, query: true, headers: true, cookies: true, body: true },
    new Set(),
    {
      value: (_at, value, source) => (out.push([value, source]), true),
      formValue: (_at, raw) => (out.push([formDecode(raw), 'query']), true),
      keys: () => true,
    },
  );
  return out;
}

/** Checks one value's variants; returns the families whose rules fired on them. */
function checkValue(value: string, source: Source): Set<Family> {
  const families = new Set<Family>();
  decodeVariants(value, MAX_VARIANTS).forEach((text, i) => {
    const fired = firedBy(SCANNERS, text, source, i > 0);
    if (fired.length > 0) expect(isInert(text), `inert: ${JSON.stringify(text)}`).toBe(false);
    const tokens = firedBy([scanSqlTokens], text, source, i > 0);
    expect(firedBy([scanSqli], text, source, i > 0), `sqli: ${JSON.stringify(text)}`).toEqual(
      tokens,
    );
    for (const id of fired) families.add(RULES[id].family);
  });
  return families;
}

describe('the pre-screens', () => {
  it('let through every value of every corpus attack that a rule fires on, in every family', () => {
    const seen = new Set<Family>();
    for (const r of corpus('attacks.jsonl')) {
      const parts = request({
        path: r.request.path,
        query: r.request.query ?? '',
        headers: Object.fromEntries(
          Object.entries(r.request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        ),
        body: r.request.body,
      });
      for (const [value, source] of valuesOf(parts))
        for (const f of checkValue(value, source)) seen.add(f);
    }
    expect([...seen].sort()).toEqual([...FAMILIES].sort());
  });

  // The pieces the rules read, and plain text around them: generated values hit every screen's
  // edges (a keyword without its punctuation, punctuation without its keyword).
  const PIECES = [
    ...'abcdefghijklmnopqrstuvwxyz0123456789 \t\n\r\u0000.,;:!?+-*/\\\'"`=<>()[]{}$#@%&|^~_',
    ...[
      'or',
      'and',
      'xor',
      '||',
      '&&',
      '1',
      "'",
      '=',
      'like',
      'rlike',
      'is',
      'not',
      'null',
      'true',
    ],
    ...[
      'union',
      'select',
      'from',
      'order',
      'group',
      'by',
      'sleep',
      'waitfor',
      'delay',
      'benchmark',
    ],
    ...[
      'drop',
      'table',
      'exec',
      'xp_cmdshell',
      'information_schema',
      '@@version',
      'into',
      'outfile',
    ],
    ...['char', 'concat', 'exp', '0x41424344454647', 'extractvalue', '--', '#', '/*', '*/', ';'],
    ...['<script', '<svg', 'onerror=', 'javascript:', 'alert(', 'document.cookie', '<!doctype'],
    ...['cat', 'id', 'whoami', '/etc/passwd', '../', '..\\', 'php://', '${ifs}', '$(', '`'],
    ...[
      'localhost',
      'metadata',
      'loopback',
      '0x7f000001',
      '127.0.0.1',
      'http://',
      '[::1]',
      '169.254.169.254',
    ],
    ...['{"$ne":', '$where', 'this.', 'return', '__proto__', 'constructor', 'prototype'],
    ...['{{', '}}', '7*7', '${', '}', 'jndi:', 'ldap:', '\r\nset-cookie:', '\u560a', 'K', 'İ'],
  ];
  const value = fc
    .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 })
    .map((p) => p.join(''));
  const source = fc.constantFrom<Source>('path', 'query', 'header', 'cookie', 'body');

  it('never call inert a generated value that some rule fires on', () => {
    fc.assert(
      fc.property(value, source, fc.boolean(), (text, src, decoded) => {
        if (firedBy(SCANNERS, text, src, decoded).length > 0) expect(isInert(text)).toBe(false);
      }),
      { numRuns: 20_000 },
    );
  });

  it('never keep the SQL tokenizer from a generated value its rules fire on', () => {
    fc.assert(
      fc.property(value, source, fc.boolean(), (text, src, decoded) => {
        expect(firedBy([scanSqli], text, src, decoded)).toEqual(
          firedBy([scanSqlTokens], text, src, decoded),
        );
      }),
      { numRuns: 20_000 },
    );
  });

  it('call inert the plain values of everyday traffic', () => {
    for (const text of ['women s running shoes', '24', 'acc 1001', 'Alice Anders', 'GA1 2 1234']) {
      expect(isInert(text), text).toBe(true);
    }
  });

  // Values of plain characters that some rule reads: before the pre-screen was held to the
  // scanners, these went unscanned.
  it.each([
    ['1 or 1 like 1', 'detect.sqli.tautology'],
    ['1 OR 1 IS NULL', 'detect.sqli.tautology'],
    ['1 waitfor delay 0', 'detect.sqli.time_delay'],
    ['0x7f000001', 'detect.ssrf.internal_host_value'],
  ])('scans %s in a query value', (text, rule) => {
    const found = detector({ paranoia: 4, threshold: 3 }).inspect(
      request({ query: `q=${encodeURIComponent(text)}` }),
    );
    expect(rules(found)).toContain(rule);
  });
});
