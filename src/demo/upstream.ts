import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIPv6 } from 'node:net';

/**
 * The demo upstream Portcullis protects in `npm start`: a small accounts-and-orders REST API
 * with in-memory seeded data, described by `openapi.yaml` beside this file.
 *
 * It is vulnerable by design, the way many real backends are, because it trusts the gateway
 * in front of it. Each flaw is one a later gateway stage is shown to stop:
 * - no authentication or authorization at all: any account or order by id (BOLA);
 * - `internalRiskScore` is returned to everyone though only admins should see it;
 * - `PATCH /accounts/{id}` also accepts `balance` and `tier` (mass assignment);
 * - an order line's `qty` is only checked to be an integer, so a negative one makes a refund;
 * - `X-Powered-By` names the software on every response.
 *
 * `/internal/owners/...` answers who owns an account or order: the gateway's ownership lookups
 * ask it directly, and no route of the gateway leads there.
 */

export interface DemoUpstreamOptions {
  host?: string;
  port?: number;
}

export interface DemoUpstream {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Tier = 'free' | 'pro' | 'enterprise';
type OrderStatus = 'pending' | 'paid' | 'shipped' | 'cancelled';

interface Account {
  id: string;
  ownerId: string;
  name: string;
  email: string;
  balance: number;
  tier: Tier;
  internalRiskScore: number;
}

interface OrderItem {
  sku: string;
  qty: number;
  price: number;
}

interface Order {
  id: string;
  accountId: string;
  items: OrderItem[];
  total: number;
  status: OrderStatus;
}

interface Store {
  readonly accounts: Map<string, Account>;
  readonly orders: Map<string, Order>;
  nextOrder: number;
}

const TIERS: readonly Tier[] = ['free', 'pro', 'enterprise'];
const isTier = (v: unknown): v is Tier => TIERS.some((t) => t === v);
const MAX_BODY_BYTES = 64 * 1024;
const PROBLEM_TYPE_BASE = 'https://portcullis.dev/demo/problems/';
const POWERED_BY = 'portcullis-demo-upstream';

const PRODUCTS = [
  { sku: 'WIDGET-1', name: 'Widget', price: 9.99 },
  { sku: 'GADGET-2', name: 'Gadget', price: 24.5 },
  { sku: 'GIZMO-3', name: 'Gizmo', price: 99 },
  { sku: 'SPROCKET-4', name: 'Sprocket', price: 1.75 },
  { sku: 'FLANGE-5', name: 'Flange', price: 4.2 },
  { sku: 'GASKET-6', name: 'Gasket', price: 0.85 },
  { sku: 'BRACKET-7', name: 'Bracket', price: 3.6 },
  { sku: 'HINGE-8', name: 'Hinge', price: 2.95 },
  { sku: 'LATCH-9', name: 'Latch', price: 6.4 },
  { sku: 'PULLEY-10', name: 'Pulley', price: 18 },
] as const;

const PRICE_CENTS: ReadonlyMap<string, number> = new Map(
  PRODUCTS.map((p) => [p.sku, Math.round(p.price * 100)]),
);

/** The benchmark's "1 KB JSON GET": exactly this many bytes, built once. */
const CATALOG_BYTES = 1024;

function buildCatalog(): Buffer {
  const doc = { version: 1, currency: 'EUR', products: PRODUCTS, note: '' };
  const missing = CATALOG_BYTES - Buffer.byteLength(JSON.stringify(doc));
  if (missing < 0) throw new Error(`demo catalog is over ${CATALOG_BYTES} bytes`);
  // ASCII filler with nothing JSON escapes, so one character is one byte.
  doc.note = 'Prices are per unit and include VAT. '
    .repeat(Math.ceil(missing / 37))
    .slice(0, missing);
  const body = Buffer.from(JSON.stringify(doc));
  if (body.length !== CATALOG_BYTES) throw new Error('demo catalog has the wrong size');
  return body;
}

const CATALOG_BODY = buildCatalog();
const CATALOG_HEADERS = {
  'content-type': 'application/json',
  'content-length': String(CATALOG_BODY.length),
  'cache-control': 'public, max-age=60',
  'x-powered-by': POWERED_BY,
};

function seed(): Store {
  const account = (
    n: number,
    owner: string,
    name: string,
    balance: number,
    tier: Tier,
    risk: number,
  ): [string, Account] => [
    `acc_${n}`,
    {
      id: `acc_${n}`,
      ownerId: `user_${owner}`,
      name,
      email: `${owner}@example.com`,
      balance,
      tier,
      internalRiskScore: risk,
    },
  ];
  const order = (
    n: number,
    accountId: string,
    lines: [string, number][],
    status: OrderStatus,
  ): [string, Order] => {
    const items = lines.map(([sku, qty]) => ({
      sku,
      qty,
      price: (PRICE_CENTS.get(sku) ?? 0) / 100,
    }));
    return [`ord_${n}`, { id: `ord_${n}`, accountId, items, total: totalOf(items), status }];
  };
  return {
    accounts: new Map([
      account(1001, 'alice', 'Alice Anders', 1250.75, 'pro', 12),
      account(1002, 'bob', 'Bob Brown', 89.1, 'free', 47),
      account(1003, 'carol', 'Carol Chen', 50210, 'enterprise', 3),
    ]),
    orders: new Map([
      order(
        5001,
        'acc_1001',
        [
          ['WIDGET-1', 2],
          ['GADGET-2', 1],
        ],
        'shipped',
      ),
      order(5002, 'acc_1001', [['GIZMO-3', 1]], 'pending'),
      order(5003, 'acc_1002', [['SPROCKET-4', 10]], 'paid'),
    ]),
    nextOrder: 5004,
  };
}

function totalOf(items: readonly OrderItem[]): number {
  // In cents, so that 3 x 0.85 is 2.55 and not 2.5500000000000003.
  let cents = 0;
  for (const item of items) cents += Math.round(item.price * 100) * item.qty;
  return cents / 100;
}

type Params = Readonly<Record<string, string>>;
type Handler = (store: Store, req: IncomingMessage, res: ServerResponse, params: Params) => unknown;

interface Route {
  /** Path segments; `:name` is a parameter. */
  readonly segments: readonly string[];
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly allow: string;
}

function route(path: string, handlers: Record<string, Handler>): Route {
  const methods = Object.keys(handlers);
  if (methods.includes('GET')) methods.splice(methods.indexOf('GET') + 1, 0, 'HEAD');
  return {
    segments: path.split('/').slice(1),
    handlers: new Map(Object.entries(handlers)),
    allow: methods.join(', '),
  };
}

const ROUTES: readonly Route[] = [
  route('/catalog', { GET: getCatalog }),
  route('/health', { GET: getHealth }),
  route('/accounts', { GET: listAccounts }),
  route('/accounts/:accountId', { GET: getAccount, PATCH: patchAccount }),
  route('/accounts/:accountId/orders', { GET: listOrders, POST: createOrder }),
  route('/orders/:orderId', { GET: getOrder }),
  route('/admin/accounts/:accountId', { DELETE: deleteAccount }),
  // For the gateway only (its ownership lookups), never routed to clients.
  route('/internal/owners/accounts/:accountId', { GET: accountOwner }),
  route('/internal/owners/orders/:orderId', { GET: orderOwner }),
];

/** Static paths first: the benchmark's /catalog must not pay for the pattern walk. */
const STATIC_ROUTES: ReadonlyMap<string, Route> = new Map(
  ROUTES.filter((r) => r.segments.every((s) => !s.startsWith(':'))).map((r) => [
    '/' + r.segments.join('/'),
    r,
  ]),
);
const PATTERN_ROUTES = ROUTES.filter((r) => r.segments.some((s) => s.startsWith(':')));

const NO_PARAMS: Params = Object.freeze({});

function match(path: string): { route: Route; params: Params } | undefined {
  const fixed = STATIC_ROUTES.get(path);
  if (fixed !== undefined) return { route: fixed, params: NO_PARAMS };
  const parts = path.split('/').slice(1);
  for (const r of PATTERN_ROUTES) {
    if (r.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const seg = r.segments[i] ?? '';
      const part = parts[i] ?? '';
      if (seg.startsWith(':')) {
        if (part === '') ok = false;
        else params[seg.slice(1)] = part;
      } else if (seg !== part) ok = false;
    }
    if (ok) return { route: r, params };
  }
  return undefined;
}

function handle(store: Store, req: IncomingMessage, res: ServerResponse): unknown {
  const requestId = req.headers['x-request-id'];
  if (typeof requestId === 'string') res.setHeader('x-request-id', requestId);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const found = match(path);
  if (found === undefined) return problem(res, 404, 'not-found', 'No such resource');
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
  const handler = found.route.handlers.get(method);
  if (handler === undefined) {
    return problem(res, 405, 'method-not-allowed', 'Method not allowed on this resource', {
      allow: found.route.allow,
    });
  }
  // HEAD runs the GET handler: node:http sends the headers and drops the body.
  return handler(store, req, res, found.params);
}

function getCatalog(_store: Store, _req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, CATALOG_HEADERS);
  res.end(CATALOG_BODY);
}

