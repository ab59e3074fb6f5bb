import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ResponseFilter } from '../../src/gateway/response-filter.js';
import type { ResponseChange } from '../../src/gateway/stage.js';

const dropSecret: ResponseChange = {
  transformJson: (v) => ({ ...(v as object), secret: undefined }),
};
const broken: ResponseChange = {
  transformJson: () => {
    throw new Error('a bug in a transform');
  },
};

function filterOf(changes: ResponseChange[], body: Buffer, gzip = false, cap = 1 << 20) {
  const headers = ['content-type', 'application/json'];
  if (gzip) headers.push('content-encoding', 'gzip');
  const start = ResponseFilter.start('GET', 200, headers, changes, cap);
  if (start.kind !== 'buffer') throw new Error(`not buffered: ${start.kind}`);
  expect(start.filter.add(gzip ? gzipSync(body) : body)).toBeUndefined();
  return start.filter;
}

/** A change with both versions, each saying which one ran; `twice` leaves the bytes undecided. */
function marked(ran: string[]): ResponseChange {
  return {
    transformJson: (v) => {
      ran.push('value');
      return { ...(v as object), secret: undefined };
    },
    transformJsonBytes: (body) => {
      ran.push('bytes');
      const text = body.toString('utf8');
      if (text.includes('twice')) return undefined;
      JSON.parse(text);
      const out = text.replace(/,"secret":"s"/, '');
      return out === text ? body : Buffer.from(out);
    },
  };
}

const doc = Buffer.from(JSON.stringify({ name: 'a', secret: 's' }));

describe('the response filter', () => {
  it('answers a plain body synchronously, filtered, with its own Content-Length', () => {
    const out = filterOf([dropSecret], doc).finish();
    expect(out).not.toBeInstanceOf(Promise);
    if (out instanceof Promise || !('body' in out)) throw new Error('expected a response');
    expect(out.body.toString()).toBe('{"name":"a"}');
    expect(out.headers.slice(-2)).toEqual(['content-length', String(out.body.length)]);
  });

  it('reads header names in any case, and drops those of the unfiltered body', async () => {
    const zipped = gzipSync(doc);
    const headers = [
      'Content-Type',
      'Application/JSON; charset=utf-8',
      'Content-Encoding',
      'GZIP',
      'Content-Length',
      String(zipped.length),
      'ETag',
      '"abc"',
      // Whose only capital is the first letter of the alphabet.
      'accept-rAnges',
      'bytes',
      'X-Kept',
      'yes',
    ];
    const start = ResponseFilter.start('GET', 200, headers, [dropSecret], 1 << 20);
    if (start.kind !== 'buffer') throw new Error(`not buffered: ${start.kind}`);
    expect(start.filter.add(zipped)).toBeUndefined();
    const out = await start.filter.finish();
    if (!('body' in out)) throw new Error(`refused: ${out.reason}`);
    expect(out.body.toString()).toBe('{"name":"a"}');
    expect(out.headers).toEqual([
      'Content-Type',
      'Application/JSON; charset=utf-8',
      'X-Kept',
      'yes',
      'content-length',
      String(out.body.length),
    ]);
    const tooLong = ['Content-Type', 'application/json', 'CONTENT-LENGTH', String(2 << 20)];
    expect(ResponseFilter.start('GET', 200, tooLong, [dropSecret], 1 << 20).kind).toBe('refuse');
  });

  it('answers a compressed body once it is decompressed, filtered', async () => {
    const pending = filterOf([dropSecret], doc, true).finish();
    expect(pending).toBeInstanceOf(Promise);
    const out = await pending;
    if (!('body' in out)) throw new Error(`refused: ${out.reason}`);
    expect(out.body.toString()).toBe('{"name":"a"}');
    expect(out.headers).not.toContain('content-encoding');
  });

  it.each([false, true])('refuses a body that is not JSON (gzip: %s)', async (gzip) => {
    const out = await filterOf([dropSecret], Buffer.from('{"name":'), gzip).finish();
    expect('body' in out ? 'sent' : out.reason).toBe('proxy.response.malformed_json');
  });

  it('refuses a compressed body that inflates past the cap', async () => {
    const bomb = Buffer.from(JSON.stringify({ pad: 'x'.repeat(100_000) }));
    const out = await filterOf([dropSecret], bomb, true, 10_000).finish();
    expect('body' in out ? 'sent' : out.reason).toBe('proxy.response.too_large_to_filter');
  });

  it('throws when a transform has a bug, and rejects after decompression', async () => {
    expect(() => filterOf([broken], doc).finish()).toThrow('a bug in a transform');
    await expect(filterOf([broken], doc, true).finish()).rejects.toThrow('a bug in a transform');
  });

  it('filters the bytes when every change can, and sends an untouched body as it came', () => {
    const ran: string[] = [];
    const out = filterOf([marked(ran), marked(ran)], doc).finish();
    if (out instanceof Promise || !('body' in out)) throw new Error('expected a response');
    expect(ran).toEqual(['bytes', 'bytes']);
    expect(out.body.toString()).toBe('{"name":"a"}');
    const plain = Buffer.from('{ "name": "b" }');
    const same = filterOf([marked([])], plain).finish();
    if (same instanceof Promise || !('body' in same)) throw new Error('expected a response');
    expect(same.body).toBe(plain);
  });

  it('parses when one change has no byte version, or a byte version cannot tell', () => {
    const ran: string[] = [];
    const out = filterOf([marked(ran), dropSecret], doc).finish();
    if (out instanceof Promise || !('body' in out)) throw new Error('expected a response');
    expect(ran).toEqual(['value']);
    expect(out.body.toString()).toBe('{"name":"a"}');
    const undecided: string[] = [];
    const twice = Buffer.from('{"name":"twice","secret":"s"}');
    const parsed = filterOf([marked(undecided)], twice).finish();
    if (parsed instanceof Promise || !('body' in parsed)) throw new Error('expected a response');
    expect(undecided).toEqual(['bytes', 'value']);
    expect(parsed.body.toString()).toBe('{"name":"twice"}');
  });

  it.each([
    ['truncated', Buffer.from('{"name":')],
    ['after a byte order mark', Buffer.from('\ufeff{"name":"a"}')],
    ['with bytes that are not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['with a UTF-16 surrogate in UTF-8', Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d])],
    ['with an overlong UTF-8 sequence', Buffer.from([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d])],
    ['cut inside a UTF-8 sequence', Buffer.from([0x5b, 0x22, 0xc3, 0x22, 0x5d])],
  ])('refuses a body %s on the byte path as on the parsed one', (_how, body) => {
    for (const changes of [[marked([])], [dropSecret]]) {
      const out = filterOf(changes, body).finish();
      if (out instanceof Promise) throw new Error('expected no promise');
      expect('body' in out ? 'sent' : out.reason).toBe('proxy.response.malformed_json');
    }
  });
});
