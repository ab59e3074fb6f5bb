import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import { rawExchange } from '../support/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';

/**
 * Body and upload limits by consumer tier, through the real gateway: the tier comes from the
 * consumer's metadata once authenticated, a declared Content-Length over it is refused before a
 * byte is read, a chunked body is cut off where it crosses it, the tier never loosens the
 * route's limit, and a reload that moves a consumer to another tier takes effect.
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;
let dir: string;
let file: string;
const keys: Record<string, string> = {};

const ROUTE_LIMIT = 131_072;

function config(freebiePlan: string): string {
  return `
listeners:
  http: { host: 127.0.0.1, port: 0 }
logging: { level: info, access: false }
upstreams:
  api: { targets: ['http://127.0.0.1:${upstream.port}'] }
consumers:
  - { id: freebie, metadata: { plan: ${freebiePlan} } }
  - { id: probie, metadata: { plan: pro } }
  - { id: nobody }
  - { id: oddball, metadata: { plan: enterprise, tier: pro } }
consumerTiers:
  metadataKey: plan
  default: free
  tiers:
    free: { bodyBytes: 1024, uploadBytes: 4096 }
    pro: { bodyBytes: 65536, uploadBytes: 262144 }
defaults:
  auth: { methods: [api-key] }
  authz: { anyAuthenticated: true }
  limits: { bodyBytes: ${ROUTE_LIMIT} }
routes:
  - { name: data, paths: [/data], methods: [POST], upstream: api }
  - name: upload
    paths: [/upload]
    methods: [POST]
    upstream: api
    tierLimits: { free: { uploadBytes: 2048 } }
  - { name: open, paths: [/open], methods: [POST], upstream: api, auth: { public: true } }
  - name: owned
    paths: [/owned]
    methods: [POST]
    upstream: api
    authz: { owner: [{ name: self, value: { body: /owner }, equals: { consumer: id } }] }
state:
  store:
    sqlite: { path: ${join(dir, 'portcullis.db')} }
`;
}

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  dir = mkdtempSync(join(tmpdir(), 'pcl-tiers-'));
  file = writeConfig(config('free'), dir);
  for (const id of ['freebie', 'probie', 'nobody', 'oddball']) {
    const created = await portcullis(['keys', 'create', '--consumer', id, '-c', file]);
    expect(created.code, created.stderr).toBe(0);
    keys[id] = created.stdout.trim();
  }
  gw = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const JSON_TYPE = 'application/json';
const UPLOAD_TYPE = 'multipart/form-data; boundary=x';

/** `n` bytes, as one Content-Length body or as a chunked stream of 512-byte chunks. */
function bodyOf(n: number, chunked: boolean): Buffer | Readable {
  const bytes = Buffer.alloc(n, 0x61);
  if (!chunked) return bytes;
  const chunks: Buffer[] = [];
  for (let i = 0; i < n; i += 512) chunks.push(bytes.subarray(i, i + 512));
  return Readable.from(chunks);
}

let seq = 0;