function getHealth(_store: Store, _req: IncomingMessage, res: ServerResponse): void {
  json(res, 200, { status: 'ok' });
}

function listAccounts(store: Store, _req: IncomingMessage, res: ServerResponse): void {
  // Flaw by design: every account of every owner, internalRiskScore included.
  json(res, 200, { items: [...store.accounts.values()] });
}

function getAccount(store: Store, _req: IncomingMessage, res: ServerResponse, p: Params): void {
  const account = store.accounts.get(p.accountId ?? '');
  if (account === undefined) return void problem(res, 404, 'not-found', 'No such account');
  json(res, 200, account);
}

async function patchAccount(
  store: Store,
  req: IncomingMessage,
  res: ServerResponse,
  p: Params,
): Promise<void> {
  const account = store.accounts.get(p.accountId ?? '');
  if (account === undefined) return void problem(res, 404, 'not-found', 'No such account');
  const patch = await readJsonObject(req, res, 'PATCH');
  if (patch === undefined) return;
  const next = { ...account };
  if ('name' in patch) {
    if (typeof patch.name !== 'string' || patch.name === '') return invalid(res, 'name');
    next.name = patch.name;
  }
  if ('email' in patch) {
    if (typeof patch.email !== 'string' || !patch.email.includes('@')) return invalid(res, 'email');
    next.email = patch.email;
  }
  // Flaw by design (mass assignment): the form only edits name and email, but the handler
  // copies balance and tier too. The contract stage refuses these fields at the gateway.
  if ('balance' in patch) {
    if (typeof patch.balance !== 'number' || !Number.isFinite(patch.balance)) {
      return invalid(res, 'balance');
    }
    next.balance = patch.balance;
  }
  if ('tier' in patch) {
    if (!isTier(patch.tier)) return invalid(res, 'tier');
    next.tier = patch.tier;
  }
  store.accounts.set(account.id, next);
  json(res, 200, next);
}

