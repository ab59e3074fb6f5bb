import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ResponseFilter } from '../../src/gateway/response-filter.js';
import type { BodyTransform, ResponseChange } from '../../src/gateway/stage.js';
import { DETECTOR_IDS } from '../../src/stages/data-protection/detectors/detector.js';
import { scanPolicy, StreamScanner } from '../../src/stages/data-protection/stream-scanner.js';

/**
 * A response that a stage filters as JSON (authorization read rules) and another scans for
 * sensitive data: the scanner sees the filtered document, whole, and what it blocks is refused.
 */

const policy = (action: 'mask' | 'block') =>
  scanPolicy(new Map(DETECTOR_IDS.map((id) => [id, action])));

function scanning(action: 'mask' | 'block'): () => BodyTransform {
  return () => {
    const scanner = new StreamScanner(policy(action));
    const step = (r: ReturnType<StreamScanner['push']>) =>
      r.blocked === undefined
        ? { out: r.out }
        : { out: r.out, refuse: { kind: 'bad-gateway' as const, reason: 'test.blocked' } };
    return { push: (c) => step(scanner.push(c)), end: () => step(scanner.end()) };
  };
}

async function filtered(changes: ResponseChange[], body: Buffer, gzip = false) {
  const headers = ['content-type', 'application/json'];
  if (gzip) headers.push('content-encoding', 'gzip');
  const start = ResponseFilter.start('GET', 200, headers, changes, 1 << 20);
  if (start.kind !== 'buffer') throw new Error(`not buffered: ${start.kind}`);
  expect(start.filter.add(gzip ? gzipSync(body) : body)).toBeUndefined();
  return start.filter.finish();
}

describe('a filtered JSON response with a body transform', () => {
  const doc = Buffer.from(JSON.stringify({ card: '4111111111111111', secret: 'x' }));
  const dropSecret = (v: unknown) => ({ ...(v as object), secret: undefined });

  it.each([false, true])('masks the filtered document (gzip: %s)', async (gzip) => {
    const out = await filtered(
      [{ transformJson: dropSecret }, { transformBody: scanning('mask') }],
      doc,
      gzip,
    );
    if (!('body' in out)) throw new Error(`refused: ${out.reason}`);
    expect(JSON.parse(out.body.toString())).toEqual({ card: '************1111' });
    expect(out.headers).toContain('content-length');
    expect(out.headers[out.headers.indexOf('content-length') + 1]).toBe(String(out.body.length));
  });

  it('refuses what a body transform blocks', async () => {
    const out = await filtered(
      [{ transformJson: dropSecret }, { transformBody: scanning('block') }],
      doc,
    );
    expect('body' in out).toBe(false);
    if (!('body' in out)) expect(out.reason).toBe('test.blocked');
  });
});
