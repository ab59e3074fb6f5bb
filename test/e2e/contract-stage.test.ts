import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';

/**
 * The contract stage's controls one by one, through the real gateway, against a fixture API
 * (test/fixtures/contract/profiles.yaml, OpenAPI 3.0) and an upstream that answers what each
 * test tells it to and remembers what it received.
 */

const SPEC = fileURLToPath(new URL('../fixtures/contract/profiles.yaml', import.meta.url));

interface Answer {
  status: number;
  type?: string;
  body?: string;
  /** Send the body in chunks of this many bytes (chunked encoding). */
  chunk?: number;
}

let upstream: Server;
let gw: GatewayProcess;
let answer: Answer = { status: 200 };
let received: { url: string; body: string } | undefined;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received = { url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') };
      const body = Buffer.from(answer.body ?? '');
      const headers: Record<string, string> = {};
      if (answer.type !== undefined) headers['content-type'] = answer.type;
      if (answer.chunk === undefined) headers['content-length'] = String(body.length);
      res.writeHead(answer.status, headers);
      if (answer.chunk === undefined) return void res.end(body);
      const step = answer.chunk;
      let at = 0;
      const next = () => {
        if (at >= body.length) return void res.end();
        res.write(body.subarray(at, at + step));
        at += step;
        setImmediate(next);
      };
      next();
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  const profiles = (host: string, contract: Record<string, unknown>) => ({
    name: `profiles-${host.split('.')[0] ?? ''}`,
    hosts: [host],
    paths: ['/profiles/:id'],
    methods: ['GET', 'PUT'],
    upstream: 'api',
    auth: { public: true },
    contract: { spec: 'fixture', ...contract },
  });
  const dir = mkdtempSync(join(tmpdir(), 'pcl-contract-stage-'));
  gw = await startGateway(
    writeConfig(
      JSON.stringify({
        listeners: { http: { host: '127.0.0.1', port: 0 } },
        logging: { level: 'info', access: false },
        upstreams: { api: { targets: [`http://127.0.0.1:${port}`] } },
        specs: { fixture: { file: SPEC } },
        routes: [
          profiles('enforce.test', { response: 'enforce' }),
          profiles('strip.test', { response: 'enforce', additionalProperties: 'strip' }),
          profiles('monitor.test', { request: 'monitor', response: 'monitor' }),
          {
            name: 'redos',
            paths: ['/redos'],
            methods: ['GET'],
            upstream: 'api',
            auth: { public: true },
            contract: { spec: 'fixture' },
          },
          {
            name: 'uploads',
            paths: ['/uploads'],
            methods: ['POST'],
            upstream: 'api',
            auth: { public: true },
            contract: { spec: 'fixture', multipart: { maxParts: 4, maxPartBytes: 1024 } },
          },
        ],
        state: { store: { sqlite: { path: join(dir, 'portcullis.db') } } },
      }),
      dir,
    ),
  );
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await new Promise((resolve) => upstream?.close(resolve));
});

beforeEach(() => {
  answer = { status: 200 };
  received = undefined;
});

const VALID_HEADERS = { 'x-trace-id': 'deadbeef', cookie: 'session=abcdefgh' };

function call(
  host: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return send(gw.http ?? 0, { method, path, headers: { host, ...headers }, body });
}

async function expectViolation(
  reply: Reply,
  pointer: string,
  rule: string,
  reason: string,
  status = 400,
) {
  const problem = expectProblem(
    reply,
    status,
    status === 415 ? 'unsupported-media-type' : 'contract-violation',
  );
  const { violations } = JSON.parse(reply.text) as {
    violations: { pointer: string; rule: string }[];
  };
  expect(violations).toContainEqual(expect.objectContaining({ pointer, rule }));
  const event = await gw.waitForLog(
    (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
  );
  expect(event).toMatchObject({ reason, stage: 'contract' });
}

describe('ReDoS', () => {
  it('answers a catastrophic pattern with a hostile input within 100 ms', async () => {
    // ^(a+)+$ against 8 000 a's and a '!' (near the URL limit): longer than the universe's age
    // on a backtracking engine, linear on RE2. A first request warms the gateway (JIT,
    // connection pool); the best of three attempts is timed, since a machine shared with other
    // work only ever slows a request down, never speeds up a backtracking one.
    expect((await call('x.test', 'GET', '/redos?q=aaa')).status).toBe(200);
    let fastest = Infinity;
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = performance.now();
      const reply = await call('x.test', 'GET', `/redos?q=${'a'.repeat(8_000)}!`);
      fastest = Math.min(fastest, performance.now() - started);
      await expectViolation(reply, '/query/q', 'pattern', 'contract.request.query');
    }
    expect(fastest).toBeLessThan(100);
  });

  it('lets a matching value through', async () => {
    const reply = await call('x.test', 'GET', `/redos?q=${'a'.repeat(1000)}`);
    expect(reply.status, reply.text).toBe(200);
  });
});