function listOrders(store: Store, req: IncomingMessage, res: ServerResponse, p: Params): void {
  const accountId = p.accountId ?? '';
  if (!store.accounts.has(accountId)) return void problem(res, 404, 'not-found', 'No such account');
  // ?status=paid&status=shipped and ?limit=N, read naively: the gateway checks them (openapi.yaml).
  const query = new URL(req.url ?? '/', 'http://demo').searchParams;
  const statuses = query.getAll('status');
  const limit = Number(query.get('limit') ?? Infinity);
  const items = [...store.orders.values()]
    .filter((o) => o.accountId === accountId)
    .filter((o) => statuses.length === 0 || statuses.includes(o.status))
    .slice(0, Number.isNaN(limit) ? undefined : limit);
  json(res, 200, { items });
}

async function createOrder(
  store: Store,
  req: IncomingMessage,
  res: ServerResponse,
  p: Params,
): Promise<void> {
  const accountId = p.accountId ?? '';
  if (!store.accounts.has(accountId)) return void problem(res, 404, 'not-found', 'No such account');
  const body = await readJsonObject(req, res, 'POST');
  if (body === undefined) return;
  const lines = body.items;
  if (!Array.isArray(lines) || lines.length === 0) return invalid(res, 'items');
  const items: OrderItem[] = [];
  for (const line of lines as unknown[]) {
    if (!isObject(line)) return invalid(res, 'items');
    const { sku, qty } = line;
    const cents = typeof sku === 'string' ? PRICE_CENTS.get(sku) : undefined;
    if (typeof sku !== 'string' || cents === undefined) return invalid(res, 'items.sku');
    // Flaw by design: any integer passes, so a negative quantity makes a negative total.
    if (typeof qty !== 'number' || !Number.isSafeInteger(qty)) return invalid(res, 'items.qty');
    items.push({ sku, qty, price: cents / 100 });
  }
  const id = `ord_${store.nextOrder++}`;
  const order: Order = { id, accountId, items, total: totalOf(items), status: 'pending' };
  store.orders.set(id, order);
  json(res, 201, order, { location: `/orders/${id}` });
}

function getOrder(store: Store, _req: IncomingMessage, res: ServerResponse, p: Params): void {
  const order = store.orders.get(p.orderId ?? '');
  if (order === undefined) return void problem(res, 404, 'not-found', 'No such order');
  json(res, 200, order);
}