describe('body limits by consumer tier', () => {
  it.each([
    // consumer, path, type, bytes, chunked, status, reason
    ['freebie', '/data', JSON_TYPE, 1024, false, 200, undefined],
    ['freebie', '/data', JSON_TYPE, 1025, false, 413, 'limits.tier.content_length'],
    ['freebie', '/data', JSON_TYPE, 3000, true, 413, 'limits.tier.body_too_large'],
    ['freebie', '/data', 'text/plain', 3000, true, 413, 'limits.tier.body_too_large'],
    ['freebie', '/data', UPLOAD_TYPE, 4096, false, 200, undefined],
    ['freebie', '/data', UPLOAD_TYPE, 4097, false, 413, 'limits.tier.content_length'],
    ['freebie', '/data', UPLOAD_TYPE, 5000, true, 413, 'limits.tier.body_too_large'],
    ['freebie', '/upload', UPLOAD_TYPE, 2049, false, 413, 'limits.tier.content_length'],
    ['freebie', '/upload', UPLOAD_TYPE, 2048, true, 200, undefined],
    ['probie', '/data', JSON_TYPE, 60_000, true, 200, undefined],
    ['probie', '/data', JSON_TYPE, 65_537, false, 413, 'limits.tier.content_length'],
    ['probie', '/data', JSON_TYPE, 70_000, true, 413, 'limits.tier.body_too_large'],
    // The pro upload limit is above the route's: the route's wins, with its own reason.
    ['probie', '/upload', UPLOAD_TYPE, ROUTE_LIMIT, false, 200, undefined],
    ['probie', '/upload', UPLOAD_TYPE, ROUTE_LIMIT + 1, false, 413, 'limits.body.content_length'],
    ['probie', '/upload', UPLOAD_TYPE, ROUTE_LIMIT + 600, true, 413, 'limits.body.too_large'],
    // No tier in the metadata, or an undeclared one: the default tier. Another key is not read.
    ['nobody', '/data', JSON_TYPE, 1025, false, 413, 'limits.tier.content_length'],
    ['oddball', '/data', JSON_TYPE, 1025, false, 413, 'limits.tier.content_length'],
    // Anonymous callers of a public route: the default tier.
    [undefined, '/open', JSON_TYPE, 1025, false, 413, 'limits.tier.content_length'],
    [undefined, '/open', JSON_TYPE, 3000, true, 413, 'limits.tier.body_too_large'],
  ] as const)(
    '%s %s %s of %i bytes (chunked: %s) → %i %s',
    async (consumer, path, type, bytes, chunked, status, reason) => {
      const requestId = `tiers-${++seq}`;
      const reply = await send(gw.http ?? 0, {
        method: 'POST',
        path,
        headers: {
          'content-type': type,
          'x-request-id': requestId,
          // A client's claim of a tier counts for nothing.
          'x-tier': 'pro',
          ...(consumer === undefined ? {} : { 'x-api-key': keys[consumer] }),
        },
        body: bodyOf(bytes, chunked),
      });
      const reached = upstream.requests.filter((r) => r.headers['x-request-id'] === requestId);
      if (reason === undefined) {
        expect(reply.status, reply.text).toBe(status);
        expect(reached.map((r) => [r.complete, r.body.length])).toEqual([[true, bytes]]);
        return;
      }
      expectProblem(reply, status, 'body-too-large');
      expect(reply.headers.connection).toBe('close');
      // Declared too large: nothing goes upstream. Cut off: never a complete body upstream.
      if (!chunked) expect(reached).toEqual([]);
      expect(reached.filter((r) => r.complete)).toEqual([]);
      const event = await gw.waitForLog(
        (l) => l.event === 'request.denied' && l.requestId === requestId,
        5_000,
      );
      expect(event.reason).toBe(reason);
      if (reason.startsWith('limits.tier.')) {
        expect(event.consumer).toBe(consumer);
        expect(event.details).toMatchObject({
          tier: consumer === 'probie' ? 'pro' : 'free',
          kind: type === UPLOAD_TYPE ? 'upload' : 'body',
        });
        if (consumer !== undefined) expect(JSON.stringify(event)).not.toContain(keys[consumer]);
      }
    },
  );

  it.each([
    [900, 200, undefined],
    [3000, 413, 'limits.tier.body_too_large'],
  ])(
    'holds for a stage that reads the JSON body: %i chunked bytes → %i %s',
    async (bytes, status, reason) => {
      const requestId = `tiers-${++seq}`;
      const json = JSON.stringify({ owner: 'freebie', pad: '' });
      const body = json.replace('""', `"${'p'.repeat(bytes - json.length)}"`);
      expect(body.length).toBe(bytes);
      const reply = await send(gw.http ?? 0, {
        method: 'POST',
        path: '/owned',
        headers: {
          'content-type': JSON_TYPE,
          'x-request-id': requestId,
          'x-api-key': keys.freebie,
        },
        body: Readable.from([Buffer.from(body.slice(0, 500)), Buffer.from(body.slice(500))]),
      });
      expect(reply.status, reply.text).toBe(status);
      if (reason === undefined) return;
      const event = await gw.waitForLog(
        (l) => l.event === 'request.denied' && l.requestId === requestId,
        5_000,
      );
      expect(event.reason).toBe(reason);
    },
  );

  it('refuses a declared length over the tier at once, without waiting for the body', async () => {
    const started = Date.now();
    const res = await rawExchange(
      gw.http ?? 0,
      `POST /data HTTP/1.1\r\nHost: gw\r\nX-Api-Key: ${keys.freebie}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"a":',
      { timeoutMs: 3_000, untilClose: true },
    );
    expect(res?.status).toBe(413);
    expect(res?.closedByServer).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('never lets bytes beyond a lying Content-Length through as a second request', async () => {
    const before = upstream.requests.length;
    const smuggled = 'GET /data HTTP/1.1\r\nHost: gw\r\n\r\n';
    const res = await rawExchange(
      gw.http ?? 0,
      `POST /data HTTP/1.1\r\nHost: gw\r\nX-Api-Key: ${keys.freebie}\r\n` +
        `Content-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789${'a'.repeat(2000)}${smuggled}`,
      { timeoutMs: 3_000, untilClose: true },
    );
    // The bytes past the declared length are a malformed next request: the parser refuses them
    // (400, connection closed), possibly before the first request's answer is back.
    expect(res?.status).toBe(400);
    expect(res?.closedByServer).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const reached = upstream.requests.slice(before);
    expect(reached.filter((r) => r.method !== 'POST')).toEqual([]);
    for (const r of reached) expect(r.body.length).toBeLessThanOrEqual(10);
  });

  it('moves a consumer to its new tier when a reload changes its metadata', async () => {
    const post = (): Promise<number> =>
      send(gw.http ?? 0, {
        method: 'POST',
        path: '/data',
        headers: { 'content-type': JSON_TYPE, 'x-api-key': keys.freebie },
        body: bodyOf(3000, true),
      }).then((r) => r.status);
    expect(await post()).toBe(413);
    const reloads = gw.logs.filter((l) => l.msg === 'config reloaded').length;
    writeFileSync(file, config('pro'));
    await gw.waitForLog(
      (l) =>
        l.msg === 'config reloaded' &&
        gw.logs.filter((x) => x.msg === 'config reloaded').length > reloads,
      10_000,
    );
    expect(await post()).toBe(200);
    writeFileSync(file, config('free'));
    await gw.waitForLog(
      (l) =>
        l.msg === 'config reloaded' &&
        gw.logs.filter((x) => x.msg === 'config reloaded').length > reloads + 1,
      10_000,
    );
    expect(await post()).toBe(413);
  }, 30_000);
});