describe('parameters in every location and style', () => {
  it.each([
    ['/profiles/0', {}, '/path/id', 'minimum', 'contract.request.path'],
    ['/profiles/abc', {}, '/path/id', 'type', 'contract.request.path'],
    [
      '/profiles/1',
      { 'x-trace-id': undefined },
      '/header/x-trace-id',
      'required',
      'contract.request.header',
    ],
    [
      '/profiles/1',
      { 'x-trace-id': 'DEADBEEF; drop' },
      '/header/x-trace-id',
      'pattern',
      'contract.request.header',
    ],
    [
      '/profiles/1',
      { cookie: 'other=1' },
      '/cookie/session',
      'required',
      'contract.request.cookie',
    ],
    [
      '/profiles/1',
      { cookie: 'session=short' },
      '/cookie/session',
      'minLength',
      'contract.request.cookie',
    ],
    [
      '/profiles/1',
      { cookie: 'session=abcdefgh; session=ijklmnop' },
      '/cookie/session',
      'duplicate',
      'contract.request.cookie',
    ],
    ['/profiles/1?filter[role]=root', {}, '/query/filter/role', 'enum', 'contract.request.query'],
    [
      '/profiles/1?filter[isAdmin]=1',
      {},
      '/query/filter/isAdmin',
      'additionalProperties',
      'contract.request.query',
    ],
    [
      '/profiles/1?filter[role]=admin&filter[role]=user',
      {},
      '/query/filter[role]',
      'duplicate',
      'contract.request.query',
    ],
    ['/profiles/1?ids=1|x', {}, '/query/ids/1', 'type', 'contract.request.query'],
  ])('refuses GET %s %j at %s (%s)', async (path, headers, pointer, rule, reason) => {
    const merged: Record<string, string> = { ...VALID_HEADERS };
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    await expectViolation(await call('enforce.test', 'GET', path, merged), pointer, rule, reason);
  });

  it('lets well-formed parameters of every style through', async () => {
    answer = { status: 200, type: 'application/json', body: '{"id":1,"name":"Ann"}' };
    const reply = await call(
      'enforce.test',
      'GET',
      '/profiles/1?filter[role]=admin&ids=1|2|3',
      VALID_HEADERS,
    );
    expect(reply.status, reply.text).toBe(200);
    expect(received?.url).toBe('/profiles/1?filter[role]=admin&ids=1|2|3');
  });
});

