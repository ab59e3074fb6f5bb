import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  echo,
  rawHeader,
  startRecordingUpstream,
  type Echo,
  type ReceivedRequest,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Property-level authorization through the real gateway process: mass-assignment attempts on
 * every writable demo resource, response filtering of nested arrays and lists per role, and
 * the body machinery under it (a body read once and forwarded as checked, responses buffered
 * within a cap and refused when they cannot be filtered).
 */

type Consumer = 'alice' | 'bob' | 'ops';

let demo: DemoUpstream;
let rec: RecordingUpstream;
let gw: GatewayProcess;
const keys = {} as Record<Consumer, string>;

const ACCOUNT_FIELDS = ['id', 'ownerId', 'name', 'email', 'balance', 'tier'];
const PROBLEM_FIELDS = ['type', 'title', 'status', 'detail'];
const ORDER_FIELDS = ['id', 'accountId', 'status', 'items[].sku', 'items[].qty'];

/** The filtered test responses, by path: body, type, coding. */
const ORDER = { id: 'o1', total: 20, items: [{ sku: 'W', qty: 2, price: 9.99 }] };
function respond(req: IncomingMessage, res: ServerResponse, received: ReceivedRequest): void {
  const json = Buffer.from(JSON.stringify(ORDER));
  const answer = (headers: Record<string, string>, body: Buffer | string): void => {
    res.writeHead(200, headers);
    res.end(body);
  };
  switch (received.url) {
    case '/filtered/sized':
      return answer(
        {
          'content-type': 'application/json',
          'content-length': String(json.length),
          etag: '"abc"',
        },
        json,
      );
    case '/filtered/plain':
      return answer({ 'content-type': 'application/json', etag: '"abc"' }, json);
    case '/filtered/gzip':
      return answer(
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        gzipSync(json),
      );
    case '/filtered/br':
      return answer(
        { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'br' },
        brotliCompressSync(json),
      );
    case '/filtered/bomb': {
      // 4 KiB of compressed zeros inflating far past the cap.
      const inflated = `{"id":"${'0'.repeat(8 * 1024 * 1024)}"}`;
      return answer(
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        gzipSync(inflated),
      );
    }
    case '/filtered/big':
      return answer(
        { 'content-type': 'application/json' },
        JSON.stringify({ id: 'x'.repeat(5000) }),
      );
    case '/filtered/chunked-big': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"');
      res.write('y'.repeat(5000));
      res.end('"}');
      return;
    }
    case '/filtered/zstd':
      return answer({ 'content-type': 'application/json', 'content-encoding': 'zstd' }, json);
    case '/filtered/layered':
      return answer(
        { 'content-type': 'application/json', 'content-encoding': 'gzip, gzip' },
        gzipSync(gzipSync(json)),
      );
    case '/filtered/ndjson':
      return answer({ 'content-type': 'application/x-ndjson' }, `${json.toString()}\n`);
    case '/filtered/untyped':
      res.writeHead(200, { 'content-length': String(json.length) });
      res.end(json);
      return;
    case '/filtered/broken':
      return answer({ 'content-type': 'application/json' }, '{"id": "o1", "items": [');
    case '/filtered/text':
      return answer({ 'content-type': 'text/plain' }, 'price 9.99');
    default:
      echo(res, received);
  }
}

