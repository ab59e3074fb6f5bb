import { describe, expect, it } from 'vitest';
import type { RouteAuthConfig } from '../../../src/config/authn-schema.js';
import type { Identity, RequestContext, Verdict } from '../../../src/gateway/stage.js';
import type { AuthOutcome, Authenticator } from '../../../src/stages/authn/authenticator.js';
import { providerUnavailable, unauthenticated } from '../../../src/stages/authn/refusal.js';
import { requestContext } from './request-context.js';
import { routeStage } from './route-stage.js';

const ROUTE: RouteAuthConfig = {
  public: false,
  methods: ['api-key', 'jwt:corp'],
  allowQueryKey: false,
  onProviderDown: 'fail-closed',
};

function identity(over: Partial<Identity> = {}): Identity {
  return {
    consumerId: 'alice',
    method: 'api-key',
    credential: 'fp:0123456789ab',
    scopes: ['accounts:read', 'orders:write'],
    roles: ['user'],
    metadata: {},
    ...over,
  };
}

/**
 * An authenticator of this test: it claims the header it is told to and answers with the
 * outcome it is given, so that the stage's own decisions can be checked one by one.
 */
function method(
  name: string,
  header: string,
  outcome: AuthOutcome | Promise<AuthOutcome>,
  // null: no HTTP scheme (client certificates).
  challenge: string | null = name === 'api-key' ? 'ApiKey' : 'Bearer',
): Authenticator & { seen: string[] } {
  const seen: string[] = [];
  return {
    method: name,
    challenge: challenge ?? undefined,
    seen,
    find: (ctx) => {
      const v = ctx.headers[header];
      return typeof v === 'string' ? { value: v, where: header } : undefined;
    },
    authenticate: (presented) => {
      seen.push(presented.value);
      return outcome;
    },
  };
}

function ctx(headers: Record<string, string>, query = ''): RequestContext {
  return requestContext({ headers, query });
}

function stage(auth: Partial<RouteAuthConfig>, authenticators: Authenticator[]) {
  return routeStage({ ...ROUTE, ...auth }, authenticators, ['authorization', 'x-api-key']);
}

const OK: AuthOutcome = { ok: true, identity: identity() };
const REVOKED: AuthOutcome = {
  ok: false,
  denial: unauthenticated('authn.api_key.revoked', 'ApiKey', { credential: 'fp:0123456789ab' }),
};

