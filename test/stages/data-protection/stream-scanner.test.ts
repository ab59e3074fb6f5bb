import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../../src/stages/authn/api-key/api-key-format.js';
import {
  DETECTOR_IDS,
  type DetectorId,
} from '../../../src/stages/data-protection/detectors/detector.js';
import {
  scanPolicy,
  scanWhole,
  StreamScanner,
  type DataAction,
} from '../../../src/stages/data-protection/stream-scanner.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const SECRETS = [
  '4111 1111 1111 1111',
  '378282246310005',
  'DE89 3704 0044 0532 0130 00',
  '123-45-6789',
  `-----BEGIN EC PRIVATE KEY-----\n${'k'.repeat(120)}\n-----END EC PRIVATE KEY-----`,
  `${b64('{"alg":"RS256"}')}.${b64('{"sub":"bob"}')}.${'x'.repeat(40)}`,
  'AKIAIOSFODNN7EXAMPLE',
  generateApiKey('test'),
  `"private_key_id": "${'0123456789abcdef0123'.repeat(2)}"`,
  'GB82WEST12345698765432',
];
const FILLER = ['', ' ', ', ', '"', '\n', 'lorem ipsum ', '{"a":', '12', 'x', '-'];

const policyOf = (action: DataAction) =>
  scanPolicy(new Map(DETECTOR_IDS.map((id) => [id, action])));
const MASK = policyOf('mask');

/** Streams `body` through a scanner in the given chunk sizes. */
function streamed(
  body: Buffer,
  sizes: readonly number[],
  policy = MASK,
  eager = false,
): { out: Buffer; counts: Map<DetectorId, number>; blocked?: DetectorId } {
  const scanner = new StreamScanner(policy, { eager });
  const parts: Buffer[] = [];
  let at = 0;
  let k = 0;
  while (at < body.length) {
    const size = Math.max(1, sizes.length === 0 ? 1 : (sizes[k++ % sizes.length] as number));
    const step = scanner.push(body.subarray(at, at + size));
    at += size;
    if (step.blocked !== undefined)
      return { out: Buffer.concat(parts), counts: scanner.counts, blocked: step.blocked };
    parts.push(step.out);
  }
  const last = scanner.end();
  if (last.blocked !== undefined)
    return { out: Buffer.concat(parts), counts: scanner.counts, blocked: last.blocked };
  parts.push(last.out);
  return { out: Buffer.concat(parts), counts: scanner.counts };
}

