import { describe, expect, it } from 'vitest';
import type {
  Identity,
  RequestContext,
  ResponseVerdict,
  UpstreamResponse,
} from '../../../../src/gateway/stage.js';
import { createPropertyRules } from '../../../../src/stages/authz/properties/property-rules.js';

/** The property level as the authorization stage runs it, without a gateway around it. */

const identity = (roles: string[]): Identity => ({
  consumerId: 'c',
  method: 'api-key',
  credential: 'fp:000000000000',
  scopes: [],
  roles,
  metadata: {},
});

function ctx(method: string, roles?: string[]): RequestContext {
  return {
    method,
    headers: {},
    identity: roles === undefined ? undefined : identity(roles),
    readJsonBody: () => Promise.reject(new Error('no body expected')),
  } as unknown as RequestContext;
}

const response = (headers: Record<string, string>, statusCode = 200): UpstreamResponse => ({
  statusCode,
  headers,
});

function transformed(verdict: ResponseVerdict, value: unknown): unknown {
  if (!verdict.continue) throw new Error('refused');
  const transform = verdict.change?.transformJson;
  if (transform === undefined) throw new Error('no transform');
  return transform(value);
}

const ACCOUNT = { id: 'a', name: 'A', internalRiskScore: 12, notes: { text: 'x', flag: true } };

describe('createPropertyRules', () => {
  it('builds nothing without rules, and no response stage without read rules', () => {
    expect(createPropertyRules(undefined)).toBeUndefined();
    expect(createPropertyRules({})).toBeUndefined();
    const writeOnly = createPropertyRules({
      write: { allow: ['name'], onViolation: 'refuse', enforce: true },
    });
    expect(writeOnly?.onResponse).toBeUndefined();
  });

  it("filters by the caller's roles: allow for everyone, the union of each held role's list", () => {
    const rules = createPropertyRules({
      read: {
        allow: ['id', 'name'],
        byRole: { risk: ['internalRiskScore'], support: ['notes.text'], admin: ['*'] },
      },
    });
    const res = response({ 'content-type': 'application/json' });
    const seen = (roles?: string[]) =>
      transformed(rules?.onResponse?.(ctx('GET', roles), res) ?? { continue: true }, ACCOUNT);
    expect(seen(undefined)).toEqual({ id: 'a', name: 'A' });
    expect(seen(['user'])).toEqual({ id: 'a', name: 'A' });
    expect(seen(['risk'])).toEqual({ id: 'a', name: 'A', internalRiskScore: 12 });
    expect(seen(['support', 'risk'])).toEqual({
      id: 'a',
      name: 'A',
      internalRiskScore: 12,
      notes: { text: 'x' },
    });
    expect(seen(['risk', 'support'])).toEqual(seen(['support', 'risk']));
    expect(seen(['admin'])).toEqual(ACCOUNT);
  });

  it.each([
    ['JSON', { 'content-type': 'application/json' }, 200, 'filter'],
    ['problem+json', { 'content-type': 'application/problem+json' }, 404, 'filter'],
    ['a 204 (bodyless: only its ETag goes)', {}, 204, 'filter'],
    ['text', { 'content-type': 'text/csv' }, 200, 'pass'],
    ['an empty untyped body', { 'content-length': '0' }, 200, 'pass'],
    ['an untyped body', { 'content-length': '12' }, 200, 'refuse'],
    ['NDJSON', { 'content-type': 'application/x-ndjson' }, 200, 'refuse'],
    ['JSON text sequences', { 'content-type': 'application/json-seq' }, 200, 'refuse'],
  ])('answers %s with %s', (_what, headers, status, expected) => {
    const rules = createPropertyRules({ read: { allow: ['id'] } });
    const verdict = rules?.onResponse?.(ctx('GET', []), response(headers, status));
    const kind =
      verdict === undefined || !verdict.continue
        ? 'refuse'
        : verdict.change?.transformJson === undefined
          ? 'pass'
          : 'filter';
    expect(kind).toBe(expected);
    if (kind === 'refuse' && verdict?.continue === false) {
      expect(verdict.problem.reason).toBe('authz.property.read_unfilterable');
    }
  });

  it('lets a request without a body through at once, without reading it', () => {
    const rules = createPropertyRules({
      write: { allow: ['name'], onViolation: 'refuse', enforce: true },
    });
    expect(rules?.onRequest(ctx('DELETE', []))).toEqual({ continue: true });
  });

  it('refuses a malformed path at load, naming the route', () => {
    expect(() =>
      createPropertyRules({ read: { allow: ['items[0]'] } }, { route: 'accounts' }),
    ).toThrow(/^route accounts: authz.properties: "items\[0\]"/);
  });
});