describe('the authentication stage', () => {
  it('refuses a request without any credential, with one challenge per scheme', () => {
    const c = ctx({});
    const v = stage({}, [
      method('api-key', 'x-api-key', OK),
      method('jwt:corp', 'authorization', OK),
    ]).onRequest(c) as Verdict;
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.kind).toBe('unauthenticated');
    expect(v.problem.reason).toBe('authn.credentials.missing');
    expect(v.problem.headers?.['www-authenticate']).toBe(
      'ApiKey realm="portcullis", Bearer realm="portcullis"',
    );
    expect(c.identity).toBeUndefined();
  });

  it('sends no challenge on a route that takes client certificates only', () => {
    const v = stage({ methods: ['mtls'] }, [method('mtls', 'x-never', OK, null)]).onRequest(
      ctx({}),
    ) as Verdict;
    expect(v.continue).toBe(false);
    if (!v.continue) expect(v.problem.headers).toBeUndefined();
  });

  it('lets the first method that finds its credential decide, in the route order', () => {
    const apiKey = method('api-key', 'x-api-key', REVOKED);
    const jwt = method('jwt:corp', 'authorization', OK);
    const v = stage({}, [apiKey, jwt]).onRequest(
      ctx({ 'x-api-key': 'k', authorization: 'Bearer t' }),
    ) as Verdict;
    // A refused key is not rescued by a valid token behind it: the refusal stands.
    expect(v.continue).toBe(false);
    if (!v.continue) expect(v.problem.reason).toBe('authn.api_key.revoked');
    expect(apiKey.seen).toEqual(['k']);
    expect(jwt.seen).toEqual([]);
  });

  it('gives the client the same text whatever the cause, and the event the fingerprint', () => {
    const v = stage({}, [method('api-key', 'x-api-key', REVOKED)]).onRequest(
      ctx({ 'x-api-key': 'k' }),
    ) as Verdict;
    const missing = stage({}, [method('api-key', 'x-api-key', REVOKED)]).onRequest(
      ctx({}),
    ) as Verdict;
    if (v.continue || missing.continue) throw new Error('expected refusals');
    expect(v.problem.detail).toBe(missing.problem.detail);
    expect(v.problem.audit?.credential).toBe('fp:0123456789ab');
  });

  it('sets the identity, hands the upstream identity headers and strips credentials', () => {
    const c = ctx({ 'x-api-key': 'k', 'x-consumer-id': 'admin' });
    const v = stage({}, [method('api-key', 'x-api-key', OK)]).onRequest(c) as Verdict;
    expect(v.continue).toBe(true);
    if (!v.continue) return;
    expect(c.identity?.consumerId).toBe('alice');
    expect(v.change?.setHeaders).toEqual({
      'x-consumer-id': 'alice',
      'x-authenticated-by': 'api-key',
      'x-consumer-scopes': 'accounts:read orders:write',
      'x-consumer-roles': 'user',
    });
    expect(v.change?.removeHeaders).toEqual(
      expect.arrayContaining([
        'authorization',
        'x-api-key',
        'x-consumer-id',
        'x-consumer-scopes',
        'x-consumer-roles',
        'x-authenticated-by',
      ]),
    );
    expect(v.change?.query).toBeUndefined();
  });

  it('never lets a scope or role from a token split or fold a header', () => {
    const hostile = identity({
      scopes: ['read', 'evil\r\nx-consumer-id: root', 'a b', ''],
      roles: ['admin\n'],
    });
    const v = stage({}, [
      method('jwt:corp', 'authorization', { ok: true, identity: hostile }),
    ]).onRequest(ctx({ authorization: 'Bearer t' })) as Verdict;
    if (!v.continue) throw new Error('expected success');
    expect(v.change?.setHeaders?.['x-consumer-scopes']).toBe('read');
    expect(v.change?.setHeaders?.['x-consumer-roles']).toBeUndefined();
  });

  it.each([
    ['api_key=k&page=2', 'page=2'],
    ['page=2&api_key=k', 'page=2'],
    ['api%5Fkey=k&page=2', 'page=2'],
    ['api_key=k', ''],
    ['page=2&api_keyx=1', undefined],
  ])('removes an allowed query key from what the upstream gets: %s', (query, expected) => {
    const v = stage({ allowQueryKey: true }, [method('api-key', 'x-api-key', OK)]).onRequest(
      ctx({ 'x-api-key': 'k' }, query),
    ) as Verdict;
    if (!v.continue) throw new Error('expected success');
    expect(v.change?.query).toBe(expected);
  });

  it('removes client-sent identity headers on a public route, and sets none', () => {
    const c = ctx({ 'x-consumer-id': 'admin', authorization: 'Bearer t' });
    const v = stage({ public: true, methods: [] }, []).onRequest(c) as Verdict;
    expect(v.continue).toBe(true);
    if (!v.continue) return;
    expect(v.change?.removeHeaders).toEqual([
      'x-consumer-id',
      'x-consumer-scopes',
      'x-consumer-roles',
      'x-authenticated-by',
    ]);
    expect(v.change?.setHeaders).toBeUndefined();
    expect(c.identity).toBeUndefined();
  });

  it('answers 503 when the identity provider is down on a fail-closed route', async () => {
    const down: AuthOutcome = {
      ok: false,
      unavailable: true,
      denial: providerUnavailable('authn.introspection.unavailable'),
    };
    const v = await stage({ methods: ['introspection:idp'] }, [
      method('introspection:idp', 'authorization', Promise.resolve(down)),
    ]).onRequest(ctx({ authorization: 'Bearer opaque' }));
    expect(v.continue).toBe(false);
    if (!v.continue) expect(v.problem.kind).toBe('service-unavailable');
  });

  it('lets the request through without an identity when the route says anonymous', async () => {
    const down: AuthOutcome = {
      ok: false,
      unavailable: true,
      denial: providerUnavailable('authn.introspection.unavailable'),
    };
    const c = ctx({ authorization: 'Bearer opaque', 'x-consumer-id': 'admin' });
    const v = await stage({ methods: ['introspection:idp'], onProviderDown: 'anonymous' }, [
      method('introspection:idp', 'authorization', Promise.resolve(down)),
    ]).onRequest(c);
    expect(v.continue).toBe(true);
    if (!v.continue) return;
    expect(c.identity).toBeUndefined();
    expect(v.change?.setHeaders).toBeUndefined();
    expect(v.change?.removeHeaders).toEqual(
      expect.arrayContaining(['authorization', 'x-consumer-id']),
    );
  });

  it('never turns a refused credential into an anonymous request', async () => {
    const v = await stage({ methods: ['api-key'], onProviderDown: 'anonymous' }, [
      method('api-key', 'x-api-key', REVOKED),
    ]).onRequest(ctx({ 'x-api-key': 'k' }));
    expect(v.continue).toBe(false);
  });

  it('refuses a certificate-bound token on a connection without that certificate', () => {
    const bound = identity({
      method: 'jwt:corp',
      claims: { sub: 'alice', cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } },
    });
    const v = stage({}, [
      method('jwt:corp', 'authorization', { ok: true, identity: bound }),
    ]).onRequest(ctx({ authorization: 'Bearer t' })) as Verdict;
    expect(v.continue).toBe(false);
    if (v.continue) return;
    expect(v.problem.reason).toBe('authn.token.certificate_mismatch');
    expect(v.problem.headers?.['www-authenticate']).toContain('error="invalid_token"');
  });

  it('accepts a token without a binding on a connection without a certificate', () => {
    const v = stage({}, [
      method('jwt:corp', 'authorization', {
        ok: true,
        identity: identity({ claims: { sub: 'alice', cnf: {} } }),
      }),
    ]).onRequest(ctx({ authorization: 'Bearer t' })) as Verdict;
    expect(v.continue).toBe(true);
  });
});