describe('JSON bodies', () => {
  const put = (host: string, body: unknown) =>
    call(host, 'PUT', '/profiles/1', { 'content-type': 'application/json' }, JSON.stringify(body));

  it.each([
    [{ id: 5, name: 'Ann' }, '/body/id', 'readOnly'],
    [{ name: 'Ann', role: 'admin' }, '/body/role', 'readOnly'],
    [{ name: 'Ann', isAdmin: true }, '/body/isAdmin', 'additionalProperties'],
    [{ name: 7 }, '/body/name', 'type'],
    [{}, '/body/name', 'required'],
  ])('refuses %j at %s (%s)', async (body, pointer, rule) => {
    await expectViolation(await put('enforce.test', body), pointer, rule, 'contract.request.body');
    expect(received).toBeUndefined();
  });

  it('accepts null where the 3.0 schema says nullable, and a writeOnly property', async () => {
    answer = { status: 200, type: 'application/json', body: '{"id":1,"name":null}' };
    const reply = await put('enforce.test', { name: null, password: 'new secret' });
    expect(reply.status, reply.text).toBe(200);
    expect(JSON.parse(received?.body ?? '')).toEqual({ name: null, password: 'new secret' });
  });

  it('strips undeclared properties before the upstream sees them, with additionalProperties: strip', async () => {
    answer = { status: 200, type: 'application/json', body: '{"id":1,"name":"Ann"}' };
    const reply = await put('strip.test', { name: 'Ann', isAdmin: true, nested: { x: 1 } });
    expect(reply.status, reply.text).toBe(200);
    expect(JSON.parse(received?.body ?? '')).toEqual({ name: 'Ann' });
  });

  it('strips undeclared query parameters too, with additionalProperties: strip', async () => {
    answer = { status: 200, type: 'application/json', body: '{"id":1,"name":"Ann"}' };
    const reply = await call(
      'strip.test',
      'GET',
      '/profiles/1?debug=1&ids=4&admin=true',
      VALID_HEADERS,
    );
    expect(reply.status, reply.text).toBe(200);
    expect(received?.url).toBe('/profiles/1?ids=4');
  });

  it('records but lets through in monitor mode', async () => {
    answer = { status: 200, type: 'application/json', body: '{"id":1,"name":"Ann"}' };
    const reply = await put('monitor.test', { id: 5, name: 'Ann' });
    expect(reply.status, reply.text).toBe(200);
    expect(JSON.parse(received?.body ?? '')).toEqual({ id: 5, name: 'Ann' });
    const event = await gw.waitForLog(
      (l) =>
        l.event === 'request.denied.shadow' &&
        l.reason === 'contract.request.body' &&
        l.route === 'profiles-monitor',
    );
    expect(event).toMatchObject({
      stage: 'contract',
      details: { pointer: '/body/id', rule: 'readOnly' },
    });
  });
});

