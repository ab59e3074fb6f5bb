import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/ops/logger.js';

/** `logging.maskSensitiveData`: every string of every line through the detectors. */

function capture(): { text: () => string; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const CARD = '4111 1111 1111 1111';
const AWS = 'AKIAIOSFODNN7EXAMPLE';

function logged(mask: boolean): string {
  const out = capture();
  const log = createLogger({
    level: 'info',
    redactHeaders: [],
    destination: out.stream,
    maskSensitiveData: mask,
  });
  log.info({ field: `card ${CARD}`, nested: { list: [`key ${AWS}`] } }, `upstream said ${AWS}`);
  log.warn({ err: new Error(`refused ${CARD}`) }, 'failed');
  log.info(`plain message with ssn 123-45-6789 and é ${CARD}`);
  return out.text();
}

describe('log masking', () => {
  it('masks cards, keys and SSNs in fields, nested lists, messages and errors', () => {
    const text = logged(true);
    expect(text).not.toContain(CARD);
    expect(text).not.toContain(AWS);
    expect(text).not.toContain('123-45-6789');
    expect(text).toContain('**** **** **** 1111');
    expect(text).toContain(`AKIA${'*'.repeat(16)}`);
    // Every line is still JSON.
    for (const line of text.trim().split('\n'))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('writes them as they are when it is off (the default)', () => {
    const text = logged(false);
    expect(text).toContain(CARD);
    expect(text).toContain(AWS);
  });
});