function config(dir: string): string {
  const demoRoute = (name: string, paths: string[], methods: string[], properties: unknown) => ({
    name,
    paths,
    methods,
    upstream: 'demo',
    auth: { methods: ['api-key'] },
    authz: { anyAuthenticated: true, properties },
  });
  const recRoute = (name: string, paths: string[], methods: string[], extra: object) => ({
    name,
    paths,
    methods,
    upstream: 'rec',
    auth: { methods: ['api-key'] },
    ...extra,
  });
  return JSON.stringify({
    listeners: { http: { host: '127.0.0.1', port: 0 } },
    logging: { level: 'info', access: false },
    upstreams: {
      demo: { targets: [demo.url] },
      rec: { targets: [rec.origin] },
    },
    consumers: [
      { id: 'alice', metadata: { tenant: 'user_alice' } },
      { id: 'bob', metadata: { tenant: 'user_bob' } },
      { id: 'ops', roles: ['admin'] },
    ],
    routes: [
      demoRoute('accounts', ['/accounts', '/accounts/:accountId'], ['GET'], {
        read: {
          allow: [
            ...ACCOUNT_FIELDS,
            ...ACCOUNT_FIELDS.map((f) => `items[].${f}`),
            ...PROBLEM_FIELDS,
          ],
          byRole: { admin: ['*'] },
        },
      }),
      demoRoute('accounts-update', ['/accounts/:accountId'], ['PATCH'], {
        write: { allow: ['name', 'email'], byRole: { admin: ['tier'] } },
        read: { allow: [...ACCOUNT_FIELDS, ...PROBLEM_FIELDS] },
      }),
      demoRoute('account-orders', ['/accounts/:accountId/orders'], ['GET', 'POST'], {
        write: { allow: ['items[].sku', 'items[].qty'] },
        read: {
          allow: [...ORDER_FIELDS, ...ORDER_FIELDS.map((f) => `items[].${f}`), ...PROBLEM_FIELDS],
        },
      }),
      demoRoute('orders', ['/orders/:orderId'], ['GET'], { read: { allow: ORDER_FIELDS } }),
      recRoute('strip', ['/strip'], ['POST'], {
        authz: {
          anyAuthenticated: true,
          properties: {
            write: { allow: ['name', 'address.city', 'tags'], onViolation: 'strip' },
          },
        },
      }),
      recRoute('refuse', ['/refuse'], ['POST', 'PUT'], {
        authz: {
          anyAuthenticated: true,
          properties: { write: { allow: ['name', 'nested'] } },
        },
        limits: { bodyBytes: 4096, jsonDepth: 8 },
      }),
      recRoute('unchecked', ['/unchecked'], ['POST'], { authz: { anyAuthenticated: true } }),
      // Write rules in shadow mode, refusing and stripping: neither may change a request.
      ...(['refuse', 'strip'] as const).map((onViolation) =>
        recRoute(`shadow-${onViolation}`, [`/shadow-${onViolation}`], ['POST'], {
          authz: {
            anyAuthenticated: true,
            properties: { write: { allow: ['name'], onViolation, enforce: false } },
          },
          limits: { bodyBytes: 4096 },
        }),
      ),
      recRoute('filtered', ['/filtered/*'], ['GET', 'HEAD'], {
        authz: {
          anyAuthenticated: true,
          properties: { read: { allow: ['id', 'items[].sku'] } },
        },
        limits: { responseFilterBytes: 4096 },
      }),
    ],
    state: { store: { sqlite: { path: join(dir, 'portcullis.db') } } },
  });
}

beforeAll(async () => {
  demo = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
  rec = await startRecordingUpstream({ respond: (req, res, r) => respond(req, res, r) });
  const dir = mkdtempSync(join(tmpdir(), 'pcl-props-'));
  const file = writeConfig(config(dir), dir);
  for (const consumer of ['alice', 'bob', 'ops'] as const) {
    const created = await portcullis(['keys', 'create', '--consumer', consumer, '-c', file]);
    expect(created.code, created.stderr).toBe(0);
    keys[consumer] = created.stdout.trim();
  }
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await rec?.close();
  await demo?.close();
});

function call(
  who: Consumer,
  method: string,
  path: string,
  body?: string | Buffer | Readable,
  type = 'application/json',
): Promise<Reply> {
  const headers: Record<string, string> = { 'x-api-key': keys[who] };
  if (body !== undefined) headers['content-type'] = type;
  return send(gw.http ?? 0, { method, path, headers, body });
}

const json = (reply: Reply): Record<string, unknown> =>
  JSON.parse(reply.text) as Record<string, unknown>;

