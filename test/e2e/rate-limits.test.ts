import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import { startSlowUpstream, type SlowUpstream } from '../support/slow-upstream.js';

/**
 * Consumption limits through the real gateway (docs/limits.md), on the in-process backend:
 * refusals with their problem, headers and events; the client IP as resolved through trusted
 * proxies only; a concurrency limit in front of a slow upstream; a route's cost.
 */

let upstream: SlowUpstream;
let gw: GatewayProcess;
let trusting: GatewayProcess;
const keys: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

function config(dir: string, trustedProxies: string[]): string {
  return writeConfig(
    `
listeners: {http: {host: 127.0.0.1, port: 0}}
logging: {level: info, access: false}
server: {trustedProxies: ${JSON.stringify(trustedProxies)}}
upstreams: {api: {targets: ['${upstream.url}']}}
consumers: [{id: alice}, {id: bob}]
rateLimits:
  per-ip: {key: [ip], rate: {limit: 3, windowSeconds: 60}}
  per-consumer: {key: [consumer], rate: {limit: 5, windowSeconds: 60}}
  daily: {key: [consumer], quota: {limit: 8, period: day}}
  in-flight: {key: [consumer], concurrency: {limit: 2}}
  searches: {key: [consumer, route], rate: {limit: 20, windowSeconds: 60}}
  quiet: {key: [consumer], rate: {limit: 1, windowSeconds: 60}, enforce: false, headers: false}
defaults:
  auth: {methods: [api-key]}
  authz: {anyAuthenticated: true}
routes:
  - {name: open, paths: [/open], methods: [GET], upstream: api, auth: {public: true},
     rateLimits: {policies: [per-ip]}}
  - {name: account, paths: [/account], methods: [GET], upstream: api,
     rateLimits: {policies: [per-consumer, daily, quiet]}}
  - {name: slow, paths: [/slow], methods: [GET], upstream: api,
     rateLimits: {policies: [in-flight]}}
  - {name: search, paths: [/search], methods: [GET], upstream: api,
     rateLimits: {policies: [searches], cost: 10}}
state:
  store: {sqlite: {path: ${join(dir, 'portcullis.db')}}}
`,
    dir,
  );
}

beforeAll(async () => {
  upstream = await startSlowUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-limits-'));
  const file = config(dir, []);
  for (const consumer of ['alice', 'bob'] as const) {
    const created = await portcullis(['keys', 'create', '--consumer', consumer, '-c', file]);
    expect(created.code, created.stderr).toBe(0);
    keys[consumer] = created.stdout.trim();
  }
  gw = await startGateway(file);
  const trustingDir = mkdtempSync(join(tmpdir(), 'pcl-limits-trusting-'));
  trusting = await startGateway(config(trustingDir, ['127.0.0.1/32']));
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await trusting?.stop();
  await upstream?.close();
});

const as = (who: 'alice' | 'bob', path: string, gateway = gw): Promise<Reply> =>
  send(gateway.http ?? 0, { path, headers: { 'x-api-key': keys[who] } });

function deniedEvent(reply: Reply, gateway = gw): Promise<Record<string, unknown>> {
  const id = reply.headers['x-request-id'];
  return gateway.waitForLog((l) => l.event === 'request.denied' && l.requestId === id, 5_000);
}

