// What a rate limit costs per request, measured in-process: the limits stage of a route with one
// rate limit per client IP far above the load (the one of the portcullis-limit-* setups), built
// as the gateway builds it (LimitsServices), counted in process or in the Redis at REDIS_URL.
// `concurrency` requests run its onRequest and onResponse in a loop, each waiting for its
// decision, as the connections of a gateway under load do; then one request at a time, for the
// latency of a lone request. Each backend is measured with the requests of one client (one key:
// the Redis script decides a call's requests as one run) and of `clients` clients in turn (a key
// per request of a call, as many callers give). CPU time is this process's (Node) and, read from
// INFO, the Redis server's: every client of that server counts, so use a Redis nothing else is
// using.
// See docs/limits.md (batching).
//
//   node bench/limits-inprocess.mjs [--seconds S] [--concurrency C] [--clients N] [--json]
//
// Needs `npm run build` first (it loads dist/).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pino from 'pino';
import { likeTheGateway } from './inprocess-timing.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (file) => import(path.join(ROOT, 'dist', file));
const REDIS_URL = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
const WARMUP_MS = 1_500;

/** The stage of the route `catalog` with the benchmark's one policy on `backend`. */
async function buildStage(backend, keyPrefix) {
  const { parseConfig } = await dist('config/load.js');
  const { STAGE_KINDS } = await dist('stages/registry.js');
  const { LimitTable } = await dist('stages/limits/limit-table.js');
  const { LimitsServices } = await dist('stages/limits/limits-services.js');
  await likeTheGateway();
  const config = parseConfig(
    [
      'listeners: {http: {port: 8080}}',
      'upstreams: {api: {targets: ["http://127.0.0.1:1"]}}',
      'rateLimits:',
      `  generous: {key: [ip], rate: {limit: 1000000000, windowSeconds: 1}, backend: ${backend}, timeoutMs: 1000}`,
      `state: {cluster: {redisUrl: "${REDIS_URL}", keyPrefix: "${keyPrefix}"}}`,
      'routes:',
      '  - {name: catalog, paths: [/catalog], methods: [GET], upstream: api, auth: {public: true},',
      '     rateLimits: {policies: [generous]}}',
    ].join('\n'),
    'limits-inprocess.yaml',
    { env: {}, stageKinds: STAGE_KINDS },
  );
  const services = new LimitsServices({
    local: new LimitTable(Date),
    log: pino({ level: 'silent' }),
  });
  const stage = services.build(config).stageFor(config.routes[0]);
  await services.ready();
  return { stage, services };
}

/** A request as the limits stage sees it, from `clientIp`. */
function requestOf(systemClock, log, clientIp) {
  return {
    id: 'bench',
    method: 'GET',
    path: '/catalog',
    query: '',
    params: {},
    clientIp,
    scheme: 'http',
    host: '127.0.0.1',
    route: { name: 'catalog', upstream: 'api' },
    headers: {},
    clock: systemClock,
    log,
    raw: { socket: {} },
    onFinished: () => undefined,
  };
}

async function redisCpuSeconds(admin) {
  const info = await admin.info('cpu');
  const field = (name) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** `concurrency` loops for `ms`; the checks done, their latencies and refusals. */
async function drive(stage, concurrency, ms, newRequest) {
  const latencies = [];
  let refused = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const ctx = newRequest();
      const started = performance.now();
      const verdict = await stage.onRequest(ctx);
      stage.onResponse?.(ctx, { statusCode: 200, headers: {} });
      latencies.push(performance.now() - started);
      if (!verdict.continue) refused++;
      // The next request of a connection comes in a later turn of the event loop.
      await new Promise(setImmediate);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(ms);
  stop = true;
  await Promise.all(loops);
  return { latencies, refused };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

export async function measureLimitsInProcess({ seconds, concurrency, clients }) {
  const { systemClock } = await dist('gateway/stage.js');
  const log = pino({ level: 'silent' });
  const ips = Array.from(
    { length: clients },
    (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  );
  let turn = 0;
  const oneClient = () => requestOf(systemClock, log, '127.0.0.1');
  const manyClients = () => requestOf(systemClock, log, ips[turn++ % ips.length]);
  const keyPrefix = `pcl-bench-inproc-${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const rows = [];
  try {
    for (const [backend, many] of [
      ['local', false],
      ['local', true],
      ['redis', false],
      ['redis', true],
    ]) {
      const newRequest = many ? manyClients : oneClient;
      const { stage, services } = await buildStage(backend, keyPrefix);
      try {
        await drive(stage, concurrency, WARMUP_MS, newRequest);
        const [cpu0, redis0, t0] = [
          process.cpuUsage(),
          await redisCpuSeconds(admin),
          performance.now(),
        ];
        const loaded = await drive(stage, concurrency, seconds * 1000, newRequest);
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const redisCpu = (await redisCpuSeconds(admin)) - redis0;
        const alone = await drive(stage, 1, Math.min(2_000, seconds * 500), newRequest);
        const n = loaded.latencies.length;
        const sorted = loaded.latencies.sort((a, b) => a - b);
        const aloneSorted = alone.latencies.sort((a, b) => a - b);
        if (loaded.refused + alone.refused > 0)
          throw new Error(`${backend}: the generous limit refused a request`);
        rows.push({
          backend,
          clients: many ? clients : 1,
          concurrency,
          checksPerSecond: Math.round((n / wall) * 1000),
          nodeCpuUsPerCheck: (cpu.user + cpu.system) / n,
          redisCpuUsPerCheck: backend === 'redis' ? (redisCpu * 1e6) / n : 0,
          p50Ms: quantile(sorted, 0.5),
          p99Ms: quantile(sorted, 0.99),
          aloneP50Ms: quantile(aloneSorted, 0.5),
        });
      } finally {
        await services.close();
      }
    }
  } finally {
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '50' },
      clients: { type: 'string', default: '1000' },
      json: { type: 'boolean', default: false },
    },
  });
  const rows = await measureLimitsInProcess({
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    clients: Number(values.clients),
  });
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  else
    for (const r of rows)
      console.log(
        `${r.backend.padEnd(5)}  ${String(r.clients).padStart(5)} client(s), ${r.concurrency} concurrent: ` +
          `${r.checksPerSecond} checks/s, ` +
          `CPU ${r.nodeCpuUsPerCheck.toFixed(2)} µs/check in Node + ` +
          `${r.redisCpuUsPerCheck.toFixed(2)} in Redis, p50 ${r.p50Ms.toFixed(3)} ms, ` +
          `p99 ${r.p99Ms.toFixed(3)} ms; alone: p50 ${r.aloneP50Ms.toFixed(3)} ms`,
      );
}
