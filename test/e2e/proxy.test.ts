import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProblemKind } from '../../src/gateway/problems.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { replyOf, send, type Reply, type SendOptions } from '../support/http-client.js';
import {
  deniedReason,
  expectProblem,
  upstreamFailureReason,
} from '../support/problem-assertions.js';
import { rawExchange } from '../support/raw-http.js';
import {
  echo,
  rawHeader,
  rawHeaderNames,
  startRecordingUpstream,
  type Echo,
  type ReceivedRequest,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Normal proxying through the real gateway process: what the upstream receives, what the client
 * gets back, and every refusal the data plane makes on its own (limits, routing, upstream
 * failures), each as problem+json with its reason in the security log.
 */

const MIB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** 1 MiB in 16 KiB chunks with a pattern that no chunk boundary can hide a mistake in. */
function bigBody(): Buffer[] {
  const chunks: Buffer[] = [];
  for (let c = 0; c < 64; c++) {
    const chunk = Buffer.alloc(16 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (c * 16 * 1024 + i) % 251;
    chunks.push(chunk);
  }
  return chunks;
}
const BIG = bigBody();
const BIG_SHA256 = createHash('sha256').update(Buffer.concat(BIG)).digest('hex');

/** The upstream's special paths; everything else is echoed. */
function respond(req: IncomingMessage, res: ServerResponse, received: ReceivedRequest): void {
  switch (received.url) {
    case '/respond/hop':
      res.writeHead(
        200,
        [
          ['Connection', 'keep-alive, X-Upstream-Hop'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Connection', 'keep-alive'],
          ['Upgrade', 'h2c'],
          ['X-Upstream-Hop', 'internal-only'],
          ['X-Request-Id', 'upstream-made'],
          ['X-End-To-End', 'kept'],
          ['Content-Type', 'text/plain'],
          ['Content-Length', '2'],
        ].flat(),
      );
      res.end('ok');
      return;
    case '/respond/cookies':
      res.writeHead(
        200,
        [
          ['Set-Cookie', 'a=1; Path=/'],
          ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
          ['Content-Length', '0'],
        ].flat(),
      );
      res.end();
      return;
    case '/respond/big': {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let i = 0;
      const next = (): void => {
        while (i < BIG.length) {
          if (!res.write(BIG[i++])) {
            res.once('drain', next);
            return;
          }
        }
        res.end();
      };
      next();
      return;
    }
    case '/slow':
      setTimeout(() => echo(res, received), 1_500).unref();
      return;
    case '/respond/reset':
      req.socket.destroy();
      return;
    default:
      echo(res, received);
  }
}

let upstream: RecordingUpstream;
let downPort: number;
let gw: GatewayProcess;
let trusting: GatewayProcess;
/** What a gateway-made response must never show: where the upstreams are. */
let secrets: string[];

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function config(trustedProxies: string): string {
  return `
listeners:
  http: { host: 127.0.0.1, port: 0 }
server:
  trustedProxies: ${trustedProxies}
logging:
  access: false
upstreams:
  echo:
    targets: [${upstream.origin}]
  slow:
    targets: [${upstream.origin}]
    timeouts: { response: 300 }
  down:
    targets: [http://127.0.0.1:${downPort}]
defaults:
  auth: { public: true }
  limits:
    urlBytes: 4096
    headerCount: 40
    headerBytes: 8192
    bodyBytes: ${2 * MIB}
    jsonDepth: 16
routes:
  - name: echo
    paths: [/echo, /echo/*, /accounts/:accountId, /respond/:what]
    methods: [GET, POST, PUT]
    upstream: echo
  - name: small
    paths: [/small]
    methods: [POST]
    upstream: echo
    limits: { urlBytes: 256, bodyBytes: 1024, jsonDepth: 8 }
  - name: slow
    paths: [/slow]
    methods: [GET]
    upstream: slow
  - name: down
    paths: [/down]
    methods: [GET]
    upstream: down
  - name: admin
    paths: [/admin]
    methods: [GET]
    upstream: echo
    stages:
      - type: ip-restriction
        allow: [203.0.113.7/32]
`;
}

beforeAll(async () => {
  upstream = await startRecordingUpstream({ respond });
  downPort = await closedPort();
  secrets = [String(upstream.port), String(downPort), '127.0.0.1:'];
  [gw, trusting] = await Promise.all([
    startGateway(writeConfig(config('[]'))),
    startGateway(writeConfig(config('[127.0.0.1/32]'))),
  ]);
});

afterAll(async () => {
  await Promise.all([gw?.stop(), trusting?.stop()]);
  await upstream?.close();
});

function call(opts: SendOptions, via: GatewayProcess = gw): Promise<Reply> {
  return send(via.http as number, { ...opts, headers: { host: 'gateway.test', ...opts.headers } });
}

function echoed(reply: Reply): Echo {
  expect(reply.status, reply.text).toBe(200);
  return JSON.parse(reply.text) as Echo;
}

/** The one request the upstream received with this request ID. */
function receivedWithId(id: string): ReceivedRequest | undefined {
  return upstream.requests.find((r) => r.headers['x-request-id'] === id);
}

describe('what the upstream receives', () => {
  it('drops hop-by-hop headers and every header named in Connection', async () => {
    const got = echoed(
      await call({
        path: '/echo',
        headers: {
          connection: 'keep-alive, X-Hop-Secret',
          'keep-alive': 'timeout=30',
          te: 'trailers',
          upgrade: 'websocket',
          'proxy-connection': 'keep-alive',
          'x-hop-secret': 'for the next hop only',
          'x-end-to-end': 'kept',
        },
      }),
    );

    const names = rawHeaderNames(got.rawHeaders);
    for (const name of ['keep-alive', 'te', 'upgrade', 'proxy-connection', 'x-hop-secret']) {
      expect(names).not.toContain(name);
    }
    // The gateway's own connection to the upstream says keep-alive; the client's list is gone.
    expect(rawHeader(got.rawHeaders, 'connection') ?? 'keep-alive').toBe('keep-alive');
    expect(rawHeader(got.rawHeaders, 'x-end-to-end')).toBe('kept');
  });

  it("replaces the client's forwarding headers with its own, from the real peer", async () => {
    const got = echoed(
      await call({
        path: '/echo',
        headers: {
          'x-forwarded-for': '203.0.113.7',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'admin.internal',
          'x-forwarded-port': '8443',
          forwarded: 'for=203.0.113.7;proto=https;host=admin.internal',
          'x-real-ip': '203.0.113.7',
        },
      }),
    );

    expect(rawHeader(got.rawHeaders, 'x-forwarded-for')).toBe('127.0.0.1');
    expect(rawHeader(got.rawHeaders, 'x-forwarded-proto')).toBe('http');
    expect(rawHeader(got.rawHeaders, 'x-forwarded-host')).toBe('gateway.test');
    expect(rawHeader(got.rawHeaders, 'forwarded')).toBe(
      'for=127.0.0.1;proto=http;host=gateway.test',
    );
    expect(rawHeader(got.rawHeaders, 'x-real-ip')).toBeUndefined();
    expect(rawHeader(got.rawHeaders, 'x-forwarded-port')).toBeUndefined();
  });

  it.each([
    { given: undefined, passed: false, why: 'absent: generated' },
    { given: 'client-req.42:a_b', passed: true, why: 'well formed: passed through' },
    { given: 'has spaces in it', passed: false, why: 'with spaces: replaced' },
    { given: '<script>alert(1)</script>', passed: false, why: 'with markup: replaced' },
    { given: 'x'.repeat(129), passed: false, why: 'over 128 characters: replaced' },
  ])('request ID $why', async ({ given, passed }) => {
    const reply = await call({
      path: '/echo',
      headers: given === undefined ? {} : { 'x-request-id': given },
    });

    const got = echoed(reply);
    const id = reply.headers['x-request-id'];
    expect(rawHeader(got.rawHeaders, 'x-request-id')).toBe(id);
    if (passed) expect(id).toBe(given);
    else expect(id).toMatch(UUID);
  });

  it.each([
    { value: TRACEPARENT, kept: true },
    { value: TRACEPARENT.toUpperCase(), kept: false },
    { value: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', kept: false },
    { value: `${TRACEPARENT}, ${TRACEPARENT}`, kept: false },
  ])('traceparent $value kept: $kept', async ({ value, kept }) => {
    const got = echoed(await call({ path: '/echo', headers: { traceparent: value } }));

    expect(rawHeader(got.rawHeaders, 'traceparent')).toBe(kept ? value : undefined);
  });

  it.each([
    {
      sent: '/accounts/%61cc_1001/../acc_1001?b=2&a=%20x&a=1&flag',
      received: '/accounts/acc_1001?b=2&a=%20x&a=1&flag',
    },
    { sent: '/echo/./a/b/../c?next=%2Fadmin%2F..', received: '/echo/a/c?next=%2Fadmin%2F..' },
    { sent: '/echo/%7euser', received: '/echo/~user' },
  ])('sends $sent upstream as $received', async ({ sent, received }) => {
    const got = echoed(await call({ path: sent }));

    expect(got.url).toBe(received);
  });

  it.each([
    { name: 'with Content-Length', stream: false },
    { name: 'chunked', stream: true },
  ])('streams a 1 MiB POST body to the upstream intact ($name)', async ({ stream }) => {
    const got = echoed(
      await call({
        method: 'POST',
        path: '/echo',
        headers: { 'content-type': 'application/octet-stream' },
        body: stream ? Readable.from(BIG) : Buffer.concat(BIG),
      }),
    );

    expect(got.bodyLength).toBe(MIB);
    expect(got.bodySha256).toBe(BIG_SHA256);
  });
});

describe('what the client gets back', () => {
  it("drops the upstream's hop-by-hop headers and keeps its own request ID", async () => {
    const reply = await call({ path: '/respond/hop' });

    expect(reply.status).toBe(200);
    expect(reply.text).toBe('ok');
    for (const name of ['keep-alive', 'proxy-connection', 'upgrade', 'x-upstream-hop']) {
      expect(reply.headers[name]).toBeUndefined();
    }
    expect(reply.headers.connection ?? 'close').not.toMatch(/x-upstream-hop/i);
    expect(reply.headers['x-end-to-end']).toBe('kept');
    expect(reply.headers['x-request-id']).toMatch(UUID);
  });

  it('keeps every Set-Cookie of the upstream', async () => {
    const reply = await call({ path: '/respond/cookies' });

    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  it('streams a 1 MiB response body intact', async () => {
    const reply = await call({ path: '/respond/big' });

    expect(reply.status).toBe(200);
    expect(reply.body.length).toBe(MIB);
    expect(createHash('sha256').update(reply.body).digest('hex')).toBe(BIG_SHA256);
  });
});

describe('client address through trusted proxies', () => {
  it.each([
    { trusted: true, xff: '203.0.113.7', status: 200 },
    { trusted: true, xff: '198.51.100.1', status: 403 },
    { trusted: true, xff: undefined, status: 403 },
    { trusted: true, xff: '203.0.113.7, 198.51.100.1', status: 403 },
    { trusted: false, xff: '203.0.113.7', status: 403 },
    { trusted: false, xff: '203.0.113.7, 127.0.0.1', status: 403 },
  ])(
    'peer trusted: $trusted, X-Forwarded-For: $xff -> $status',
    async ({ trusted, xff, status }) => {
      const via = trusted ? trusting : gw;
      const reply = await call(
        { path: '/admin', headers: xff === undefined ? {} : { 'x-forwarded-for': xff } },
        via,
      );

      if (status === 200) {
        const got = echoed(reply);
        // The chain the upstream sees: the client, then the trusted proxy that vouched for it.
        expect(rawHeader(got.rawHeaders, 'x-forwarded-for')).toBe(`${xff}, 127.0.0.1`);
        expect(rawHeader(got.rawHeaders, 'forwarded')).toMatch(/^for=203\.0\.113\.7;/);
        return;
      }
      const problem = expectProblem(reply, 403, 'forbidden', secrets);
      expect(await deniedReason(via, problem.requestId)).toBe('blocks.ip.not_allowed');
      expect(receivedWithId(problem.requestId)).toBeUndefined();
    },
  );
  it.each([
    { name: 'a route refusal (404)', path: '/no-such-route', status: 404 },
    { name: 'a path refusal (400)', path: '/a/..%2fadmin', status: 400 },
  ])('records $name with the client IP the trusted proxy vouched for', async ({ path, status }) => {
    const reply = await call({ path, headers: { 'x-forwarded-for': '198.51.100.23' } }, trusting);
    expect(reply.status).toBe(status);
    const id = String(reply.headers['x-request-id']);
    const line = await trusting.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === id,
    );
    expect(line.clientIp).toBe('198.51.100.23');
  });
});

interface Refusal {
  readonly name: string;
  /** A raw request (for what node:http would not send), or options for node:http. */
  readonly request: string | SendOptions;
  readonly status: number;
  readonly kind: ProblemKind;
  readonly reason: string;
  readonly headers?: Record<string, string>;
  /**
   * A body checked while it streams may have started towards the upstream before it broke the
   * limit (it never completes there); every other refusal happens before the upstream is asked.
   */
  readonly streamed?: boolean;
}

const manyHeaders = Object.fromEntries(
  Array.from({ length: 45 }, (_, i) => [`x-filler-${i}`, 'v']),
);
const deepJson = '['.repeat(20) + ']'.repeat(20);

const REFUSALS: readonly Refusal[] = [
  {
    name: 'a URI longer than any route allows',
    request: { path: `/echo?q=${'a'.repeat(5_000)}` },
    status: 414,
    kind: 'uri-too-long',
    reason: 'limits.url.too_long',
  },
  {
    name: "a URI longer than its route's limit",
    request: { method: 'POST', path: `/small?q=${'a'.repeat(300)}` },
    status: 414,
    kind: 'uri-too-long',
    reason: 'limits.url.route_too_long',
  },
  {
    name: 'too many headers',
    request: { path: '/echo', headers: manyHeaders },
    status: 431,
    kind: 'headers-too-large',
    reason: 'limits.headers.count',
  },
  {
    name: 'headers over the route limit',
    request: { path: '/echo', headers: { 'x-big': 'a'.repeat(9_000) } },
    status: 431,
    kind: 'headers-too-large',
    reason: 'limits.headers.bytes',
  },
  {
    name: "headers over the parser's hard cap",
    request: { path: '/echo', headers: { 'x-huge': 'a'.repeat(40_000) } },
    status: 431,
    kind: 'headers-too-large',
    reason: 'parser.header_overflow',
  },
  {
    name: 'a Content-Length above bodyBytes (refused before the body is read)',
    request:
      'POST /small HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n',
    status: 413,
    kind: 'body-too-large',
    reason: 'limits.body.content_length',
  },
  {
    name: 'a chunked body that grows past bodyBytes',
    request: {
      method: 'POST',
      path: '/small',
      headers: { 'content-type': 'text/plain' },
      body: Readable.from([Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')]),
    },
    status: 413,
    kind: 'body-too-large',
    reason: 'limits.body.too_large',
    streamed: true,
  },
  {
    name: 'a JSON body nested past jsonDepth',
    request: {
      method: 'POST',
      path: '/small',
      headers: { 'content-type': 'application/json' },
      body: deepJson,
    },
    status: 400,
    kind: 'body-rejected',
    reason: 'limits.body.json_depth',
    streamed: true,
  },
  {
    name: 'a method the route does not accept',
    request: { method: 'DELETE', path: '/echo' },
    status: 405,
    kind: 'method-not-allowed',
    reason: 'route.method_not_allowed',
    headers: { allow: 'GET, POST, PUT' },
  },
  {
    name: 'a path no route matches',
    request: { path: '/nowhere' },
    status: 404,
    kind: 'not-found',
    reason: 'route.not_found',
  },
];

describe('refusals the gateway makes itself', () => {
  it.each(REFUSALS)('refuses $name: $status $reason', async (row) => {
    const seen = upstream.requests.length;

    const reply =
      typeof row.request === 'string'
        ? await rawExchange(gw.http as number, row.request).then((raw) => {
            if (raw === undefined) throw new Error('no response');
            return replyOf(raw);
          })
        : await call(row.request);

    const problem = expectProblem(reply, row.status, row.kind, secrets);
    for (const [name, value] of Object.entries(row.headers ?? {})) {
      expect(reply.headers[name]).toBe(value);
    }
    expect(await deniedReason(gw, problem.requestId)).toBe(row.reason);
    const started = upstream.requests.slice(seen);
    if (row.streamed === true) expect(started.filter((r) => r.complete)).toEqual([]);
    else expect(started).toEqual([]);
  });
});

describe('upstream failures', () => {
  it.each([
    {
      name: 'down',
      path: '/down',
      status: 503,
      kind: 'service-unavailable',
      reason: 'upstream.unavailable',
    },
    {
      name: 'slower than timeouts.response',
      path: '/slow',
      status: 504,
      kind: 'gateway-timeout',
      reason: 'upstream.response_timeout',
    },
    {
      name: 'resetting the connection',
      path: '/respond/reset',
      status: 502,
      kind: 'bad-gateway',
      reason: 'upstream.failed',
    },
  ] as const)('answers an upstream $name with $status', async ({ path, status, kind, reason }) => {
    const reply = await call({ path });

    const problem = expectProblem(reply, status, kind, secrets);
    expect(await upstreamFailureReason(gw, problem.requestId)).toBe(reason);
  });
});
