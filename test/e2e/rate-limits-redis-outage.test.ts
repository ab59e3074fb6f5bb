import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { ownRedis, type OwnRedis } from '../support/own-redis.js';
import { expectProblem } from '../support/problem-assertions.js';
import { startSlowUpstream, type SlowUpstream } from '../support/slow-upstream.js';

/**
 * Redis slow, then gone, then back, under two gateways that share it: no request waits much
 * longer than the policy's timeout (50 ms), a `closed` policy refuses with 503, an `open` one
 * falls back to this node's own count, and shared limiting resumes once Redis is back, without
 * a restart. The Redis here is the test's own: stopping the shared one would break others.
 */

let redis: OwnRedis;
let upstream: SlowUpstream;
let a: GatewayProcess;
let b: GatewayProcess;

/** Far above the 50 ms timeout, far below what waiting for Redis would take. */
const PROMPT_MS = 750;

beforeAll(async () => {
  redis = await ownRedis();
  upstream = await startSlowUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-outage-'));
  const file = writeConfig(
    `
listeners: {http: {host: 127.0.0.1, port: 0}}
logging: {level: info, access: false}
upstreams: {api: {targets: ['${upstream.url}']}}
rateLimits:
  shared-open:
    key: [route]
    rate: {limit: 10, windowSeconds: 600, algorithm: sliding-window}
    backend: redis
    onBackendFailure: open
  shared-closed:
    key: [route]
    rate: {limit: 1000, windowSeconds: 600}
    backend: redis
routes:
  - {name: lenient, paths: [/lenient], methods: [GET], upstream: api, auth: {public: true},
     rateLimits: {policies: [shared-open]}}
  - {name: strict, paths: [/strict], methods: [GET], upstream: api, auth: {public: true},
     rateLimits: {policies: [shared-closed]}}
state:
  store: {sqlite: {path: ${join(dir, 'portcullis.db')}}}
  cluster: {redisUrl: '${redis.url}', keyPrefix: 'outage:'}
`,
    dir,
  );
  // One after the other: two starting at once on a busy machine can miss the start timeout.
  a = await startGateway(file);
  b = await startGateway(file);
}, 60_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await upstream?.close();
  await redis?.stop();
});

async function timed(gw: GatewayProcess, path: string): Promise<Reply & { ms: number }> {
  const started = performance.now();
  const reply = await send(gw.http ?? 0, { path });
  return { ...reply, ms: performance.now() - started };
}

async function statuses(gw: GatewayProcess, path: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await timed(gw, path)).status);
  return out;
}

const count = (list: number[], status: number) => list.filter((s) => s === status).length;

describe('Redis slow, down and back', () => {
  it('shares one count between the gateways while Redis is up', async () => {
    const first = [...(await statuses(a, '/lenient', 5)), ...(await statuses(b, '/lenient', 5))];
    expect(count(first, 200)).toBe(10);
    expect((await timed(a, '/lenient')).status).toBe(429);
    expect((await timed(b, '/lenient')).status).toBe(429);
  });

  it('answers within the timeout while Redis is too slow to: closed refuses with 503', async () => {
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    admin.on('error', () => undefined);
    // Redis answers nothing for 1.5 s.
    const sleeping = admin.call('DEBUG', 'SLEEP', '1.5').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const strict = await timed(a, '/strict');
    expect(strict.ms).toBeLessThan(PROMPT_MS);
    expectProblem(strict, 503, 'service-unavailable');
    const event = await a.waitForLog(
      (l) => l.event === 'request.denied' && l.requestId === strict.headers['x-request-id'],
    );
    expect(event).toMatchObject({ reason: 'limits.backend.unavailable', stage: 'limits' });
    // Open: this node's own count (the safety net starts empty), answered as promptly.
    const lenient = await timed(a, '/lenient');
    expect(lenient.ms).toBeLessThan(PROMPT_MS);
    expect(lenient.status).toBe(200);
    await sleeping;
    admin.disconnect();
  });

  it('applies each policy at once while Redis is down, and resumes shared limiting when it is back', async () => {
    await redis.stop();
    const strict = await timed(b, '/strict');
    expect(strict.ms).toBeLessThan(PROMPT_MS);
    expect(strict.status).toBe(503);
    // a's safety net already let one through (above): 9 more, then 429, each promptly.
    const started = performance.now();
    const lenient = await statuses(a, '/lenient', 12);
    expect(performance.now() - started).toBeLessThan(12 * PROMPT_MS);
    expect(lenient).toEqual([...Array<number>(9).fill(200), 429, 429, 429]);

    await redis.start();
    // Back without a restart: within a few reconnect attempts, checks go to Redis again.
    const deadline = Date.now() + 10_000;
    while ((await timed(b, '/strict')).status !== 200) {
      if (Date.now() > deadline) throw new Error('the gateway did not reconnect to Redis');
      await new Promise((r) => setTimeout(r, 50));
    }
    while ((await timed(a, '/strict')).status !== 200) {
      if (Date.now() > deadline) throw new Error('the gateway did not reconnect to Redis');
      await new Promise((r) => setTimeout(r, 50));
    }
    // The restarted Redis kept nothing: a fresh shared budget of 10, shared again. a's own
    // safety net is used up, so a admitting 5 proves it asks Redis; and 5 + 5 then 429 on
    // either proves one count.
    const again = [...(await statuses(a, '/lenient', 5)), ...(await statuses(b, '/lenient', 5))];
    expect(count(again, 200)).toBe(10);
    expect((await timed(b, '/lenient')).status).toBe(429);
    expect((await timed(a, '/lenient')).status).toBe(429);
  }, 30_000);
});
