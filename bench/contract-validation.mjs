// In-process micro-benchmark of contract validation: the contract stage of the demo's
// createOrder operation (src/demo/openapi.yaml) checking a 1 KB JSON order, already parsed, as
// the gateway runs it per request (parameters, Content-Type, undeclared properties, the ajv
// validator compiled at load). Reports the time per check, p50 and p99 over batches.
//
//   node bench/contract-validation.mjs [--iterations N]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTRACT_PATH, DEMO_SPEC, orderBody } from './contract-setups.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BATCH = 100;

async function load(rel) {
  return import(pathToFileURL(path.join(ROOT, 'dist', rel)).href);
}

export async function measureContractValidation({ iterations = 200_000 } = {}) {
  const { buildContractStages } = await load('stages/contract/contract-stages.js');
  const route = {
    name: 'orders',
    paths: ['/accounts/:accountId/orders'],
    methods: ['POST'],
    upstream: 'demo',
    auth: { public: true },
    preflight: { skipStages: [] },
    contract: {
      spec: 'demo',
      request: 'enforce',
      response: 'off',
      additionalProperties: 'refuse',
      multipart: { maxParts: 100, maxPartBytes: 1_048_576, maxHeaderBytes: 2048 },
    },
  };
  const config = {
    specs: { demo: { file: DEMO_SPEC } },
    defaults: {},
    authn: { apiKeys: { queryParam: 'api_key' } },
    routes: [route],
  };
  const stage = buildContractStages(config).stageFor(route);
  const text = orderBody();
  const value = JSON.parse(text);
  const ctx = {
    id: 'bench',
    method: 'POST',
    path: CONTRACT_PATH,
    query: '',
    params: { accountId: 'acc_1001' },
    headers: { 'content-type': 'application/json', 'content-length': String(text.length) },
    // The gateway parses the body once for every stage; what is measured is the check.
    readJsonBody: () => Promise.resolve(value),
  };
  const first = await stage.onRequest(ctx);
  if (first.continue !== true) throw new Error('the benchmark order is refused by the contract');
  const hostile = await stage.onRequest({
    ...ctx,
    readJsonBody: () => Promise.resolve({ ...value, total: 0 }),
  });
  if (hostile.continue !== false) throw new Error('the contract let an undeclared total through');
  const samples = [];
  for (let done = 0; done < iterations; done += BATCH) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) await stage.onRequest(ctx);
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / BATCH);
  }
  // The first tenth warms the JIT.
  const measured = samples.slice(Math.floor(samples.length / 10)).sort((a, b) => a - b);
  const at = (q) => measured[Math.min(measured.length - 1, Math.floor(q * measured.length))];
  return { bodyBytes: text.length, iterations, p50Us: at(0.5), p99Us: at(0.99) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200000' } } });
  const r = await measureContractValidation({ iterations: Number(values.iterations) });
  console.log(
    `contract validation of a ${r.bodyBytes}-byte JSON body: p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us.toFixed(1)} µs (${r.iterations} checks)`,
  );
}