describe('the streaming scanner', () => {
  it('masks a card number sent one byte per chunk', () => {
    const body = Buffer.from(`{"pan":"4111 1111 1111 1111","n":1}`);
    const { out, counts } = streamed(body, [1]);
    expect(out.toString()).toBe(`{"pan":"**** **** **** 1111","n":1}`);
    expect(counts.get('card')).toBe(1);
  });

  it('masks a secret that straddles the boundary of two large windows', () => {
    const policy = MASK;
    // The card starts just before the first window's cut, so its tail is in the next window.
    const lead = 2 * policy.holdBack - policy.holdBack - 5;
    const body = Buffer.from(
      `${' '.repeat(lead)}4111111111111111${' '.repeat(3 * policy.holdBack)}`,
    );
    const { out, counts } = streamed(body, [4096]);
    expect(out.toString().trim()).toBe('************1111');
    expect(out).toHaveLength(body.length);
    expect(counts.get('card')).toBe(1);
  });

  it.each([
    ['windows', false],
    ['eager', true],
  ])('%s: finds exactly what a whole-body scan finds, for any chunking (property)', (_, eager) => {
    const doc = fc.array(fc.oneof(fc.constantFrom(...SECRETS), fc.constantFrom(...FILLER)), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        doc,
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }),
        (parts, sizes) => {
          const body = Buffer.from(parts.join(''), 'latin1');
          const whole = scanWhole(MASK, body);
          const split = streamed(body, sizes, MASK, eager);
          expect(split.out.toString('latin1')).toBe(whole.out.toString('latin1'));
          expect(split.out).toHaveLength(body.length);
          expect([...split.counts].sort()).toEqual([...whole.scanner.counts].sort());
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['windows', false],
    ['eager', true],
  ])(
    '%s: never lets a secret through, whatever the filler and the chunking (property)',
    (_, eager) => {
      fc.assert(
        fc.property(
          fc.constantFrom(...SECRETS),
          fc.string({ maxLength: 300 }),
          fc.string({ maxLength: 300 }),
          fc.integer({ min: 1, max: 64 }),
          (secret, before, after, size) => {
            const body = Buffer.from(`${before} ${secret} ${after}`, 'latin1');
            const { out } = streamed(body, [size], MASK, eager);
            expect(out.toString('latin1')).not.toContain(secret);
          },
        ),
        { numRuns: 1000 },
      );
    },
  );

  it('records without changing a byte', () => {
    const body = Buffer.from(`a 4111111111111111 b AKIAIOSFODNN7EXAMPLE`);
    const { out, counts } = streamed(body, [3], policyOf('record'));
    expect(out.equals(body)).toBe(true);
    expect(Object.fromEntries(counts)).toEqual({ card: 1, 'aws-access-key': 1 });
  });

  it('blocks before sending anything when the match is in the first window', () => {
    const body = Buffer.from(`{"k":"${SECRETS[4] ?? ''}"}`);
    const r = streamed(body, [5], policyOf('block'));
    expect(r.blocked).toBe('private-key');
    expect(r.out).toHaveLength(0);
  });

  it('holds back a bounded tail: memory does not grow with the body', () => {
    const scanner = new StreamScanner(MASK);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    for (let i = 0; i < 64; i++) sent += scanner.push(chunk).out.length;
    // Everything but the held-back tail has gone out.
    expect(64 * chunk.length - sent).toBeLessThanOrEqual(2 * MASK.holdBack + chunk.length);
    expect(64 * chunk.length - sent).toBeGreaterThan(0);
    sent += scanner.end().out.length;
    expect(sent).toBe(64 * chunk.length);
  });

  // Linear-time scanning: a quadratic scanner takes minutes on these, a linear one milliseconds.
  it.each<[string, string]>([
    ['a megabyte of digits', '7'],
    ['a megabyte of digits and single spaces', '4 '],
    ['a megabyte of grouped card-like digits', '4111 '],
    ['a megabyte of JWT starts', 'eyJ'],
    ['a megabyte of JWT-like dots', 'eyJhbGciOiJIUzI1NiJ9.'],
    ['a megabyte of PEM headers without an end', '-----BEGIN PRIVATE KEY-----\n'],
    ['a megabyte of IBAN starts', 'DE89 '],
    ['a megabyte of SSN-like text', '123-45-'],
    ['a megabyte of one token', 'A'],
    ['a megabyte of key-id prefixes', '"private_key_id": "'],
  ])('scans %s in linear time, in one chunk and in 1-byte chunks', (_name, unit) => {
    const body = Buffer.from(unit.repeat(Math.ceil((1024 * 1024) / unit.length)), 'latin1');
    const started = performance.now();
    scanWhole(MASK, body);
    const small = body.subarray(0, 64 * 1024);
    streamed(small, [1]);
    streamed(small, [1], MASK, true);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('the eager scanner (event streams)', () => {
  const eager = () => new StreamScanner(MASK, { eager: true });

  it('sends each event as it comes when it ends between tokens', () => {
    const scanner = eager();
    for (const event of ['data: {"n":1}\n\n', 'data: {"pan":"4111 1111 1111 1111"}\n\n']) {
      const out = scanner.push(Buffer.from(event)).out.toString();
      expect(out).toBe(event.replace('4111 1111 1111', '**** **** ****'));
    }
    // A window scanner keeps both back until 20 KB have come.
    expect(new StreamScanner(MASK).push(Buffer.from('data: {"n":1}\n\n')).out).toHaveLength(0);
  });

  it('holds a card number cut by a chunk from its first digit, and masks it whole', () => {
    const scanner = eager();
    expect(scanner.push(Buffer.from('{"pan":"4111 1111')).out.toString()).toBe('{"pan":"');
    expect(scanner.push(Buffer.from(' 1111 1111"}\n')).out.toString()).toBe(
      '**** **** **** 1111"}\n',
    );
  });

  it('holds a PEM block from its BEGIN line until its END line has come', () => {
    const scanner = eager();
    const key = SECRETS[4] ?? '';
    const cut = key.indexOf('-----END') + 12;
    expect(scanner.push(Buffer.from(`x ${key.slice(0, 20)}`)).out.toString()).toBe('x ');
    expect(scanner.push(Buffer.from(key.slice(20, cut))).out).toHaveLength(0);
    const out = scanner.push(Buffer.from(`${key.slice(cut)}\n`)).out.toString();
    expect(out).toMatch(
      /^-----BEGIN EC PRIVATE KEY-----\n\*{120}\n-----END EC PRIVATE KEY-----\n$/,
    );
  });

  it('holds a PEM header with a long label cut short, and masks the key once it has come', () => {
    const scanner = eager();
    const key = `-----BEGIN ${'A'.repeat(23)} PRIVATE KEY BLOCK-----\n${'k'.repeat(64)}\n-----END X-----\n`;
    const cut = '-----BEGIN '.length + 23 + ' PRIVATE KEY BL'.length;
    expect(scanner.push(Buffer.from(key.slice(0, cut))).out).toHaveLength(0);
    const out = scanner.push(Buffer.from(key.slice(cut))).out.toString();
    expect(out).not.toContain('k'.repeat(8));
  });

  it('holds a marker cut short: the start of a BEGIN line', () => {
    const scanner = eager();
    expect(scanner.push(Buffer.from('text -----BEG')).out.toString()).toBe('text ');
  });

  it('holds at most twice the longest match, however long a token runs', () => {
    const scanner = eager();
    let sent = 0;
    const chunk = Buffer.alloc(4096, 0x41); // one endless token
    for (let i = 0; i < 256; i++) sent += scanner.push(chunk).out.length;
    expect(256 * chunk.length - sent).toBeLessThanOrEqual(2 * MASK.holdBack + chunk.length);
    sent += scanner.end().out.length;
    expect(sent).toBe(256 * chunk.length);
  });
});
