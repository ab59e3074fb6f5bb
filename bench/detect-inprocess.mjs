// What attack detection costs per request, measured in-process: the `detect` stage at its
// defaults (paranoia 1, every part inspected), built from a config as the gateway builds it, and
// its onRequest timed on the request of the portcullis-detect load setup (bench/detect-setups.mjs)
// and on the demo's typical requests (src/demo/openapi.yaml), JSON bodies included. The body is
// handed over already parsed, as the gateway parses it once for every stage.
//
// Every request is made of new strings, as the HTTP parser makes them. The same request sent
// again and again finds its values in the stage's verdict cache (docs/detection.md); `varied` sends every request with its own search text, page, session and
// analytics cookie, so that those values are inspected afresh as real traffic makes them.
// Before measuring, each case is checked to pass, and an attack planted in it to be refused
// (after the warm-up, so with the cache warm): a benchmark of a stage that does not detect
// measures nothing.
//
//   node bench/detect-inprocess.mjs [--iterations N] [--warmup N] [--json]
//
// Needs `npm run build` first (it loads dist/).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { orderBody } from './contract-setups.mjs';
import { HEADERS, QUERY } from './detect-setups.mjs';
import { formatRows, likeTheGateway, now, runAsCommand, summarize } from './inprocess-timing.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (file) => import(path.join(ROOT, 'dist', file));

/** The headers every request of the demo's API clients carries (the key is never inspected). */
const CLIENT_HEADERS = {
  host: '127.0.0.1:8080',
  'user-agent': 'demo-shop-backend/2.3 (node-fetch)',
  accept: 'application/json',
  'x-api-key': 'pk_live_1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d',
  'x-request-id': '3f1c9e2a-6b7d-4e8f-9a0b-1c2d3e4f5a6b',
};

const SEARCHES = ['trail running shoes', "men's rain jacket", 'usb-c hub 4k', 'yoga mat 6mm'];

/**
 * The cases: a request each (a function of the iteration for `varied`), and where to plant an
 * attack that must be refused.
 */
function cases() {
  const order = orderBody();
  return [
    {
      name: 'portcullis-detect: GET /catalog, query, browser headers, cookies',
      request: () => ({
        path: '/catalog',
        query: QUERY,
        headers: { host: '127.0.0.1:8080', ...HEADERS },
      }),
      attack: { query: `q=${encodeURIComponent("shoes' OR '1'='1")}&page=2` },
    },
    {
      name: 'varied: the same, its search, page, session and _ga new on every request',
      request: (i) => ({
        path: '/catalog',
        query: QUERY.replace(
          'q=women%27s+running+shoes',
          `q=${encodeURIComponent(`${SEARCHES[i % SEARCHES.length]} ${i}`).replaceAll('%20', '+')}`,
        ).replace('page=2', `page=${(i % 40) + 1}`),
        headers: {
          host: '127.0.0.1:8080',
          ...HEADERS,
          cookie: HEADERS.cookie
            .replace('Zm9vYmFyYmF6cXV4MTIzNDU2', randomBytes(18).toString('base64'))
            .replace('GA1.2.1234.5678', `GA1.2.${1_000_000 + i}.${1_700_000_000 + i}`),
        },
      }),
      attack: {
        headers: { referer: 'https://shop.example.com/?next=javascript:alert(document.cookie)' },
      },
    },
    {
      name: 'demo: GET /accounts/acc_1001/orders?status=paid&status=shipped&limit=20',
      request: () => ({
        path: '/accounts/acc_1001/orders',
        query: 'status=paid&status=shipped&limit=20',
        headers: CLIENT_HEADERS,
      }),
      attack: { query: 'status=paid&limit=20;cat%20/etc/passwd' },
    },
    {
      name: 'demo: PATCH /accounts/acc_1001, a JSON merge patch',
      request: () => ({
        path: '/accounts/acc_1001',
        query: '',
        headers: CLIENT_HEADERS,
        body: { name: 'Alice A. Anders', email: 'alice.anders@example.com' },
      }),
      attack: { body: { name: 'Alice', email: { $ne: null } } },
    },
    {
      name: `demo: POST /accounts/acc_1001/orders, a ${order.length}-byte order`,
      request: () => ({
        path: '/accounts/acc_1001/orders',
        query: '',
        headers: CLIENT_HEADERS,
        body: JSON.parse(order),
      }),
      attack: { body: { items: [{ sku: '<script>alert(1)</script>', qty: 1 }] } },
    },
  ];
}