describe('form and multipart bodies', () => {
  const form = (body: string) =>
    call(
      'x.test',
      'POST',
      '/uploads',
      { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    );
  const B = 'pclboundary';
  const part = (name: string, value: string, extra = '') =>
    `--${B}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n${value}\r\n`;
  const multipart = (body: string) =>
    call(
      'x.test',
      'POST',
      '/uploads',
      { 'content-type': `multipart/form-data; boundary=${B}` },
      body,
    );
  const file = part('file', 'PNG...', '; filename="a.png"');

  it('lets a valid form and a valid upload through', async () => {
    answer = { status: 201 };
    expect((await form('title=hello&count=3')).status).toBe(201);
    expect((await multipart(`${part('title', 'hello')}${file}--${B}--\r\n`)).status).toBe(201);
    expect(received?.body).toContain('PNG...');
  });

  it.each([
    ['count=11&title=a', '/body/count', 'maximum'],
    ['title=a&isAdmin=1', '/body/isAdmin', 'additionalProperties'],
    ['count=3', '/body/title', 'required'],
    ['title=a&title=b', '/body/title', 'type'],
  ])('refuses the form %s at %s (%s)', async (body, pointer, rule) => {
    await expectViolation(await form(body), pointer, rule, 'contract.request.body');
  });

  it.each([
    [
      'without its required file',
      `${part('title', 'hello')}--${B}--\r\n`,
      '/body/file',
      'required',
      'contract.request.body',
    ],
    [
      'with a field too long',
      `${part('title', 'x'.repeat(21))}${file}--${B}--\r\n`,
      '/body/title',
      'maxLength',
      'contract.request.body',
    ],
    [
      'with an invalid JSON part',
      `${part('title', 'a')}${file}${part('meta', '{}', '')}--${B}--\r\n`.replace(
        'name="meta"',
        'name="meta"\r\nContent-Type: application/json',
      ),
      '/body/meta/tag',
      'required',
      'contract.request.body',
    ],
    [
      'with an undeclared field',
      `${part('title', 'a')}${file}${part('role', 'admin')}--${B}--\r\n`,
      '/body/role',
      'additionalProperties',
      'contract.request.body',
    ],
    [
      'with too many parts',
      `${part('a', '1')}${part('b', '1')}${part('c', '1')}${part('d', '1')}${part('e', '1')}--${B}--\r\n`,
      '/body',
      'maxParts',
      'contract.request.multipart_limit',
    ],
    [
      'with a part too large',
      `${part('title', 'a')}${part('file', 'x'.repeat(2000), '; filename="big"')}--${B}--\r\n`,
      '/body/file',
      'maxPartBytes',
      'contract.request.multipart_limit',
    ],
    [
      'without its closing delimiter',
      `${part('title', 'a')}${file}`,
      '/body',
      'multipart',
      'contract.request.body_malformed',
    ],
    [
      'with a part that is not form-data',
      `--${B}\r\nContent-Disposition: attachment; name="title"\r\n\r\na\r\n--${B}--\r\n`,
      '/body',
      'multipart',
      'contract.request.body_malformed',
    ],
  ])('refuses an upload %s', async (_label, body, pointer, rule, reason) => {
    await expectViolation(await multipart(body), pointer, rule, reason);
  });

  it('refuses multipart without a boundary', async () => {
    const reply = await call(
      'x.test',
      'POST',
      '/uploads',
      { 'content-type': 'multipart/form-data' },
      'x',
    );
    await expectViolation(reply, '/body', 'boundary', 'contract.request.body_malformed');
  });
});

describe('responses', () => {
  const get = (host: string) => call(host, 'GET', '/profiles/1', VALID_HEADERS);

  it('removes undeclared and writeOnly properties in enforce mode, across chunk boundaries', async () => {
    answer = {
      status: 200,
      type: 'application/json',
      body: JSON.stringify({
        id: 1,
        name: 'Ann',
        password: 'hunter2',
        internalNote: 'vip',
        role: 'user',
      }),
      chunk: 3,
    };
    const reply = await get('enforce.test');
    expect(reply.status, reply.text).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ id: 1, name: 'Ann', role: 'user' });
    expect(reply.text).not.toContain('hunter2');
    const event = await gw.waitForLog(
      (l) => l.reason === 'contract.response.properties_removed' && l.route === 'profiles-enforce',
    );
    expect(event).toMatchObject({ event: 'request.denied.shadow', details: { violations: 2 } });
  });

  it('turns a response that breaks its schema into 502 without telling the client why', async () => {
    answer = { status: 200, type: 'application/json', body: '{"name":5,"secretField":"x"}' };
    const reply = await get('enforce.test');
    const problem = expectProblem(reply, 502, 'bad-gateway');
    expect(reply.text).not.toContain('secretField');
    expect(reply.text).not.toContain('violations');
    const event = await gw.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === problem.requestId,
    );
    expect(event).toMatchObject({
      reason: 'contract.response.body',
      details: { rule: 'required' },
    });
  });

  it('turns an undeclared Content-Type into 502 in enforce mode', async () => {
    answer = { status: 200, type: 'text/html', body: '<h1>debug page</h1>' };
    const reply = await get('enforce.test');
    const problem = expectProblem(reply, 502, 'bad-gateway');
    const event = await gw.waitForLog(
      (l) => l.requestId === problem.requestId && l.event === 'request.denied',
    );
    expect(event).toMatchObject({ reason: 'contract.response.media_type' });
  });

  it('passes and records a status the operation does not declare', async () => {
    answer = { status: 418, type: 'text/plain', body: 'teapot' };
    const reply = await get('enforce.test');
    expect(reply.status).toBe(418);
    const requestId = reply.headers['x-request-id'];
    const event = await gw.waitForLog((l) => l.requestId === requestId);
    expect(event).toMatchObject({
      event: 'request.denied.shadow',
      reason: 'contract.response.status_undeclared',
    });
  });

  it('records but passes a broken response in monitor mode', async () => {
    const body = '{"name":5,"internalNote":"vip"}';
    answer = { status: 200, type: 'application/json', body };
    const reply = await get('monitor.test');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual(JSON.parse(body));
    const requestId = reply.headers['x-request-id'];
    const event = await gw.waitForLog((l) => l.requestId === requestId);
    expect(event).toMatchObject({
      event: 'request.denied.shadow',
      reason: 'contract.response.body',
    });
  });
});
