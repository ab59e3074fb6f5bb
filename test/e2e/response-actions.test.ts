import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis, type CliRun } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';
import { IncidentStore } from '../../src/state/incidents/incident-store.js';

/**
 * The throttle and revoke actions on two real gateways sharing one PostgreSQL schema and one
 * Redis: a playbook throttles a brute-forcing address (its requests beyond the lower rate get
 * 429 on both gateways, everyone else is untouched) until the throttle expires, and that expiry
 * is recorded once; a consumer probing other people's orders is revoked once a human approves;
 * an operator throttles an address by hand and lifts it.
 */

const PREFIX = `pcltest:${randomUUID()}:`;

let database: TestDatabase;
let upstream: RecordingUpstream;
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

/** The incident about `subject`, as `incidents list` shows it. */
async function incidentOf(subject: string): Promise<string> {
  const list = JSON.parse((await cli('incidents', 'list', '--json')).stdout) as {
    id: string;
    subject: string;
  }[];
  return list.find((i) => i.subject === subject)?.id ?? '';
}

interface BlockJson {
  id: string;
  expiresAt: string | null;
  action: string;
  throttle: { limit: number; windowSeconds: number } | null;
  kind: string;
  subject: string;
  actor: string;
  state: string;
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  upstream = await startRecordingUpstream({
    respond: (req, res) => {
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
        bruteForce: { perClient: 10, perCredential: 1000 },
        enumeration: { distinctRefused: 10 },
        allowlist: { cidrs: ['198.51.100.0/24'] },
        playbooks: [
          {
            name: 'slow-brute-force',
            kinds: ['brute_force.client'],
            action: 'throttle',
            throttle: { limit: 3, windowSeconds: 60 },
            throttleSeconds: 15,
          },
          {
            name: 'revoke-prober',
            kinds: ['enumeration.consumer'],
            action: 'revoke',
            mode: 'propose',
          },
        ],
      },
    }),
  );
  expect((await cli('consumers', 'add', 'alice')).code).toBe(0);
  expect((await cli('consumers', 'add', 'mallory')).code).toBe(0);
  aliceKey = (await cli('keys', 'create', '--consumer', 'alice')).stdout.trim();
  malloryKey = (await cli('keys', 'create', '--consumer', 'mallory')).stdout.trim();
  for (let i = 0; i < 2; i++) gateways.push(await startGateway(file));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await database?.cleanup();
  await deleteRedisKeys(PREFIX);
});