async function expectRefusal(
  reply: Reply,
  status: number,
  kind: Parameters<typeof expectProblem>[2],
  reason: string,
): Promise<Record<string, unknown>> {
  const problem = expectProblem(reply, status, kind);
  const line = await gw.waitForLog(
    (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
    5_000,
  );
  expect(line.reason).toBe(reason);
  return line;
}

describe('mass assignment on the writable demo resources', () => {
  it.each([
    ['balance', { name: 'A', balance: 1e9 }, 'balance'],
    ['tier', { tier: 'enterprise' }, 'tier'],
    ['ownerId', { ownerId: 'user_bob' }, 'ownerId'],
    ['internalRiskScore', { internalRiskScore: 0 }, 'internalRiskScore'],
    ['a case variant of balance', { Balance: 1 }, 'Balance'],
    ['a look-alike of name', { nаme: 'A' }, 'nаme'],
    ['role', { role: 'admin' }, 'role'],
    ['isAdmin', { isAdmin: true }, 'isAdmin'],
  ])('PATCH /accounts/:id refuses %s', async (_name, body, property) => {
    const reply = await call('alice', 'PATCH', '/accounts/acc_1001', JSON.stringify(body));
    const event = await expectRefusal(reply, 403, 'forbidden', 'authz.property.write_denied');
    expect(event.consumer).toBe('alice');
    expect(event.details).toEqual({ rule: 'properties.write', property });
    // The property's name, never its value.
    expect(JSON.stringify(event)).not.toContain('1000000000');
  });

  it.each([
    ['__proto__', '{"name":"A","__proto__":{"isAdmin":true}}', '__proto__'],
    ['constructor.prototype', '{"constructor":{"prototype":{"isAdmin":true}}}', 'constructor'],
    ['an escaped balance', '{"\\u0062alance":5}', 'balance'],
  ])('PATCH /accounts/:id refuses %s written as raw JSON', async (_n, body, property) => {
    const reply = await call('alice', 'PATCH', '/accounts/acc_1001', body);
    const event = await expectRefusal(reply, 403, 'forbidden', 'authz.property.write_denied');
    expect(event.details).toEqual({ rule: 'properties.write', property });
  });

  it('refuses a duplicate member, whichever copy the upstream would keep', async () => {
    const reply = await call('alice', 'PATCH', '/accounts/acc_1001', '{"name":"A","name":"B"}');
    const event = await expectRefusal(reply, 400, 'body-rejected', 'authz.property.body_malformed');
    expect(event.details).toEqual({ rule: 'properties.write', cause: 'duplicate-key' });
  });

  it('lets alice change her name and email, and the demo applies nothing else', async () => {
    const reply = await call(
      'alice',
      'PATCH',
      '/accounts/acc_1001',
      JSON.stringify({ name: 'Alice A.', email: 'alice@example.org' }),
    );
    expect(reply.status, reply.text).toBe(200);
    expect(json(reply)).toEqual({
      id: 'acc_1001',
      ownerId: 'user_alice',
      name: 'Alice A.',
      email: 'alice@example.org',
      balance: 1250.75,
      tier: 'pro',
    });
  });

  it('lets the admin role set tier, which alice may not', async () => {
    const denied = await call('alice', 'PATCH', '/accounts/acc_1002', '{"tier":"pro"}');
    await expectRefusal(denied, 403, 'forbidden', 'authz.property.write_denied');
    const reply = await call('ops', 'PATCH', '/accounts/acc_1002', '{"tier":"pro"}');
    expect(reply.status, reply.text).toBe(200);
    expect(json(reply).tier).toBe('pro');
  });

  it.each([
    ['total', { items: [{ sku: 'WIDGET-1', qty: 1 }], total: 0 }, 'total'],
    ['status', { items: [{ sku: 'WIDGET-1', qty: 1 }], status: 'paid' }, 'status'],
    ['a line price', { items: [{ sku: 'WIDGET-1', qty: 1, price: 0 }] }, 'items[].price'],
    [
      'the price of a later line',
      {
        items: [
          { sku: 'WIDGET-1', qty: 1 },
          { sku: 'GIZMO-3', qty: 1, price: 0.01 },
        ],
      },
      'items[].price',
    ],
  ])('POST /accounts/:id/orders refuses %s', async (_name, body, property) => {
    const reply = await call('alice', 'POST', '/accounts/acc_1001/orders', JSON.stringify(body));
    const event = await expectRefusal(reply, 403, 'forbidden', 'authz.property.write_denied');
    expect(event.details).toEqual({ rule: 'properties.write', property });
  });

  it('places an order with only sku and qty, and reads back no price or total', async () => {
    const reply = await call(
      'alice',
      'POST',
      '/accounts/acc_1001/orders',
      JSON.stringify({ items: [{ sku: 'WIDGET-1', qty: 3 }] }),
    );
    expect(reply.status, reply.text).toBe(201);
    const order = json(reply);
    expect(order).toMatchObject({ accountId: 'acc_1001', status: 'pending' });
    expect(order.items).toEqual([{ sku: 'WIDGET-1', qty: 3 }]);
    expect(order.total).toBeUndefined();
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
  });

  it('refuses a JSON Patch, whose operations name properties in pointers', async () => {
    const reply = await call(
      'alice',
      'PATCH',
      '/accounts/acc_1001',
      '[{"op":"replace","path":"/balance","value":1000000}]',
      'application/json-patch+json',
    );
    await expectRefusal(reply, 400, 'body-rejected', 'authz.property.json_patch');
  });

  it('refuses a form body where JSON rules apply', async () => {
    const reply = await call(
      'alice',
      'PATCH',
      '/accounts/acc_1001',
      'balance=1000000',
      'application/x-www-form-urlencoded',
    );
    await expectRefusal(reply, 400, 'body-rejected', 'authz.property.body_not_json');
  });
});

describe('response filtering', () => {
  it('removes internalRiskScore from the list of accounts for alice and bob, keeps it for ops', async () => {
    for (const who of ['alice', 'bob'] as const) {
      const reply = await call(who, 'GET', '/accounts');
      expect(reply.status, reply.text).toBe(200);
      const items = json(reply).items as Record<string, unknown>[];
      expect(items.length).toBeGreaterThanOrEqual(3);
      for (const account of items) {
        expect(Object.keys(account).sort()).toEqual([...ACCOUNT_FIELDS].sort());
      }
      expect(reply.text).not.toContain('internalRiskScore');
    }
    const admin = await call('ops', 'GET', '/accounts');
    for (const account of json(admin).items as Record<string, unknown>[]) {
      expect(typeof account.internalRiskScore).toBe('number');
    }
  });

  it('removes it from one account, and keeps the upstream problem of a missing one', async () => {
    const one = await call('bob', 'GET', '/accounts/acc_1002');
    expect(json(one).internalRiskScore).toBeUndefined();
    expect(json(one).id).toBe('acc_1002');
    const missing = await call('bob', 'GET', '/accounts/acc_9');
    expect(missing.status).toBe(404);
    expect(json(missing)).toMatchObject({ status: 404, title: 'Not found' });
  });

  it('keeps only items[].sku and items[].qty of every order in a list of orders', async () => {
    const reply = await call('alice', 'GET', '/accounts/acc_1001/orders');
    expect(reply.status, reply.text).toBe(200);
    const orders = json(reply).items as Record<string, unknown>[];
    expect(orders.length).toBeGreaterThanOrEqual(2);
    for (const order of orders) {
      expect(order.total).toBeUndefined();
      for (const line of order.items as Record<string, unknown>[]) {
        expect(Object.keys(line).sort()).toEqual(['qty', 'sku']);
      }
    }
    const one = await call('bob', 'GET', '/orders/ord_5003');
    expect(json(one)).toEqual({
      id: 'ord_5003',
      accountId: 'acc_1002',
      items: [{ sku: 'SPROCKET-4', qty: 10 }],
      status: 'paid',
    });
  });

  it.each([
    ['plain', '/filtered/plain'],
    ['gzip', '/filtered/gzip'],
    ['br', '/filtered/br'],
  ])('filters a %s JSON response and frames it anew', async (_name, path) => {
    const reply = await call('alice', 'GET', path);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.text).toBe('{"id":"o1","items":[{"sku":"W"}]}');
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
    expect(reply.headers['content-encoding']).toBeUndefined();
    // An ETag of the unfiltered body would confirm guesses of what was removed.
    expect(reply.headers.etag).toBeUndefined();
  });

  it('asks the upstream for the whole, uncompressed document, without ETag preconditions', async () => {
    // An ETag hashing the unfiltered body would let If-None-Match confirm a guessed value.
    const reply = await send(gw.http ?? 0, {
      path: '/filtered/plain',
      headers: {
        'x-api-key': keys.alice,
        'accept-encoding': 'gzip, br',
        range: 'bytes=0-10',
        'if-range': '"abc"',
        'if-none-match': '"hash-of-a-guess"',
        'if-match': '"abc"',
      },
    });
    expect(reply.status).toBe(200);
    const seen = rec.requests.at(-1);
    expect(seen?.headers['accept-encoding']).toBe('identity');
    for (const name of ['range', 'if-range', 'if-none-match', 'if-match']) {
      expect(seen?.headers[name]).toBeUndefined();
    }
  });

  it("answers HEAD without the unfiltered body's length or ETag", async () => {
    const reply = await call('alice', 'HEAD', '/filtered/sized');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-length']).toBeUndefined();
    expect(reply.headers.etag).toBeUndefined();
    const get = await call('alice', 'GET', '/filtered/sized');
    expect(get.headers['content-length']).toBe(String(get.body.length));
  });

  it.each([
    ['over the cap', '/filtered/big', 'proxy.response.too_large_to_filter'],
    ['over the cap while streaming', '/filtered/chunked-big', 'proxy.response.too_large_to_filter'],
    ['a decompression bomb', '/filtered/bomb', 'proxy.response.too_large_to_filter'],
    ['an unknown coding', '/filtered/zstd', 'proxy.response.unfilterable'],
    ['layered codings', '/filtered/layered', 'proxy.response.unfilterable'],
    ['malformed JSON', '/filtered/broken', 'proxy.response.malformed_json'],
    ['NDJSON', '/filtered/ndjson', 'authz.property.read_unfilterable'],
    ['a body of no declared type', '/filtered/untyped', 'authz.property.read_unfilterable'],
  ])('refuses a response it cannot filter: %s', async (_name, path, reason) => {
    const reply = await call('alice', 'GET', path);
    await expectRefusal(reply, 502, 'bad-gateway', reason);
    expect(reply.text).not.toContain('9.99');
  });

  it('passes a response that is not JSON as it is', async () => {
    const reply = await call('alice', 'GET', '/filtered/text');
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('price 9.99');
  });
});