/**
 * The request with every string new: the gateway's values come fresh from the HTTP parser and
 * JSON.parse on every request, never the same string objects (whose hash V8 keeps).
 */
function fresh(req) {
  const copy = (s) => ` ${s}`.slice(1);
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = copy(value);
  return {
    path: copy(req.path),
    query: copy(req.query),
    headers,
    body: req.body === undefined ? undefined : JSON.parse(JSON.stringify(req.body)),
  };
}

/** A request context as the gateway makes one per request: what the detect stage reads. */
function context(req, log) {
  const bodyText = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers =
    bodyText === undefined
      ? req.headers
      : {
          ...req.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(bodyText)),
        };
  const body = Promise.resolve(req.body);
  return {
    id: 'bench',
    method: req.body === undefined ? 'GET' : 'POST',
    path: req.path,
    query: req.query,
    params: {},
    clientIp: '127.0.0.1',
    scheme: 'http',
    host: '127.0.0.1',
    route: { name: 'bench', upstream: 'demo' },
    headers,
    log,
    raw: undefined,
    readJsonBody: () => body,
    onFinished: () => {},
    readBodyBytes: () =>
      Promise.resolve(bodyText === undefined ? undefined : Buffer.from(bodyText)),
  };
}

/** One call of the stage: its decision and its cost in ns (waiting for the parsed body included). */
async function call(stage, ctx) {
  const t0 = now();
  let v = stage.onRequest(ctx);
  if (v instanceof Promise) v = await v;
  return { v, ns: Number(now() - t0) };
}

/** The detect stage at its defaults, from a config, as `portcullis start` builds it. */
async function buildStage(log) {
  const { parseConfig } = await dist('config/load.js');
  const { STAGE_KINDS } = await dist('stages/registry.js');
  const { systemClock } = await dist('gateway/stage.js');
  await likeTheGateway();
  const text = `
listeners: { http: { port: 8080 } }
upstreams: { demo: { targets: ['http://127.0.0.1:3000'] } }
routes:
  - { name: bench, paths: [/], methods: [GET], upstream: demo, auth: { public: true }, stages: [{ type: detect }] }
`;
  const config = parseConfig(text, 'bench.yaml', { env: {}, stageKinds: STAGE_KINDS });
  const entry = config.routes[0].stages[0];
  const { type: _type, enabled: _enabled, enforce: _enforce, ...settings } = entry;
  return STAGE_KINDS.get('detect').create(settings, { clock: systemClock, log });
}

export async function runDetectInProcess({ iterations = 20_000, warmup = 2_000 } = {}) {
  const log = pino({ level: 'silent' });
  const stage = await buildStage(log);
  const list = cases();
  for (const c of list) {
    const { v } = await call(stage, context(fresh(c.request(0)), log));
    if (!v.continue) throw new Error(`${c.name}: refused (${v.problem.reason}), expected to pass`);
  }
  const samples = list.map(() => []);
  // The cases interleaved, so that none has the JIT or the caches to itself; each request
  // made (untimed) just before its call, of new strings as the HTTP parser makes them.
  for (let i = 0; i < warmup + iterations; i++) {
    for (let k = 0; k < list.length; k++) {
      const { v, ns } = await call(stage, context(fresh(list[k].request(i)), log));
      if (!v.continue)
        throw new Error(`${list[k].name}: request ${i} refused (${v.problem.reason})`);
      if (i >= warmup) samples[k].push(ns);
    }
  }
  // An attack in each case, the cache warm with its benign values: refused all the same.
  for (const c of list) {
    const req = c.request(0);
    const attacked = {
      ...req,
      ...c.attack,
      headers: { ...req.headers, ...c.attack.headers },
    };
    const { v } = await call(stage, context(fresh(attacked), log));
    if (v.continue) throw new Error(`${c.name}: the planted attack was let through`);
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    iterations,
    warmup,
    rows: [
      ...list.map((c, k) => summarize(c.name, 'detect', samples[k])),
      summarize('every request above', 'detect', samples.flat()),
    ],
  };
}

export function formatDetectText(result) {
  return [
    `detect in-process, ${result.iterations} iterations after ${result.warmup} of warm-up, Node ${result.node}`,
    formatRows(result.rows, [{ header: 'mean µs', cell: (r) => r.mean.toFixed(2) }]),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runAsCommand(
    'detect-inprocess',
    { iterations: 20_000, warmup: 2_000 },
    runDetectInProcess,
    formatDetectText,
  );
}
