import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../../src/gateway/stage.js';
import { keyBuilder } from '../../../src/stages/limits/limit-key.js';
import { requestContext } from '../authn/request-context.js';

/** A policy's key: a fingerprint of its parts' values, the same however often it is asked. */

const from = (clientIp: string, headers: Record<string, string> = {}): RequestContext => ({
  ...requestContext({ headers }),
  clientIp,
});

/** The fingerprint as documented: SHA-256 of the JSON list of the values. */
const expected = (values: string[]) =>
  createHash('sha256').update(JSON.stringify(values)).digest('base64url').slice(0, 22);

describe('limit keys', () => {
  it.each([
    { parts: ['ip'], ctx: from('192.0.2.7'), values: ['192.0.2.7'] },
    { parts: ['ip'], ctx: from('2001:db8:1:2:3:4:5:6'), values: ['2001:db8:1:2::/64'] },
    { parts: ['route', 'ip'], ctx: from('192.0.2.7'), values: ['accounts', '192.0.2.7'] },
    { parts: ['header:x-tenant'], ctx: from('192.0.2.7', { 'x-tenant': 't1' }), values: ['t1'] },
    { parts: ['global'], ctx: from('192.0.2.7'), values: [''] },
  ])(
    'fingerprints $parts as SHA-256 of the values, asked once or again',
    ({ parts, ctx, values }) => {
      const keyOf = keyBuilder(parts);
      expect(keyOf(ctx)).toBe(expected(values));
      expect(keyOf(ctx)).toBe(expected(values));
    },
  );

  it('keeps every client apart and every fingerprint stable past the clients it remembers', () => {
    const keyOf = keyBuilder(['ip']);
    const ips = Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);
    const first = ips.map((ip) => keyOf(from(ip)));
    expect(new Set(first).size).toBe(ips.length);
    // Asked again after the memory was filled and emptied: the same fingerprints.
    expect(ips.map((ip) => keyOf(from(ip)))).toEqual(first);
    expect(first[9_999]).toBe(expected([ips[9_999] as string]));
  });
});