describe('a refused request', () => {
  it('gets 429 problem+json with Retry-After and the RateLimit headers, and an event', async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 6; i++) replies.push(await as('alice', '/account'));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    // Allowed responses carry the headers too: what is left of every policy that sends them.
    expect(replies[0]?.headers['ratelimit-policy']).toBe(
      '"per-consumer";q=5;w=60, "daily";q=8;w=86400',
    );
    expect(replies[0]?.headers.ratelimit).toMatch(/^"per-consumer";r=4;t=\d+, "daily";r=7;t=\d+$/);
    expect(replies[4]?.headers.ratelimit).toMatch(/^"per-consumer";r=0;t=\d+, "daily";r=3;t=\d+$/);
    const refused = replies[5] as Reply;
    expectProblem(refused, 429, 'too-many-requests', [keys.alice]);
    // One unit every 12 s: the next one is due in (up to) 12 s.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(11);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(12);
    expect(refused.headers.ratelimit).toMatch(/^"per-consumer";r=0;t=\d+, "daily";r=3;t=\d+$/);
    const event = await deniedEvent(refused);
    expect(event).toMatchObject({
      reason: 'limits.rate.exceeded',
      stage: 'limits',
      status: 429,
      route: 'account',
      consumer: 'alice',
      clientIp: '127.0.0.1',
      details: { policy: 'per-consumer', backend: 'local', cost: 1 },
    });
    // The key is a fingerprint: not the consumer id, never the credential.
    const text = JSON.stringify(event);
    expect(text).not.toContain(keys.alice);
    expect((event.details as { key: string }).key).not.toContain('alice');
  });

  it('consumed from none of the other limits, and other consumers keep their own', async () => {
    // alice's refused request took nothing from her daily quota: 3 left, as before it.
    const bob = await as('bob', '/account');
    expect(bob.status).toBe(200);
    expect(bob.headers.ratelimit).toMatch(/"per-consumer";r=4;.*"daily";r=7;/);
  });

  it('records a shadow policy refusal without refusing', async () => {
    // `quiet` allows 1 a minute and is not enforced: bob's second request is let through, noted.
    const second = await as('bob', '/account');
    expect(second.status).toBe(200);
    const id = second.headers['x-request-id'];
    const shadow = await gw.waitForLog(
      (l) => l.event === 'request.denied.shadow' && l.requestId === id,
      5_000,
    );
    expect(shadow).toMatchObject({ reason: 'limits.rate.exceeded', details: { policy: 'quiet' } });
    // A policy with headers: false is not in the headers.
    expect(second.headers['ratelimit-policy']).not.toContain('quiet');
  });

  it('charges the route cost: two searches of 10 units use a budget of 20', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await as('bob', '/search')).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('the client IP', () => {
  // An untrusted peer's X-Forwarded-For is ignored: every spoofed address is 127.0.0.1.
  it.each([
    { gateway: 'untrusting', admitted: 3 },
    // The same requests through a gateway that trusts 127.0.0.1: each forwarded address is a
    // client of its own (proving the spoofed headers would be a fresh budget if believed).
    { gateway: 'trusting', admitted: 6 },
  ])(
    '$gateway: six requests with six X-Forwarded-For addresses, $admitted admitted',
    async ({ gateway, admitted }) => {
      const target = gateway === 'trusting' ? trusting : gw;
      const statuses: number[] = [];
      for (let i = 1; i <= 6; i++) {
        const reply = await send(target.http ?? 0, {
          path: '/open',
          headers: { 'x-forwarded-for': `203.0.113.${i}`, forwarded: `for=198.51.100.${i}` },
        });
        statuses.push(reply.status);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(admitted);
    },
  );

  it('counts IPv6 clients by their /64', async () => {
    // Behind the trusting gateway: two addresses of one /64 share a budget, another /64 has its own.
    const from = async (ip: string) =>
      (await send(trusting.http ?? 0, { path: '/open', headers: { 'x-forwarded-for': ip } }))
        .status;
    const statuses = [];
    for (const ip of [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:db8:1:2:ffff::9',
      '2001:db8:1:2::3',
    ])
      statuses.push(await from(ip));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await from('2001:db8:1:3::1')).toBe(200);
  });
});

describe('a concurrency limit in front of a slow upstream', () => {
  it('admits two requests in flight per consumer, refuses the rest, and frees slots when they end', async () => {
    const before = upstream.served();
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => as('alice', '/slow?delay=400')),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429, 429]);
    expect(upstream.served() - before).toBe(2);
    const refused = replies.find((r) => r.status === 429) as Reply;
    expect((await deniedEvent(refused)).reason).toBe('limits.concurrency.exceeded');
    // bob is another consumer: his slots are his own.
    expect((await as('bob', '/slow?delay=0')).status).toBe(200);
    // Both finished: both slots are free again.
    const again = await Promise.all([as('alice', '/slow?delay=50'), as('alice', '/slow?delay=50')]);
    expect(again.map((r) => r.status)).toEqual([200, 200]);
  });

  it('frees the slot of a client that hangs up', async () => {
    const aborted = [0, 1].map(() =>
      send(gw.http ?? 0, {
        path: '/slow?delay=5000',
        headers: { 'x-api-key': keys.alice },
        timeoutMs: 200,
      }).catch(() => 'aborted'),
    );
    expect(await Promise.all(aborted)).toEqual(['aborted', 'aborted']);
    // The upstream is still answering them; the gateway let their slots go.
    await new Promise((r) => setTimeout(r, 100));
    expect((await as('alice', '/slow?delay=0')).status).toBe(200);
  });
});