function deleteAccount(store: Store, _req: IncomingMessage, res: ServerResponse, p: Params): void {
  const accountId = p.accountId ?? '';
  if (!store.accounts.delete(accountId)) {
    return void problem(res, 404, 'not-found', 'No such account');
  }
  for (const [id, order] of store.orders)
    if (order.accountId === accountId) store.orders.delete(id);
  res.writeHead(204, { 'x-powered-by': POWERED_BY });
  res.end();
}

/**
 * Who owns an account: what the gateway's ownership lookup asks (examples/portcullis.yaml), so
 * that the gateway, not this trusting upstream, refuses someone else's account.
 */
function accountOwner(store: Store, _req: IncomingMessage, res: ServerResponse, p: Params): void {
  const account = store.accounts.get(p.accountId ?? '');
  if (account === undefined) return void problem(res, 404, 'not-found', 'No such account');
  json(res, 200, { owner: account.ownerId });
}

/** Who owns an order: the owner of its account. */
function orderOwner(store: Store, _req: IncomingMessage, res: ServerResponse, p: Params): void {
  const order = store.orders.get(p.orderId ?? '');
  const account = order === undefined ? undefined : store.accounts.get(order.accountId);
  if (account === undefined) return void problem(res, 404, 'not-found', 'No such order');
  json(res, 200, { owner: account.ownerId });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(res: ServerResponse, field: string): void {
  problem(res, 400, 'invalid-request', `Invalid value for ${field}`);
}

/**
 * Reads a bounded JSON object body. On any failure it has already answered with a
 * problem and returns undefined.
 */
async function readJsonObject(
  req: IncomingMessage,
  res: ServerResponse,
  method: 'PATCH' | 'POST',
): Promise<Record<string, unknown> | undefined> {
  const raw = await readBody(req);
  if (raw === undefined) {
    // The rest of the body is unread: close rather than drain an unbounded stream.
    problem(res, 413, 'body-too-large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`, {
      connection: 'close',
    });
    return undefined;
  }
  if (!isJsonMediaType(req.headers['content-type'], method === 'PATCH')) {
    const accept: Record<string, string> =
      method === 'PATCH'
        ? { 'accept-patch': 'application/json, application/merge-patch+json' }
        : { 'accept-post': 'application/json' };
    problem(res, 415, 'unsupported-media-type', 'The body must be application/json', accept);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    problem(res, 400, 'bad-json', 'The body is not valid JSON');
    return undefined;
  }
  if (!isObject(value)) {
    problem(res, 400, 'invalid-request', 'The body must be a JSON object');
    return undefined;
  }
  return value;
}

function isJsonMediaType(contentType: string | undefined, mergePatch: boolean): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json' || (mergePatch && type === 'application/merge-patch+json');
}

/** The whole body, or undefined when it is over the limit (the rest is left unread). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done();
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  send(res, status, 'application/json', JSON.stringify(body), headers);
}

function problem(
  res: ServerResponse,
  status: number,
  kind: string,
  detail: string,
  headers?: Record<string, string>,
): void {
  const body = { type: PROBLEM_TYPE_BASE + kind, title: TITLES[kind] ?? kind, status, detail };
  send(res, status, 'application/problem+json', JSON.stringify(body), headers);
}

const TITLES: Readonly<Record<string, string>> = {
  'not-found': 'Not found',
  'method-not-allowed': 'Method not allowed',
  'bad-json': 'Malformed JSON',
  'invalid-request': 'Invalid request',
  'body-too-large': 'Request body too large',
  'unsupported-media-type': 'Unsupported media type',
  'internal-error': 'Internal error',
};

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
  headers?: Record<string, string>,
): void {
  const body = Buffer.from(text);
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': String(body.length),
    'cache-control': 'no-store',
    'x-powered-by': POWERED_BY,
  });
  res.end(body);
}

function fail(res: ServerResponse): void {
  if (res.headersSent) res.destroy();
  else problem(res, 500, 'internal-error', 'The demo upstream failed', { connection: 'close' });
}

export function startDemoUpstream(opts: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const store = seed();
  const server = createServer((req, res) => {
    try {
      const result = handle(store, req, res);
      if (result instanceof Promise) result.catch(() => fail(res));
    } catch {
      fail(res);
    }
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
      // A client mid-request would hold close() open; a demo need not wait for it long.
      setTimeout(() => server.closeAllConnections(), 1_000).unref();
    });
    return closing;
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const url = `http://${isIPv6(host) ? `[${host}]` : host}:${port}`;
      resolve({ url, port, close });
    });
  });
}
