import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64Decode,
  decodeVariants,
  escapeDecode,
  htmlEntityDecode,
  urlDecode,
} from '../../../src/stages/detect/decode-variants.js';
import { MAX_VARIANTS } from '../../../src/stages/detect/detector.js';
import { detector, request, rules } from '../../support/detector.js';

describe('the decoders', () => {
  it.each([
    [urlDecode, '%3Cscript%3E', '<script>'],
    [urlDecode, '%252e%252e%252f', '%2e%2e%2f'],
    [urlDecode, '..%c0%af..%c0%af', '../../'],
    [urlDecode, '%e0%80%ae%e0%80%ae/', '../'],
    [urlDecode, '%u003cscript', '<script'],
    [urlDecode, '%zz%4', undefined],
    [htmlEntityDecode, '&lt;svg&gt;', '<svg>'],
    [htmlEntityDecode, '&#60;&#x3C;&#0000060', '<<<'],
    [htmlEntityDecode, 'Tom &amp; Jerry', 'Tom & Jerry'],
    [htmlEntityDecode, 'AT&T', undefined],
    [escapeDecode, '\\u003cscript\\u003e', '<script>'],
    [escapeDecode, '\\x3c\\u{73}', '<s'],
    [base64Decode, Buffer.from('{{7*7}} and more').toString('base64'), '{{7*7}} and more'],
    [base64Decode, 'internationalization', undefined],
    [
      base64Decode,
      Buffer.from([0, 1, 2, 200, 255, 3, 4, 5, 6, 7, 8, 9]).toString('base64'),
      undefined,
    ],
  ])('%o decodes %j to %j', (decode, input, output) => {
    expect(decode(input)).toBe(output);
  });

  it('reverses encodeURIComponent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const encoded = encodeURIComponent(s);
        expect(urlDecode(encoded) ?? encoded).toBe(s);
      }),
    );
  });

  it('never makes more than MAX_VARIANTS variants, none longer than the value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const variants = decodeVariants(s, MAX_VARIANTS);
        expect(variants.length).toBeLessThanOrEqual(MAX_VARIANTS);
        expect(variants[0]).toBe(s);
        for (const v of variants) expect(v.length).toBeLessThanOrEqual(s.length);
      }),
    );
  });
});

describe('attacks hidden behind an encoding', () => {
  const p1 = detector();
  it.each([
    [
      'double-URL-encoded traversal',
      '%252e%252e%252f%252e%252e%252fetc%252fpasswd',
      'detect.traversal.dot_dot',
    ],
    ['overlong UTF-8 traversal', '..%c0%af..%c0%afetc', 'detect.traversal.dot_dot'],
    [
      'unicode-escaped script tag',
      '\\u003cscript\\u003ealert(1)\\u003c/script\\u003e',
      'detect.xss.script_tag',
    ],
    [
      'entity-encoded event handler',
      '&lt;img src=x onerror=alert(1)&gt;',
      'detect.xss.event_handler',
    ],
    ['entities inside URL encoding', '%26lt%3Bscript%26gt%3B', 'detect.xss.script_tag'],
    [
      'base64 template injection',
      Buffer.from("{{''.__class__.__mro__}}").toString('base64'),
      'detect.ssti.expression',
    ],
    [
      'base64 SQL injection',
      Buffer.from("' UNION SELECT password FROM users--").toString('base64'),
      'detect.sqli.union_select',
    ],
    ['URL-encoded JNDI lookup', '%24%7Bjndi%3Aldap%3A%2F%2Fx%2Fa%7D', 'detect.jndi.lookup'],
    ['URL-encoded host', 'http://%31%32%37%2e%30%2e%30%2e%31/', 'detect.ssrf.loopback'],
    [
      'URL-encoded CRLF',
      'x%0d%0aLocation:%20https://evil.example/',
      'detect.crlf.header_injection',
    ],
  ])('finds a %s', (_name, value, rule) => {
    expect(rules(p1.inspect(request({ body: { v: value } })))).toContain(rule);
  });
});
