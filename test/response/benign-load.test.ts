import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BehaviourDetectors } from '../../src/response/behaviour-detectors.js';
import { usernameDigest } from '../../src/stages/login-failures/login-failures.js';
import type { Detection } from '../../src/response/detection.js';
import { RedisClusterState } from '../../src/state/cluster/redis-cluster-state.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import { responseConfig } from './response-config.js';

const log = pino({ level: 'silent' });
const PREFIX = `pcltest:${randomUUID()}:`;

afterAll(async () => {
  await deleteRedisKeys(PREFIX);
});

/** A small deterministic generator: the same "random" load on every run. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

const fingerprint = (consumer: number) => `fp:${consumer.toString(16).padStart(12, '0')}`;

const MISSING = ['/favicon.ico', '/robots.txt', '/', '/order', '/orders/', '/api/orders', '/docs'];

/** One in fifty orders was deleted meanwhile (404); one in two hundred meets an upstream hiccup. */
function orderStatus(roll: number): number {
  if (roll < 0.003) return 502;
  if (roll < 0.005) return 504;
  return roll < 0.025 ? 404 : 200;
}

describe('a benign demo load', () => {
  it('raises no detection over 10 simulated minutes at the default thresholds', async () => {
    const clock = { t: 1_800_000_000_000, now: () => clock.t, monotonic: () => clock.t };
    const cluster = new RedisClusterState({ url: REDIS_URL, keyPrefix: PREFIX }, { clock, log });
    const found: Detection[] = [];
    const config = responseConfig();
    const detectors = new BehaviourDetectors({
      cluster,
      clock,
      log,
      config: () => config,
      report: (d) => found.push(d),
    });
    const random = lcg(42);
    const consumers = Array.from({ length: 20 }, (_, i) => `demo-${i}`);
    let requests = 0;
    let syncRequests = 0;
    try {
      // 10 minutes, 20 requests a second: demo consumers reading and writing their own orders,
      // now and then a mistyped or expired key, a deleted order (404), a forbidden admin call,
      // an upstream that fails or times out (502, 504), a path that no route declares, a
      // mistyped password.
      for (let second = 0; second < 600; second++) {
        for (let i = 0; i < 20; i++) {
          const c = Math.floor(random() * consumers.length);
          const consumer = consumers[c] as string;
          // Mostly from its office, now and then from one of its people's phones or homes.
          const ip =
            random() < 0.7
              ? `198.51.100.${c + 1}`
              : `203.0.113.${c * 6 + Math.floor(random() * 6)}`;
          const roll = random();
          requests++;
          if (roll < 0.01) {
            detectors.observeDeny({
              requestId: `r${requests}`,
              reason: 'authn.api_key.expired',
              status: 401,
              enforced: true,
              stage: 'authn',
              route: 'orders',
              method: 'GET',
              path: '/orders',
              clientIp: ip,
              credential: fingerprint(c),
            });
          } else if (roll < 0.015) {
            detectors.observeDeny({
              requestId: `r${requests}`,
              reason: 'authz.admin.required',
              status: 403,
              enforced: true,
              stage: 'authz',
              route: 'admin',
              method: 'GET',
              path: '/admin/stats',
              clientIp: ip,
              consumer,
            });
          } else if (roll < 0.03) {
            // A person mistypes their password at the login (the upstream answers 401).
            detectors.observeLoginFailure({
              requestId: `r${requests}`,
              route: 'login',
              clientIp: ip,
              username: usernameDigest(`${consumer}@example.com`),
              status: 401,
            });
          } else if (roll < 0.035) {
            // A path no route declares: the browser's favicon, a stale link, a typo.
            detectors.observeDeny({
              requestId: `r${requests}`,
              reason: 'route.not_found',
              status: 404,
              enforced: true,
              stage: 'route',
              route: undefined,
              method: 'GET',
              path: MISSING[Math.floor(random() * MISSING.length)] as string,
              clientIp: ip,
            });
          } else {
            // Its own orders, 1 to 40 each; one in fifty was deleted meanwhile.
            const id = c * 1000 + Math.floor(random() * 40);
            detectors.observeDone({
              requestId: `r${requests}`,
              route: 'orders',
              method: random() < 0.8 ? 'GET' : 'PUT',
              path: `/orders/${id}`,
              status: orderStatus(random()),
              clientIp: ip,
              durationMs: 3,
              consumer,
              credential: fingerprint(c),
            });
          }
        }
        // A partner's sync job: 6 to 10 requests a second, rising and falling over the ten
        // minutes, learned by the volume baseline and judged once it is warm.
        const rate = 8 + 2 * Math.sin((2 * Math.PI * second) / 600);
        for (let i = Math.floor(rate + random()); i > 0; i--) {
          syncRequests++;
          detectors.observeDone({
            requestId: `s${syncRequests}`,
            route: 'catalog',
            method: 'GET',
            path: `/catalog/items/${Math.floor(random() * 5000)}`,
            status: 200,
            clientIp: '192.0.2.10',
            durationMs: 5,
            consumer: 'demo-sync',
            credential: fingerprint(99),
          });
        }
        clock.t += 1000;
        if (second % 5 === 4) await detectors.flush();
      }
      await detectors.flush();
    } finally {
      await cluster.close();
    }
    expect(requests).toBe(12_000);
    expect(syncRequests).toBeGreaterThan(4000);
    expect(found).toEqual([]);
  }, 120_000);
});
