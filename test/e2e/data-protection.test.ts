import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import {
  echo,
  startRecordingUpstream,
  type ReceivedRequest,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Sensitive data through the real gateway: an upstream that streams the chunks the test
 * chooses (a card one byte per chunk, a megabyte with secrets on chunk boundaries, gzip, a
 * private key before and after the head went out), the masked or refused answer the client
 * gets, and the events, which never carry the data.
 */

const CARD = '4111 1111 1111 1111';
const MASKED_CARD = '**** **** **** 1111';
const PEM = `-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----`;
const KIB = 1024;

/** Writes each part as its own chunk, waiting for the socket between them. */
function trickle(res: ServerResponse, parts: readonly (string | Buffer)[]): void {
  let i = 0;
  const next = (): void => {
    if (i === parts.length) {
      res.end();
      return;
    }
    res.write(parts[i++]);
    setTimeout(next, 1);
  };
  next();
}

/** A megabyte of filler with a card every 10 KiB, each one split across two 4 KiB chunks. */
function bigBody(): { chunks: Buffer[]; cards: number } {
  const unit = `${' '.repeat(10 * KIB - CARD.length - 2)}"${CARD}"`;
  const whole = Buffer.from(unit.repeat(100));
  const chunks: Buffer[] = [];
  for (let at = 0; at < whole.length; at += 4 * KIB) chunks.push(whole.subarray(at, at + 4 * KIB));
  return { chunks, cards: 100 };
}
const BIG = bigBody();

/** The event stream's second event waits for this: the client must have had the first. */
let sendSecondEvent: () => void = () => undefined;

function respond(_req: IncomingMessage, res: ServerResponse, received: ReceivedRequest): void {
  const json = { 'content-type': 'application/json' };
  // The same answers under /private and /plain, routes with other settings.
  switch (received.url.replace(/^\/(?:private|plain)\//, '/')) {
    case '/dp/split':
      res.writeHead(200, json);
      trickle(res, [...`{"pan":"${CARD}","n":1}`]);
      return;
    case '/dp/length':
      res.writeHead(200, { ...json, 'content-length': String(`{"pan":"${CARD}"}`.length) });
      res.end(`{"pan":"${CARD}"}`);
      return;
    case '/dp/big':
      res.writeHead(200, { 'content-type': 'text/plain' });
      trickle(res, BIG.chunks);
      return;
    case '/dp/gzip': {
      const body = gzipSync(Buffer.from(`{"pan":"${CARD}","ssn":"123-45-6789"}`));
      res.writeHead(200, { ...json, 'content-encoding': 'gzip', etag: '"abc"' });
      trickle(res, [body.subarray(0, 10), body.subarray(10)]);
      return;
    }
    case '/dp/corrupt-gzip':
      res.writeHead(200, { ...json, 'content-encoding': 'gzip' });
      res.end('not gzip at all');
      return;
    case '/dp/compress':
      res.writeHead(200, { ...json, 'content-encoding': 'compress' });
      res.end(`{"pan":"${CARD}"}`);
      return;
    case '/dp/key-early':
      res.writeHead(200, json);
      trickle(res, ['{"key":"', PEM, '"}']);
      return;
    case '/dp/key-late':
      res.writeHead(200, { 'content-type': 'text/plain' });
      trickle(res, [' '.repeat(200 * KIB), PEM, ' end']);
      return;
    case '/dp/events': {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`data: {"n":1,"pan":"${CARD}"}\n\n`);
      // Fail-safe: a gateway that held the first event back still gets the test an answer.
      const late = setTimeout(() => sendSecondEvent(), 5_000);
      sendSecondEvent = () => {
        clearTimeout(late);
        res.end('data: {"n":2}\n\n');
      };
      return;
    }
    case '/dp/binary':
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(`\x89PNG ${CARD}`);
      return;
    case '/dp/headers':
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        server: 'Apache/2.4.1',
        'x-powered-by': 'PHP/5.6',
        'cache-control': 'public, max-age=600',
      });
      res.end('<p>hi</p>');
      return;
    case '/dp/own-csp':
      res.writeHead(200, {
        'content-type': 'text/html',
        'content-security-policy': "default-src 'self'",
        'referrer-policy': 'origin',
      });
      res.end('<p>hi</p>');
      return;
    default:
      echo(res, received);
  }
}

