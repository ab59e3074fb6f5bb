import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis, type CliRun } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Detection and response on two real gateways sharing one PostgreSQL schema and one Redis: a
 * credential-stuffing run from 50 addresses behind a trusted proxy, split across both gateways,
 * is seen whole and every address is blocked on both; an allowlisted address taking part is
 * never blocked; a consumer enumerating other people's orders is caught within 50 requests.
 */

const PREFIX = `pcltest:${randomUUID()}:`;
const ALLOWLISTED = '198.51.100.7';

let database: TestDatabase;
let upstream: RecordingUpstream;
let receiver: WebhookReceiver;
const HOOK_SECRET = `whsec-${randomUUID()}`;
let file: string;
let aliceKey: string;
let malloryKey: string;
const gateways: GatewayProcess[] = [];

const cli = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gatewayAt(i: number): GatewayProcess {
  return gateways[i % gateways.length] as GatewayProcess;
}

/** A request from `client`, vouched for by the trusted proxy the test stands for. */
function get(gw: GatewayProcess, client: string, path: string, key: string): Promise<Reply> {
  return send(gw.http ?? 0, { path, headers: { 'x-forwarded-for': client, 'x-api-key': key } });
}

interface BlockJson {
  kind: string;
  subject: string;
  actor: string;
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  receiver = await startWebhookReceiver(HOOK_SECRET);
  // The demo's order store: orders 1 to 10 are alice's, every other id is not found.
  upstream = await startRecordingUpstream({
    respond: (req, res) => {
      // The accounts service refuses every password; the flaky service is down.
      if (req.url === '/signin' || req.url === '/flaky') {
        res.writeHead(req.url === '/signin' ? 401 : 503, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      const id = Number(/^\/orders\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(id >= 1 && id <= 10 ? 200 : 404, { 'content-type': 'application/json' });
      res.end('{}');
    },
  });
  file = writeConfig(
    JSON.stringify({
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      server: { trustedProxies: ['127.0.0.1/32'] },
      upstreams: { api: { targets: [upstream.origin] } },
      routes: [
        {
          name: 'login',
          paths: ['/login'],
          methods: ['GET'],
          upstream: 'api',
          auth: { methods: ['api-key'] },
          authz: { anyAuthenticated: true },
        },
        {
          name: 'signin',
          paths: ['/signin'],
          methods: ['POST'],
          upstream: 'api',
          auth: { public: true },
          stages: [{ type: 'login-failures', username: { body: '/email' } }],
        },
        {
          name: 'flaky',
          paths: ['/flaky'],
          methods: ['GET'],
          upstream: 'api',
          auth: { public: true },
        },
        {
          name: 'orders',
          paths: ['/orders', '/orders/:id'],
          methods: ['GET'],
          upstream: 'api',
          auth: { methods: ['api-key'] },
          authz: { anyAuthenticated: true },
        },
      ],
      state: {
        store: database.storeConfig,
        cluster: { redisUrl: REDIS_URL, keyPrefix: PREFIX },
      },
      response: {
        webhooks: [{ name: 'oncall', url: receiver.url, secret: 'alerts/oncall' }],
        allowlist: { cidrs: ['198.51.100.0/24'] },
        playbooks: [
          {
            name: 'block-attackers',
            kinds: ['credential_stuffing.client', 'enumeration.consumer'],
            minSeverity: 'high',
            action: 'block',
            blockSeconds: 600,
          },
          { name: 'page', kinds: ['credential_stuffing.route'], action: 'alert' },
          {
            name: 'review-brute-force',
            kinds: ['brute_force.client'],
            action: 'block',
            mode: 'propose',
            blockSeconds: 300,
          },
        ],
      },
    }),
  );
  const stored = await portcullis(['secrets', 'set', 'alerts/oncall', '-c', file], {
    stdin: `${HOOK_SECRET}\n`,
  });
  expect(stored.code, stored.stderr).toBe(0);
  expect((await cli('consumers', 'add', 'alice')).code).toBe(0);
  expect((await cli('consumers', 'add', 'mallory')).code).toBe(0);
  aliceKey = (await cli('keys', 'create', '--consumer', 'alice')).stdout.trim();
  malloryKey = (await cli('keys', 'create', '--consumer', 'mallory')).stdout.trim();
  for (let i = 0; i < 2; i++) gateways.push(await startGateway(file));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await receiver?.close();
  await database?.cleanup();
  await deleteRedisKeys(PREFIX);
});

describe('detection and response on two gateways sharing one store and one Redis', () => {
  it('blocks a credential-stuffing run from 50 addresses on both gateways within 200 requests', async () => {
    const attackers = Array.from({ length: 50 }, (_, i) => `203.0.113.${i + 1}`);
    const clients = [...attackers, ALLOWLISTED];
    let tried = 0; // requests whose credential the gateway checked (401), not refused as blocked
    let sent = 0;
    let blockedInARow = 0;
    // Round-robin over the addresses and the two gateways, one stolen key each, at a steady
    // pace, until a whole round of the 50 attackers is refused as blocked.
    while (blockedInARow < attackers.length && sent < 1000) {
      const client = clients[sent % clients.length] as string;
      const reply = await get(gatewayAt(sent), client, '/orders', `pcl_live_${randomUUID()}`);
      sent++;
      if (reply.status === 401) tried++;
      if (client !== ALLOWLISTED) blockedInARow = reply.status === 403 ? blockedInARow + 1 : 0;
      // Legitimate traffic carries on meanwhile.
      if (sent % 10 === 0) {
        expect((await get(gatewayAt(sent + 1), '192.0.2.1', '/orders/1', aliceKey)).status).toBe(
          200,
        );
      }
      await sleep(5);
    }
    expect(blockedInARow).toBe(attackers.length);
    expect(tried).toBeLessThanOrEqual(200);

    // Each attacker is refused on both gateways, before its credential is looked at.
    for (const gw of gateways) {
      for (const ip of attackers) {
        const reply = await get(gw, ip, '/orders', aliceKey);
        expect(expectProblem(reply, 403, 'forbidden').detail).toBe('The client is blocked.');
      }
      // The allowlisted address took part, but is never blocked: its bad keys still get 401.
      expect((await get(gw, ALLOWLISTED, '/orders', 'pcl_live_x')).status).toBe(401);
      expect((await get(gw, ALLOWLISTED, '/orders/2', aliceKey)).status).toBe(200);
    }
    // One block per attacker, however many nodes and detections saw it, by the playbook.
    const blocks = JSON.parse((await cli('blocks', 'list', '--json')).stdout) as BlockJson[];
    expect(blocks.map((b) => b.subject).sort()).toEqual([...attackers].sort());
    expect(new Set(blocks.map((b) => `${b.kind} ${b.actor}`))).toEqual(
      new Set(['ip playbook:block-attackers']),
    );
    // The route-wide attack was detected and alerted on, once across both gateways.
    const alerts = gateways.flatMap((g) =>
      g.logs.filter((l) => l.event === 'response.alert' && l.kind === 'credential_stuffing.route'),
    );
    expect(alerts).toHaveLength(1);
    // ...and reached the on-call webhook, signed with the secret from the store.
    await expect.poll(() => receiver.received.length, { timeout: 3000 }).toBe(1);
    const [alert] = receiver.received;
    expect(alert?.verified).toBe(true);
    expect(JSON.parse(alert?.body ?? '{}')).toMatchObject({
      type: 'portcullis.detection',
      kind: 'credential_stuffing.route',
      severity: 'critical',
      subject: { kind: 'route', value: 'orders' },
      playbook: 'page',
    });
    expect(alert?.body).not.toContain(HOOK_SECRET);
  }, 60_000);

  it('blocks a consumer enumerating other people’s orders, detected within 50 requests', async () => {
    for (let i = 0; i < 50; i++) {
      // Its own orders do not exist (404); the test stands for ids it guesses.
      const reply = await get(gatewayAt(i), '192.0.2.66', `/orders/${1000 + i}`, malloryKey);
      expect([404, 403]).toContain(reply.status);
      await sleep(5);
    }
    const detection = await Promise.any(
      gateways.map((g) =>
        g.waitForLog((l) => l.event === 'response.detection' && l.kind === 'enumeration.consumer'),
      ),
    );
    expect(detection).toMatchObject({ subjectKind: 'consumer', subject: 'mallory' });
    expect((detection.evidence as { distinct: number }).distinct).toBeLessThanOrEqual(50);
    // Blocked on both gateways, whatever address it comes from next; alice is not.
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, '192.0.2.67', '/orders/1', malloryKey)).status, {
          timeout: 2000,
        })
        .toBe(403);
      expect((await get(gw, '192.0.2.1', '/orders/1', aliceKey)).status).toBe(200);
    }
  }, 60_000);

  it('proposes a block that does nothing until a human approves it', async () => {
    const ip = '203.0.113.210';
    for (let i = 0; i < 30; i++) {
      expect((await get(gatewayAt(i), ip, '/login', `pcl_live_${randomUUID()}`)).status).toBe(401);
    }
    const proposed = await Promise.any(
      gateways.map((g) => g.waitForLog((l) => l.event === 'response.proposed' && l.subject === ip)),
    );
    // Proposed, not done: the address is still answered, well after a block would have held.
    await sleep(1500);
    for (const gw of gateways) {
      expect((await get(gw, ip, '/login', `pcl_live_${randomUUID()}`)).status).toBe(401);
    }
    const blocked = JSON.parse((await cli('blocks', 'list', '--json')).stdout) as BlockJson[];
    expect(blocked.map((b) => b.subject)).not.toContain(ip);

    // One incident tells the story, with the proposal waiting in it.
    const list = JSON.parse((await cli('incidents', 'list', '--json')).stdout) as {
      id: string;
      subject: string;
      pending: number;
    }[];
    const incident = list.find((i) => i.subject === ip);
    expect(incident).toMatchObject({ pending: 1, id: proposed.incident });
    const shown = JSON.parse(
      (await cli('incidents', 'show', String(proposed.incident), '--json')).stdout,
    ) as { timeline: { type: string }[]; proposals: { id: string; status: string }[] };
    expect(shown.timeline.map((e) => e.type)).toEqual(['detection', 'proposal']);
    expect(shown.proposals).toMatchObject([{ id: proposed.proposal, status: 'pending' }]);

    const approve = await cli('incidents', 'approve', String(proposed.proposal), '--json');
    expect(approve.code, approve.stderr).toBe(0);
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, ip, '/login', aliceKey)).status, { timeout: 1000 })
        .toBe(403);
    }
    const after = JSON.parse(
      (await cli('incidents', 'show', String(proposed.incident), '--json')).stdout,
    ) as { timeline: { type: string }[]; proposals: { status: string; block: string }[] };
    expect(after.timeline.map((e) => e.type)).toEqual([
      'detection',
      'proposal',
      'approval',
      'action',
    ]);
    expect(after.proposals[0]).toMatchObject({
      status: 'approved',
      block: expect.stringMatching(/^blk_/) as unknown,
    });

    // A proposal is decided once.
    const again = await cli('incidents', 'reject', String(proposed.proposal));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('PCL_ADMIN_CONFLICT');
  }, 60_000);
  it('sees a shared key, a scanner, a failing upstream and one account guessed at, across both gateways', async () => {
    const detected = (kind: string) => {
      const seen = Promise.any(
        gateways.map((g) =>
          g.waitForLog((l) => l.event === 'response.detection' && l.kind === kind, 30_000),
        ),
      );
      // Awaited below; a failure before then must not also surface as an unhandled rejection.
      seen.catch(() => undefined);
      return seen;
    };
    const sharing = detected('credential_sharing.credential');
    const probing = detected('probing.client');
    const spike = detected('errors.upstream_spike');
    const username = detected('brute_force.username');
    for (let i = 0; i < 40; i++) {
      const gw = gatewayAt(i);
      // Alice's key, handed round 20 addresses.
      if (i < 20)
        expect((await get(gw, `192.0.2.${100 + i}`, '/orders/3', aliceKey)).status).toBe(200);
      // A scanner walking paths no route declares.
      const scan = await send(gw.http ?? 0, {
        path: `/.well-known/probe-${i}`,
        headers: { 'x-forwarded-for': '192.0.2.200' },
      });
      expect(scan.status).toBe(404);
      // An upstream that is down.
      if (i < 25) expect((await send(gw.http ?? 0, { path: '/flaky' })).status).toBe(503);
      // One account's password guessed at from ten addresses, its name spelled two ways.
      if (i < 10) {
        const login = await send(gw.http ?? 0, {
          method: 'POST',
          path: '/signin',
          headers: { 'x-forwarded-for': `192.0.2.${150 + i}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            email: i % 2 === 0 ? 'Victim@Example.com' : 'victim@example.com',
            password: `guess-${i}`,
          }),
        });
        expect(login.status).toBe(401);
      }
    }
    const shared = await sharing;
    expect(shared).toMatchObject({
      subjectKind: 'credential',
      subject: expect.stringMatching(/^fp:/) as unknown,
    });
    expect((shared.evidence as { distinctIps: number }).distinctIps).toBeGreaterThanOrEqual(20);
    expect(await probing).toMatchObject({ subjectKind: 'ip', subject: '192.0.2.200' });
    expect(await spike).toMatchObject({ subjectKind: 'route', subject: 'flaky' });
    const guessed = await username;
    expect(guessed).toMatchObject({
      subjectKind: 'username',
      route: 'signin',
      evidence: { failures: 10 },
    });
    expect(String(guessed.subject)).toMatch(/^un:/);
    // The username never leaves the gateway in clear: not in any log line.
    for (const g of gateways) expect(JSON.stringify(g.logs).toLowerCase()).not.toContain('victim');
  }, 60_000);
});
