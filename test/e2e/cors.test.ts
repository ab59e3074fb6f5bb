import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  echo,
  startRecordingUpstream,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * CORS answered by the real gateway: preflights never reach the upstream or need credentials,
 * an Origin is echoed only when it matches exactly (or as one label of a wildcard), never when
 * credentials are allowed and the origin is anyone's, and the upstream's own CORS headers are
 * replaced by the gateway's.
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  upstream = await startRecordingUpstream({
    respond: (_req, res, received) => {
      // An upstream that would let anyone in: the gateway's policy must win.
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Accept-Encoding');
      echo(res, received);
    },
  });
  gw = await startGateway(
    writeConfig(`
listeners: { http: { host: 127.0.0.1, port: 0 } }
logging: { level: info, access: false }
upstreams: { api: { targets: ['${upstream.origin}'] } }
routes:
  - name: app
    paths: [/app, /app/*]
    methods: [GET, POST, DELETE, OPTIONS]
    upstream: api
    auth: { methods: [api-key] }
    authz: { anyAuthenticated: true }
    cors:
      origins: [https://app.example.com, 'https://*.example.org', 'http://localhost:3000']
      methods: [GET, POST]
      headers: [x-api-key, authorization]
      exposeHeaders: [x-total]
      credentials: true
      maxAge: 300
  - name: open
    paths: [/open]
    methods: [GET, OPTIONS]
    upstream: api
    auth: { public: true }
    cors: { origins: ['*'] }
  - name: sandbox
    paths: [/sandbox]
    methods: [GET, OPTIONS]
    upstream: api
    auth: { public: true }
    cors: { origins: ['null'] }
  - name: session
    paths: [/session]
    methods: [GET, OPTIONS]
    upstream: api
    auth: { public: true }
    cors: { origins: [https://app.example.com], credentials: true, exposeHeaders: [x-total] }
`),
  );
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

function preflight(
  origin: string,
  method = 'POST',
  headers: Record<string, string> = {},
  path = '/app/items',
): Promise<Reply> {
  return send(gw.http ?? 0, {
    method: 'OPTIONS',
    path,
    headers: { origin, 'access-control-request-method': method, ...headers },
  });
}

describe('preflights', () => {
  it('answers an allowed preflight itself with 204, without credentials or the upstream', async () => {
    const before = upstream.requests.length;
    const reply = await preflight('https://app.example.com', 'POST', {
      'access-control-request-headers': 'X-Api-Key, Content-Type',
    });
    expect(reply.status).toBe(204);
    expect(reply.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'x-api-key, content-type',
      'access-control-max-age': '300',
    });
    expect(reply.headers.vary).toContain('Origin');
    expect(upstream.requests.length).toBe(before);
  });

  it.each([
    ['a suffix attack', 'https://app.example.com.evil.com'],
    ['a prefix attack', 'https://evilapp.example.com'],
    ['another scheme', 'http://app.example.com'],
    ['another port', 'https://app.example.com:8443'],
    ['mixed case', 'https://App.Example.com'],
    ['a trailing dot', 'https://app.example.com.'],
    ['user information', 'https://user@app.example.com'],
    ['a path', 'https://app.example.com/'],
    ['the null origin', 'null'],
    ['two origins in one header', 'https://app.example.com https://evil.com'],
    ['two wildcard labels', 'https://a.b.example.org'],
    ['the bare wildcard domain', 'https://example.org'],
    ['a wildcard label with a bad character', 'https://a_b.example.org'],
    ['a wildcard suffix attack', 'https://x.example.org.evil.com'],
    ['an empty origin', ''],
  ])('refuses a preflight from %s with 403 and no CORS headers', async (_name, origin) => {
    const id = `cors-${Math.random().toString(36).slice(2)}`;
    const reply = await send(gw.http ?? 0, {
      method: 'OPTIONS',
      path: '/app/items',
      headers: { origin, 'access-control-request-method': 'POST', 'x-request-id': id },
    });
    expectProblem(reply, 403, 'forbidden');
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(await deniedReason(gw, id)).toBe('cors.preflight.origin_not_allowed');
  });

  it.each([
    ['a method the policy does not allow', 'DELETE', {}, 'cors.preflight.method_not_allowed'],
    [
      'a header the policy does not allow',
      'GET',
      { 'access-control-request-headers': 'x-api-key, x-admin' },
      'cors.preflight.header_not_allowed',
    ],
  ])('refuses a preflight asking for %s', async (_name, method, headers, reason) => {
    const id = `cors-${Math.random().toString(36).slice(2)}`;
    const reply = await preflight('https://app.example.com', method, {
      ...headers,
      'x-request-id': id,
    });
    expectProblem(reply, 403, 'forbidden');
    expect(await deniedReason(gw, id)).toBe(reason);
  });

  it.each(['https://a.example.org', 'https://a-1.example.org', 'http://localhost:3000'])(
    'allows %s',
    async (origin) => {
      const reply = await preflight(origin);
      expect(reply.status).toBe(204);
      expect(reply.headers['access-control-allow-origin']).toBe(origin);
    },
  );

  it('allows the null origin only on a route that lists it', async () => {
    const listed = await preflight('null', 'GET', {}, '/sandbox');
    expect(listed.status).toBe(204);
    expect(listed.headers['access-control-allow-origin']).toBe('null');
    const unlisted = await preflight('https://app.example.com', 'GET', {}, '/sandbox');
    expectProblem(unlisted, 403, 'forbidden');
  });

  it('refuses a preflight asking for more than 64 headers, even allowed ones', async () => {
    const many = Array.from({ length: 65 }, () => 'x-api-key').join(', ');
    const reply = await preflight('https://app.example.com', 'GET', {
      'access-control-request-headers': many,
    });
    expectProblem(reply, 403, 'forbidden');
  });

  it('answers `*` without echoing the origin on a route without credentials', async () => {
    const reply = await preflight('https://anyone.example', 'GET', {}, '/open');
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('runs the stages for an OPTIONS request that is not a preflight', async () => {
    const reply = await send(gw.http ?? 0, {
      method: 'OPTIONS',
      path: '/app/items',
      headers: { origin: 'https://app.example.com' },
    });
    expectProblem(reply, 401, 'unauthenticated');
  });
});

describe('actual requests', () => {
  it("sets the gateway's CORS headers for an allowed origin, replacing the upstream's", async () => {
    const reply = await send(gw.http ?? 0, {
      path: '/open',
      headers: { origin: 'https://app.example.com' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
    expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('echoes an allowed origin with credentials and the exposed headers', async () => {
    const reply = await send(gw.http ?? 0, {
      path: '/session',
      headers: { origin: 'https://app.example.com' },
    });
    expect(reply.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-total',
    });
  });

  it.each(['https://evil.com', 'https://app.example.com.evil.com', 'null', ''])(
    'sets no CORS header for %j on a credentialed route, and still says Vary: Origin',
    async (origin) => {
      const reply = await send(gw.http ?? 0, { path: '/session', headers: { origin } });
      expect(reply.status).toBe(200);
      // The upstream said `*` and credentials: neither reaches the client.
      expect(reply.headers['access-control-allow-origin']).toBeUndefined();
      expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
      expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
    },
  );
});