let upstream: RecordingUpstream;
let gw: GatewayProcess;
let key: string;

beforeAll(async () => {
  upstream = await startRecordingUpstream({ respond });
  const dir = mkdtempSync(join(tmpdir(), 'pcl-dp-'));
  const file = writeConfig(
    `
listeners: { http: { host: 127.0.0.1, port: 0 } }
logging: { level: info, access: false }
upstreams: { api: { targets: ['${upstream.origin}'] } }
consumers:
  - { id: alice }
defaults:
  auth: { public: true }
  dataProtection: {}
routes:
  - name: dp
    paths: [/dp/*]
    methods: [GET]
    upstream: api
  - name: requests
    paths: [/in]
    methods: [POST]
    upstream: api
    dataProtection:
      requests: true
      patterns: { card: block, ssn: mask }
  - name: plain
    paths: [/plain/*]
    methods: [GET]
    upstream: api
    securityHeaders: { enabled: false }
    dataProtection: { responses: false }
  - name: private
    paths: [/private/*]
    methods: [GET]
    upstream: api
    auth: { methods: [api-key] }
    authz: { anyAuthenticated: true }
state:
  store: { sqlite: { path: ${join(dir, 'portcullis.db')} } }
`,
    dir,
  );
  const created = await portcullis(['keys', 'create', '--consumer', 'alice', '-c', file]);
  expect(created.code, created.stderr).toBe(0);
  key = created.stdout.trim();
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> =>
  send(gw.http ?? 0, { path, headers });

function dataEvents(requestId: string): Promise<Record<string, unknown>> {
  return gw.waitForLog((l) => l.event === 'data.detected' && l.requestId === requestId, 5_000);
}

describe('sensitive data in responses', () => {
  it('masks a card number the upstream sends one byte per chunk', async () => {
    const reply = await get('/dp/split');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ pan: MASKED_CARD, n: 1 });
  });

  it('keeps the Content-Length of an uncoded response: masks have the same length', async () => {
    const reply = await get('/dp/length');
    expect(reply.text).toBe(`{"pan":"${MASKED_CARD}"}`);
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
  });

  it('masks every card of a megabyte streamed with cards on chunk boundaries', async () => {
    const reply = await get('/dp/big', { 'x-request-id': 'dp-big-1' });
    expect(reply.status).toBe(200);
    expect(reply.body).toHaveLength(Buffer.concat(BIG.chunks).length);
    expect(reply.text).not.toContain(CARD);
    expect(reply.text.split(MASKED_CARD)).toHaveLength(BIG.cards + 1);
    const event = await dataEvents('dp-big-1');
    expect(event).toMatchObject({ detector: 'card', action: 'mask', count: BIG.cards });
  });

  it('decodes a gzip response to scan it and sends it uncoded, without the ETag', async () => {
    const reply = await get('/dp/gzip', { 'accept-encoding': 'gzip' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-encoding']).toBeUndefined();
    expect(reply.headers.etag).toBeUndefined();
    expect(JSON.parse(reply.text)).toEqual({ pan: MASKED_CARD, ssn: '***-**-****' });
  });

  it.each([
    ['a content coding it cannot undo', '/dp/compress', 'data_protection.response.unscannable'],
    ['a corrupt gzip body', '/dp/corrupt-gzip', 'proxy.response.corrupt_coding'],
    ['a private key before any byte went out', '/dp/key-early', 'data_protection.response.blocked'],
  ])('refuses %s with 502', async (_name, path, reason) => {
    const id = `dp-${path.slice(4)}`;
    const reply = await get(path, { 'x-request-id': id });
    expectProblem(reply, 502, 'bad-gateway');
    expect(reply.text).not.toContain('PRIVATE KEY');
    expect(reply.text).not.toContain('4111');
    expect(await deniedReason(gw, id)).toBe(reason);
  });

  it('cuts the connection when a private key comes after the head went out', async () => {
    const outcome = await get('/dp/key-late').then(
      (r) => r.text,
      (err: unknown) => err,
    );
    // Either the request fails, or what arrived is cut short of the key.
    if (typeof outcome === 'string') expect(outcome).not.toContain('MIIEvQ');
    else expect(outcome).toBeInstanceOf(Error);
  });

  it('sends each event of an event stream as it comes, masked', async () => {
    const { first, rest, firstBeforeSecond } = await new Promise<{
      first: string;
      rest: string;
      firstBeforeSecond: boolean;
    }>((resolve, reject) => {
      const started = Date.now();
      http
        .get({ host: '127.0.0.1', port: gw.http, path: '/dp/events' }, (res) => {
          let first: string | undefined;
          let rest = '';
          let firstBeforeSecond = false;
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => {
            if (first === undefined) {
              first = chunk;
              firstBeforeSecond = Date.now() - started < 4_000;
              sendSecondEvent();
            } else rest += chunk;
          });
          res.on('end', () => resolve({ first: first ?? '', rest, firstBeforeSecond }));
        })
        .on('error', reject);
    });
    expect(firstBeforeSecond).toBe(true);
    expect(first).toBe(`data: {"n":1,"pan":"${MASKED_CARD}"}\n\n`);
    expect(rest).toBe('data: {"n":2}\n\n');
  });

  it('passes a binary response unscanned', async () => {
    const reply = await get('/dp/binary');
    expect(reply.text).toContain(CARD);
  });

  it('records a detection without the data in the event', async () => {
    await get('/dp/length', { 'x-request-id': 'dp-event-1' });
    const event = await dataEvents('dp-event-1');
    expect(event).toMatchObject({ route: 'dp', direction: 'response', detector: 'card', count: 1 });
    const all = JSON.stringify(gw.logs);
    expect(all).not.toContain('4111 1111');
    expect(all).not.toContain('4111111111111111');
  });
});

describe('sensitive data in request bodies', () => {
  const post = (body: string, id: string): Promise<Reply> =>
    send(gw.http ?? 0, {
      method: 'POST',
      path: '/in',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body,
    });

  it('refuses a request body carrying a card when the route blocks cards', async () => {
    const reply = await post(JSON.stringify({ pan: CARD }), 'dp-in-1');
    expectProblem(reply, 400, 'body-rejected');
    expect(await deniedReason(gw, 'dp-in-1')).toBe('data_protection.request.blocked');
    expect(upstream.requests.some((r) => r.headers['x-request-id'] === 'dp-in-1')).toBe(false);
  });

  it('masks an SSN before the upstream receives the body', async () => {
    const reply = await post(JSON.stringify({ ssn: '123-45-6789', name: 'x' }), 'dp-in-2');
    expect(reply.status).toBe(200);
    const got = upstream.requests.find((r) => r.headers['x-request-id'] === 'dp-in-2');
    expect(JSON.parse(got?.body.toString() ?? '')).toEqual({ ssn: '***-**-****', name: 'x' });
  });
});

describe('security headers', () => {
  it('removes Server and X-Powered-By and adds nosniff, a Referrer-Policy and a CSP on HTML', async () => {
    const reply = await get('/dp/headers');
    expect(reply.headers.server).toBeUndefined();
    expect(reply.headers['x-powered-by']).toBeUndefined();
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['referrer-policy']).toBe('no-referrer');
    expect(reply.headers['content-security-policy']).toContain("default-src 'none'");
    // A public answer keeps the upstream's caching.
    expect(reply.headers['cache-control']).toBe('public, max-age=600');
  });

  it("keeps the upstream's own CSP and Referrer-Policy", async () => {
    const reply = await get('/dp/own-csp');
    expect(reply.headers['content-security-policy']).toBe("default-src 'self'");
    expect(reply.headers['referrer-policy']).toBe('origin');
  });

  it('makes an authenticated answer no-store, whatever the upstream said', async () => {
    const reply = await get('/private/dp/headers', { 'x-api-key': key });
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('leaves headers alone on a route that turns the policy off', async () => {
    const reply = await get('/plain/dp/headers');
    expect(reply.headers['x-powered-by']).toBe('PHP/5.6');
    expect(reply.headers['x-content-type-options']).toBeUndefined();
  });
});