describe('throttle and revoke playbooks on two gateways sharing one store and one Redis', () => {
  it('throttles a brute-forcing address on both gateways until the throttle expires', async () => {
    const attacker = '203.0.113.20';
    for (let i = 0; i < 12; i++) {
      const reply = await get(gatewayAt(i), attacker, '/orders', `pcl_live_${randomUUID()}`);
      // The last few may already meet the throttle: it holds within a flush of the detection.
      expect([401, 429]).toContain(reply.status);
    }
    const applied = await Promise.any(
      gateways.map((g) =>
        g.waitForLog((l) => l.event === 'response.throttle' && l.subject === attacker, 5000),
      ),
    );
    expect(applied).toMatchObject({ decision: 'applied', playbook: 'slow-brute-force' });

    // Within a second both gateways hold it to 3 requests a minute, counted together in Redis:
    // even with a valid key, of 12 requests spread over both at most 3 get through.
    await sleep(1000);
    const replies: Reply[] = [];
    for (let i = 0; i < 12; i++)
      replies.push(await get(gatewayAt(i), attacker, '/orders/1', aliceKey));
    const passed = replies.filter((r) => r.status === 200).length;
    expect(passed).toBeLessThanOrEqual(3);
    const refused = replies.filter((r) => r.status !== 200);
    expect(refused.length).toBeGreaterThanOrEqual(9);
    for (const r of refused) {
      expectProblem(r, 429, 'too-many-requests');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    const last = refused[refused.length - 1] as Reply;
    const refusedBy = gateways.find((g) => g.http === gatewayAt(11).http) as GatewayProcess;
    expect(await deniedReason(refusedBy, String(last.headers['x-request-id']))).toBe(
      'limits.throttled.ip',
    );
    // Everyone else is untouched.
    for (let i = 0; i < 10; i++) {
      expect((await get(gatewayAt(i), '192.0.2.1', '/orders/1', aliceKey)).status).toBe(200);
    }
    // The operator sees it among the blocks, as a throttle by the playbook.
    const listed = JSON.parse(
      (await cli('blocks', 'list', '--all', '--json')).stdout,
    ) as BlockJson[];
    const throttle = listed.find((b) => b.subject === attacker);
    expect(throttle).toMatchObject({
      action: 'throttle',
      throttle: { limit: 3, windowSeconds: 60 },
      kind: 'ip',
      actor: 'playbook:slow-brute-force',
    });

    // It expires on both gateways, and its expiry is recorded once across both.
    await sleep(Math.max(0, Date.parse(throttle?.expiresAt ?? '') - Date.now()) + 100);
    for (const gw of gateways) {
      expect((await get(gw, attacker, '/orders/1', aliceKey)).status).toBe(200);
    }
    await Promise.any(
      gateways.map((g) =>
        g.waitForLog((l) => l.event === 'throttle.expire' && l.block === throttle?.id, 5000),
      ),
    );
    await sleep(1500);
    const expiries = gateways.flatMap((g) =>
      g.logs.filter((l) => l.event === 'throttle.expire' && l.block === throttle?.id),
    );
    expect(expiries).toHaveLength(1);
    // ...and joins the incident's timeline.
    const incident = expiries[0]?.block === throttle?.id ? await incidentOf(attacker) : '';
    const shown = JSON.parse((await cli('incidents', 'show', incident, '--json')).stdout) as {
      timeline: { type: string }[];
    };
    expect(shown.timeline.map((e) => e.type)).toEqual(['detection', 'action', 'expiry']);
  }, 60_000);

  it('revokes a probing consumer only once a human approves, on both gateways', async () => {
    for (let i = 0; i < 15; i++) {
      const reply = await get(gatewayAt(i), '192.0.2.66', `/orders/${2000 + i}`, malloryKey);
      expect(reply.status).toBe(404);
    }
    const proposed = await Promise.any(
      gateways.map((g) =>
        g.waitForLog(
          (l) =>
            l.event === 'response.proposed' && l.action === 'revoke' && l.subject === 'mallory',
          5000,
        ),
      ),
    );
    // Proposed, not done: mallory's key still works.
    await sleep(1200);
    for (const gw of gateways)
      expect((await get(gw, '192.0.2.66', '/orders/1', malloryKey)).status).toBe(200);

    const approve = await cli('incidents', 'approve', String(proposed.proposal));
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain('disabled consumer mallory');
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, '192.0.2.66', '/orders/1', malloryKey)).status, {
          timeout: 1000,
        })
        .toBe(401);
      expect((await get(gw, '192.0.2.1', '/orders/1', aliceKey)).status).toBe(200);
    }
    const shown = JSON.parse(
      (await cli('incidents', 'show', String(proposed.incident), '--json')).stdout,
    ) as {
      timeline: { type: string; summary: string }[];
      proposals: { action: string; status: string }[];
    };
    expect(shown.proposals).toMatchObject([{ action: 'revoke', status: 'approved' }]);
    expect(shown.timeline.map((e) => e.type)).toEqual([
      'detection',
      'proposal',
      'approval',
      'action',
    ]);
    expect(shown.timeline[3]?.summary).toBe('disabled consumer mallory');
  }, 60_000);

  it('carries out an approved throttle proposal on both gateways', async () => {
    const ip = '203.0.113.88';
    // A proposal as a playbook in propose mode leaves it (playbooks.test.ts covers that part).
    const db = await database.open();
    const incidents = new IncidentStore(db);
    const incident = await incidents.detection({
      subjectKind: 'ip',
      subject: ip,
      severity: 'high',
      summary: 'credential_stuffing.client (high)',
      details: { failures: 4 },
      windowMs: 3_600_000,
    });
    const proposal = await incidents.propose({
      incidentId: incident,
      playbook: 'review',
      action: 'throttle',
      subjectKind: 'ip',
      subject: ip,
      blockSeconds: 600,
      throttle: { limit: 2, windowSeconds: 60 },
      reason: 'detection credential_stuffing.client (high)',
    });
    await db.close();
    // Nothing is held back before the approval.
    for (let i = 0; i < 4; i++) {
      expect((await get(gatewayAt(i), ip, '/orders/1', aliceKey)).status).toBe(200);
    }
    const approve = await cli('incidents', 'approve', proposal.id);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain(`throttled to 2 per 60 s ip ${ip} for 600 s`);
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, ip, '/orders/1', aliceKey)).status, { timeout: 1500 })
        .toBe(429);
    }
    const listed = JSON.parse((await cli('blocks', 'list', '--json')).stdout) as BlockJson[];
    expect(listed.find((b) => b.subject === ip)).toMatchObject({
      action: 'throttle',
      throttle: { limit: 2, windowSeconds: 60 },
      actor: expect.stringContaining(`(approved ${proposal.id})`) as unknown,
    });
  }, 30_000);

  it('lets an operator throttle an address by hand, list it, and lift it', async () => {
    const ip = '203.0.113.77';
    const added = await cli(
      'blocks',
      'add',
      '--ip',
      ip,
      '--throttle',
      '2/1m',
      '--reason',
      'noisy',
      '--json',
    );
    expect(added.code, added.stderr).toBe(0);
    const made = JSON.parse(added.stdout) as BlockJson;
    expect(made).toMatchObject({ action: 'throttle', throttle: { limit: 2, windowSeconds: 60 } });
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, ip, '/orders/1', aliceKey)).status, { timeout: 1500 })
        .toBe(429);
    }
    // A range cannot be throttled: each throttle counts for one address.
    const range = await cli(
      'blocks',
      'add',
      '--ip',
      '203.0.113.0/24',
      '--throttle',
      '2/1m',
      '--reason',
      'x',
    );
    expect(range.code).not.toBe(0);
    expect(range.stderr).toContain('not a range');
    expect((await cli('blocks', 'remove', made.id)).code).toBe(0);
    for (const gw of gateways) {
      await expect
        .poll(async () => (await get(gw, ip, '/orders/1', aliceKey)).status, { timeout: 1500 })
        .toBe(200);
    }
  }, 30_000);
});