describe('the body a stage read is the body the upstream gets', () => {
  const lastEcho = (reply: Reply): Echo => JSON.parse(reply.text) as Echo;

  it('forwards a chunked JSON body as the bytes checked, with a Content-Length', async () => {
    const text = '{"name": "A",\n "nested": {"x": [1, 2]}}';
    const reply = await call(
      'alice',
      'POST',
      '/refuse',
      Readable.from([text.slice(0, 9), text.slice(9)]),
    );
    expect(reply.status, reply.text).toBe(200);
    const seen = lastEcho(reply);
    expect(seen.body).toBe(text);
    expect(rawHeader(seen.rawHeaders, 'content-length')).toBe(String(Buffer.byteLength(text)));
    expect(rawHeader(seen.rawHeaders, 'transfer-encoding')).toBeUndefined();
  });

  it('strips what may not be written and sends the rest with its own length', async () => {
    const reply = await call(
      'alice',
      'POST',
      '/strip',
      '{"name":"A","isAdmin":true,"address":{"city":"Oslo","verified":true},"tags":["x"],"__proto__":{"x":1}}',
    );
    expect(reply.status, reply.text).toBe(200);
    const seen = lastEcho(reply);
    expect(seen.body).toBe('{"name":"A","address":{"city":"Oslo"},"tags":["x"]}');
    expect(rawHeader(seen.rawHeaders, 'content-length')).toBe(String(seen.bodyLength));
    const logged = await gw.waitForLog((l) => l.msg === 'request body properties stripped');
    expect(logged.properties).toEqual(['isAdmin', 'address.verified', '__proto__']);
  });

  it.each([
    [
      'a chunked body over bodyBytes',
      Readable.from(['{"name":"', 'a'.repeat(5000), '"}']),
      413,
      'body-too-large',
      'limits.body.too_large',
    ],
    [
      'a body nested deeper than jsonDepth',
      '{"nested":' + '['.repeat(20) + ']'.repeat(20) + '}',
      400,
      'body-rejected',
      'limits.body.json_depth',
    ],
    ['malformed JSON', '{"name": "A",}', 400, 'body-rejected', 'authz.property.body_malformed'],
    [
      'invalid UTF-8',
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      400,
      'body-rejected',
      'authz.property.body_malformed',
    ],
    [
      'a byte order mark',
      '\ufeff{"name":"A"}',
      400,
      'body-rejected',
      'authz.property.body_malformed',
    ],
    [
      'a nested duplicate member',
      '{"nested":{"a":1,"\\u0061":2}}',
      400,
      'body-rejected',
      'authz.property.body_malformed',
    ],
  ] as const)('refuses %s', async (_name, body, status, kind, reason) => {
    const before = rec.requests.length;
    const reply = await call('alice', 'PUT', '/refuse', body);
    await expectRefusal(reply, status, kind, reason);
    expect(rec.requests.length).toBe(before);
  });

  it('streams a body no stage reads: the upstream has its start before the client sends the rest', async () => {
    const text = '{"balance": 1, "balance": 2}';
    const body = new Readable({ read: () => undefined });
    const before = rec.requests.length;
    body.push(text.slice(0, 10));
    const pending = call('alice', 'POST', '/unchecked', body);
    const until = Date.now() + 5_000;
    while (rec.requests.length === before && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // Had the gateway buffered the body, the upstream would not have seen the request yet.
    expect(rec.requests.length).toBe(before + 1);
    expect(rec.requests.at(-1)?.complete).toBe(false);
    body.push(text.slice(10));
    body.push(null);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(lastEcho(reply).body).toBe(text);
  });
});

describe('write rules in shadow mode (properties.write.enforce: false)', () => {
  const lastEcho = (reply: Reply): Echo => JSON.parse(reply.text) as Echo;

  it.each([
    [
      'refuse',
      'a property not allowed',
      '{"name": "A",\n "role":"admin"}',
      'application/json',
      'authz.property.write_denied',
      { rule: 'properties.write', property: 'role' },
    ],
    [
      'strip',
      'a property not allowed',
      '{"isAdmin":true, "name":"A"}',
      'application/json',
      'authz.property.write_denied',
      { rule: 'properties.write', property: 'isAdmin' },
    ],
    [
      'refuse',
      'a duplicate member',
      '{"name":"A","name":"B"}',
      'application/json',
      'authz.property.body_malformed',
      { rule: 'properties.write', cause: 'duplicate-key' },
    ],
    [
      'refuse',
      'a form body',
      'name=A&role=admin',
      'application/x-www-form-urlencoded',
      'authz.property.body_not_json',
      { rule: 'properties.write' },
    ],
  ] as const)(
    'onViolation %s: lets %s through unchanged and records a request.denied.shadow event',
    async (onViolation, _what, body, type, reason, details) => {
      const reply = await call('alice', 'POST', `/shadow-${onViolation}`, body, type);

      expect(reply.status, reply.text).toBe(200);
      // The upstream got the very bytes the client sent: nothing refused, nothing stripped.
      expect(lastEcho(reply).body).toBe(body);
      const requestId = reply.headers['x-request-id'];
      expect(requestId).toBeTypeOf('string');
      const event = await gw.waitForLog(
        (l) => l.event === 'request.denied.shadow' && l.requestId === requestId,
        5_000,
      );
      expect(event).toMatchObject({ reason, stage: 'authz', consumer: 'alice', details });
      expect(gw.logs.some((l) => l.event === 'request.denied' && l.requestId === requestId)).toBe(
        false,
      );
    },
  );

  it('still refuses a body over the limits: it was never read whole', async () => {
    const before = rec.requests.length;
    const reply = await call(
      'alice',
      'POST',
      '/shadow-refuse',
      Readable.from(['{"name":"', 'a'.repeat(5000), '"}']),
    );
    await expectRefusal(reply, 413, 'body-too-large', 'limits.body.too_large');
    expect(rec.requests.length).toBe(before);
  });

  it('records nothing for a body within the rules', async () => {
    const reply = await call('alice', 'POST', '/shadow-refuse', '{"name":"A"}');

    expect(reply.status, reply.text).toBe(200);
    expect(lastEcho(reply).body).toBe('{"name":"A"}');
    // A later request's event arrives after this one's would have: none came for this one.
    const later = await call('alice', 'POST', '/shadow-refuse', '{"tier":"x"}');
    await gw.waitForLog(
      (l) => l.event === 'request.denied.shadow' && l.requestId === later.headers['x-request-id'],
      5_000,
    );
    expect(
      gw.logs.some(
        (l) =>
          l.requestId === reply.headers['x-request-id'] &&
          typeof l.event === 'string' &&
          l.event.startsWith('request.denied'),
      ),
    ).toBe(false);
  });
});

describe('refusal records', () => {
  it('names the consumer and never the body in a write refusal', async () => {
    const reply = await call('bob', 'PATCH', '/accounts/acc_1002', '{"balance":"s3cr3t-value"}');
    const problem = expectProblem(reply, 403, 'forbidden');
    expect(await deniedReason(gw, problem.requestId)).toBe('authz.property.write_denied');
    expect(JSON.stringify(gw.logs)).not.toContain('s3cr3t-value');
  });
});
