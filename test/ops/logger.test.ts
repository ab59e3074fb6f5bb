import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/ops/logger.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'Bearer eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln';

describe('createLogger', () => {
  it.each([
    ['authorization', SECRET],
    ['proxy-authorization', 'Basic dXNlcjpwYXNz'],
    ['cookie', 'session=abc123secret'],
    ['set-cookie', 'session=abc123secret; HttpOnly'],
    ['x-api-key', 'pcl_test_0123456789abcdef'],
    ['x-custom-token', 'configured-secret-value'],
  ])('redacts the %s header wherever headers are logged', (name, value) => {
    const out = capture();
    const log = createLogger({
      level: 'info',
      redactHeaders: ['X-Custom-Token'],
      destination: out.stream,
    });
    log.info({ headers: { [name]: value } }, 'top-level headers');
    log.info({ req: { headers: { [name]: value } } }, 'request headers');
    log.info({ upstream: { headers: { [name]: value } } }, 'nested headers');
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain(value);
    expect(text.match(/\[redacted\]/g)).toHaveLength(3);
  });

  it('keeps headers that are not credentials', () => {
    const out = capture();
    const log = createLogger({ level: 'info', redactHeaders: [], destination: out.stream });
    log.info({ headers: { accept: 'application/json' } }, 'headers');
    expect(out.lines()[0]).toMatchObject({
      headers: { accept: 'application/json' },
      level: 'info',
    });
  });
});
