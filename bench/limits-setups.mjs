// The consumption limit setups of `npm run bench`: the pass-through route with a generous limit
// (nothing is ever refused) counted in process or in Redis, and the accuracy run: a limit of 100
// per 10 s on one key under 2,000 concurrent attempts, spread over three gateways sharing one
// Redis, or over the four workers of one gateway (docs/limits.md).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import YAML from 'yaml';
import { startChild, stopChild, waitForOk } from './children.mjs';
import { isLocalServer } from './cpu-time.mjs';

export const REDIS_URL = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';

/** This run's Redis keys: deleted at the end, never another run's. */
const KEY_PREFIX = `pcl-bench-${randomBytes(4).toString('hex')}:`;

export const LIMITS_SETUPS = [
  { name: 'portcullis-limit-local', kind: 'portcullis', stages: [], workers: 1, limits: 'local' },
  { name: 'portcullis-limit-redis', kind: 'portcullis', stages: [], workers: 1, limits: 'redis' },
];

/** The accuracy run's limit and load. */
export const ACCURACY = { limit: 100, windowSeconds: 10, attempts: 2_000 };

/**
 * Turns the pass-through config into the limited one: a rate limit per client IP far above
 * anything the load can reach, with its RateLimit headers on (their cost is part of the price).
 */
export function applyLimits(config, setup) {
  config.rateLimits = {
    generous: {
      key: ['ip'],
      rate: { limit: 1_000_000_000, windowSeconds: 1 },
      backend: setup.limits,
      // What is measured is the price of the check. On a machine whose cores the load generator
      // and the upstream share, an answer can come later than the default 50 ms at saturation,
      // and the 503 of the failure policy would end the run.
      ...(setup.limits === 'redis' ? { timeoutMs: 1_000 } : {}),
    },
  };
  config.routes[0].rateLimits = { policies: ['generous'] };
  if (setup.limits === 'redis')
    config.state = { ...config.state, cluster: { redisUrl: REDIS_URL, keyPrefix: KEY_PREFIX } };
}

/** A limits setup must really limit: its answers carry the policy's headers. */
export function checkLimited(setup, res) {
  const policy = res.headers['ratelimit-policy'];
  if (typeof policy !== 'string' || !policy.includes('"generous"'))
    throw new Error(`${setup.name}: no RateLimit-Policy header: the limit is not applied`);
}

/** Deletes this run's Redis keys. */
export async function deleteBenchKeys() {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${KEY_PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/** The Redis server runs on this machine: its CPU time competes with the setup's for the cores. */
export function redisIsLocal() {
  return isLocalServer(REDIS_URL);
}

/**
 * The script calls the Redis server has run so far (INFO commandstats: EVALSHA and EVAL), read
 * around a measurement of portcullis-limit-redis: how many requests one round trip carried.
 * `close` ends the connection.
 */
export function redisScriptCalls() {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let connected;
  const calls = async () => {
    connected ??= redis.connect();
    await connected;
    const info = await redis.info('commandstats');
    let total = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) total += Number(m[1]);
    return total;
  };
  return { calls, close: () => redis.disconnect() };
}

/** `shared` names the count: the gateways of one case share it, the cases never do. */
function accuracyConfig(dir, name, shared, backend, { port, opsPort, upstreamUrl }) {
  const config = {
    listeners: { http: { host: '127.0.0.1', port }, ops: { host: '127.0.0.1', port: opsPort } },
    server: { watchConfig: false },
    logging: { level: 'warn', access: false },
    upstreams: { demo: { targets: [upstreamUrl] } },
    rateLimits: {
      hundred: {
        key: ['route'],
        rate: {
          limit: ACCURACY.limit,
          windowSeconds: ACCURACY.windowSeconds,
          algorithm: 'sliding-window',
        },
        backend,
        timeoutMs: 1_000,
      },
    },
    routes: [
      {
        name: 'catalog',
        paths: ['/catalog'],
        methods: ['GET'],
        upstream: 'demo',
        auth: { public: true },
        rateLimits: { policies: ['hundred'] },
      },
    ],
    state: {
      events: { recordRequests: false },
      cluster:
        backend === 'redis' ? { redisUrl: REDIS_URL, keyPrefix: `${KEY_PREFIX}${shared}:` } : {},
    },
  };
  const folder = path.join(dir, `accuracy-${name}`);
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, 'portcullis.yaml');
  writeFileSync(file, YAML.stringify(config));
  return file;
}

/** All attempts at once, round-robin over `ports`; the count of each status. */
async function burst(ports) {
  const pools = ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 128 }));
  try {
    const statuses = await Promise.all(
      Array.from({ length: ACCURACY.attempts }, async (_, i) => {
        const res = await pools[i % pools.length].request({ method: 'GET', path: '/catalog' });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    const count = (s) => statuses.filter((x) => x === s).length;
    return {
      admitted: count(200),
      refused: count(429),
      other: statuses.length - count(200) - count(429),
    };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
}

/**
 * The accuracy run: each case on gateways of its own (fresh counts), started, loaded once with
 * every attempt at once, and stopped.
 */
export async function measureAccuracy({ cli, env, dir, upstreamUrl, ports, say }) {
  const cases = [
    {
      name: 'redis-3-gateways',
      label: 'Redis, 3 gateway processes',
      backend: 'redis',
      gateways: 3,
      workers: 1,
    },
    {
      name: 'local-4-workers',
      label: 'in process, 1 gateway with 4 workers',
      backend: 'local',
      gateways: 1,
      workers: 4,
    },
  ];
  const rows = [];
  let next = 0;
  for (const c of cases) {
    const children = [];
    const httpPorts = [];
    try {
      for (let g = 0; g < c.gateways; g++) {
        const [port, opsPort] = [ports[next++], ports[next++]];
        const file = accuracyConfig(dir, `${c.name}-${g}`, c.name, c.backend, {
          port,
          opsPort,
          upstreamUrl,
        });
        const args = [cli, 'start', '-c', file];
        if (c.workers > 1) args.push('--workers', String(c.workers));
        const child = startChild(`${c.name}-${g}`, process.execPath, args, { env });
        children.push(child);
        await waitForOk(child, `http://127.0.0.1:${opsPort}/readyz`);
        httpPorts.push(port);
      }
      say(
        `accuracy: ${c.label}: ${ACCURACY.attempts} concurrent attempts on ${ACCURACY.limit} per ${ACCURACY.windowSeconds} s`,
      );
      const started = performance.now();
      const counts = await burst(httpPorts);
      const seconds = (performance.now() - started) / 1000;
      say(
        `  ${counts.admitted} admitted, ${counts.refused} refused, ${counts.other} other, in ${seconds.toFixed(2)} s`,
      );
      rows.push({ ...c, ...ACCURACY, ...counts, seconds });
    } finally {
      for (const child of children) await stopChild(child);
    }
  }
  return rows;
}
