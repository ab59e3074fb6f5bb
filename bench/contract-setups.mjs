// The contract setups of `npm run bench`: the pass-through config with a second route, POST
// /accounts/acc_1001/orders, sent a 1 KB JSON order on every request; once without contract
// validation and once with it (the demo spec, request enforced). Contract validation costs
// (rps(portcullis-post-1k) − rps(portcullis-contract-post-1k)) ÷ rps(portcullis-post-1k).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEMO_SPEC = path.join(ROOT, 'src/demo/openapi.yaml');
export const CONTRACT_PATH = '/accounts/acc_1001/orders';

/** A valid new order of the demo spec (catalog skus), exactly 1024 bytes of JSON. */
export function orderBody(bytes = 1024) {
  const items = [];
  const text = () => JSON.stringify({ items });
  const skus = ['WIDGET-1', 'GADGET-2', 'GIZMO-3', 'SPROCKET-4', 'FLANGE-5', 'HINGE-8'];
  for (let i = 0; Buffer.byteLength(text()) < bytes - 30; i++)
    items.push({ sku: skus[i % skus.length], qty: (i % 9) + 1 });
  // Whitespace between tokens, to the byte: still the same JSON document.
  const body = text().replace(/\]\}$/, (end) => `]${' '.repeat(bytes - text().length)}}`);
  if (Buffer.byteLength(body) !== bytes) throw new Error(`order body is ${body.length} bytes`);
  return body;
}

export const CONTRACT_SETUPS = [
  { name: 'portcullis-post-1k', kind: 'portcullis', stages: [], workers: 1, contract: false },
  {
    name: 'portcullis-contract-post-1k',
    kind: 'portcullis',
    stages: [],
    workers: 1,
    contract: true,
  },
];

/** Adds the orders route (and, for the contract setup, the spec and the route's contract). */
export function applyContract(config, setup) {
  const route = {
    name: 'orders',
    paths: ['/accounts/:accountId/orders'],
    methods: ['POST'],
    upstream: 'demo',
    auth: { public: true },
    stages: [],
  };
  if (setup.contract) {
    config.specs = { demo: { file: DEMO_SPEC } };
    route.contract = { spec: 'demo', request: 'enforce', response: 'off' };
  }
  config.routes.push(route);
}

/** What the load sends for a contract setup. */
export function contractRequest() {
  return {
    method: 'POST',
    body: orderBody(),
    headers: { 'content-type': 'application/json' },
  };
}
