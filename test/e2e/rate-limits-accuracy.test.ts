import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { burst } from '../support/burst.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import { startSlowUpstream, type SlowUpstream } from '../support/slow-upstream.js';

/**
 * The limits are exact across processes: 100 per 10 s on one key, 2,000 concurrent attempts,
 * whether the attempts are spread over three gateways sharing one Redis or over the four
 * workers of one gateway (the in-process backend, counted in the cluster primary). Counting
 * alone, each process would admit its own 100.
 */

const PREFIX = `pcl-test-limits-${randomUUID().slice(0, 8)}:`;
let upstream: SlowUpstream;
const gateways: GatewayProcess[] = [];

function config(backend: 'local' | 'redis'): string {
  const dir = mkdtempSync(join(tmpdir(), `pcl-accuracy-${backend}-`));
  return writeConfig(
    `
listeners: {http: {host: 127.0.0.1, port: 0}}
logging: {level: info, access: false}
upstreams: {api: {targets: ['${upstream.url}']}}
rateLimits:
  hundred:
    key: [route]
    rate: {limit: 100, windowSeconds: 10, algorithm: sliding-window}
    backend: ${backend}
    # Accuracy, not the failure policy, is under test: a loaded machine may answer slowly.
    timeoutMs: 10000
routes:
  - {name: hot, paths: [/hot], methods: [GET], upstream: api, auth: {public: true},
     rateLimits: {policies: [hundred]}}
state:
  store: {sqlite: {path: ${join(dir, 'portcullis.db')}}}
  cluster: {redisUrl: '${REDIS_URL}', keyPrefix: '${PREFIX}'}
`,
    dir,
  );
}

beforeAll(async () => {
  upstream = await startSlowUpstream();
}, 30_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await deleteRedisKeys(PREFIX);
});

describe('accuracy across processes', () => {
  it('admits 99 to 100 of 2,000 concurrent attempts over three gateways sharing one Redis', async () => {
    const file = config('redis');
    // One after the other: three starting at once on a busy machine can miss the start timeout.
    const three: GatewayProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const gw = await startGateway(file);
      gateways.push(gw);
      three.push(gw);
    }
    const before = upstream.served();
    const started = performance.now();
    const counts = await burst(
      three.map((g) => g.http ?? 0),
      '/hot',
      2_000,
    );
    // Within one window, or a second 100 would rightly be admitted.
    expect(performance.now() - started).toBeLessThan(10_000);
    const admitted = counts.get(200) ?? 0;
    expect(admitted).toBeGreaterThanOrEqual(99);
    expect(admitted).toBeLessThanOrEqual(100);
    expect(counts.get(429)).toBe(2_000 - admitted);
    expect(upstream.served() - before).toBe(admitted);
  }, 60_000);

  it('admits 99 to 100 of 2,000 concurrent attempts over the four workers of one gateway', async () => {
    const gw = await startGateway(config('local'), ['--workers', '4'], undefined, 30_000);
    gateways.push(gw);
    // Every worker up, so that the kernel spreads the connections over all four.
    const deadline = Date.now() + 20_000;
    while (gw.logs.filter((l) => l.msg === 'gateway ready').length < 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    const counts = await burst([gw.http ?? 0], '/hot', 2_000, 128);
    expect(performance.now() - started).toBeLessThan(10_000);
    const admitted = counts.get(200) ?? 0;
    expect(admitted).toBeGreaterThanOrEqual(99);
    expect(admitted).toBeLessThanOrEqual(100);
    expect(counts.get(429)).toBe(2_000 - admitted);
  }, 60_000);
});
