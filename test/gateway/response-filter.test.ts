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

const doc = Buffer.from(JSON.stringify({ name: 'a', secret: 's' }));

describe('the response filter', () => {
  it('answers a plain body synchronously, filtered, with its own Content-Length', () => {
    const out = filterOf([dropSecret], doc).finish();
    expect(out).not.toBeInstanceOf(Promise);
    if (out instanceof Promise || !('body' in out)) throw new Error('expected a response');
    expect(out.body.toString()).toBe('{"name":"a"}');
    expect(out.headers.slice(-2)).toEqual(['content-length', String(out.body.length)]);
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
});
