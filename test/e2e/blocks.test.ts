import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis, type CliRun } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';

/**
 * Blocks made with `portcullis blocks` on two real gateways sharing one PostgreSQL schema and one
 * Redis: a blocked client IP, consumer or credential is refused by both within a second, before
 * anything else is looked at, and served again once the block is removed or expires.
 */

const PREFIX = `pcltest:${randomUUID()}:`;

let database: TestDatabase;
let upstream: RecordingUpstream;
let file: string;
let aliceKey: string;
const gateways: GatewayProcess[] = [];

const cli = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);

/** A request from `client`, vouched for by the trusted proxy the test stands for. */
function get(
  gw: GatewayProcess,
  opts: { client: string; path?: string; key?: string; forwardedFor?: string },
): Promise<Reply> {
  return send(gw.http ?? 0, {
    path: opts.path ?? '/public',
    headers: {
      'x-forwarded-for': opts.forwardedFor ?? opts.client,
      ...(opts.key === undefined ? {} : { 'x-api-key': opts.key }),
    },
  });
}

/** Polls until `check` holds on every gateway; resolves with how long that took. */
async function everywhereWithin(
  limitMs: number,
  check: (gw: GatewayProcess) => Promise<boolean>,
): Promise<number> {
  const start = performance.now();
  const pending = new Set(gateways);
  for (;;) {
    for (const gw of [...pending]) if (await check(gw)) pending.delete(gw);
    const elapsed = performance.now() - start;
    if (pending.size === 0) return elapsed;
    if (elapsed > limitMs) throw new Error(`not on every gateway after ${Math.round(elapsed)} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The security event of the refusal `requestId` on `gw`. */
function deniedLine(gw: GatewayProcess, requestId: string): Promise<Record<string, unknown>> {
  return gw.waitForLog((l) => l.event === 'request.denied' && l.requestId === requestId, 5_000);
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  upstream = await startRecordingUpstream();
  file = writeConfig(
    JSON.stringify({
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      server: { trustedProxies: ['127.0.0.1/32'] },
      upstreams: { api: { targets: [upstream.origin] } },
      routes: [
        {
          name: 'public',
          paths: ['/public'],
          methods: ['GET'],
          upstream: 'api',
          auth: { public: true },
        },
        {
          name: 'orders',
          paths: ['/orders'],
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
    }),
  );
  expect((await cli('consumers', 'add', 'alice')).code).toBe(0);
  aliceKey = (await cli('keys', 'create', '--consumer', 'alice')).stdout.trim();
  for (let i = 0; i < 2; i++) gateways.push(await startGateway(file));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await database?.cleanup();
  await deleteRedisKeys(PREFIX);
});

// Each test runs several CLI commands (a process each): generous on a loaded machine.
describe(
  'portcullis blocks on two gateways sharing one store and one Redis',
  { timeout: 90_000 },
  () => {
    it('refuses a blocked client IP everywhere within a second, on every path, until removed', async () => {
      const add = await cli(
        'blocks',
        'add',
        '--ip',
        '203.0.113.9',
        '--reason',
        'scanner',
        '--json',
      );
      expect(add.code, add.stderr).toBe(0);
      const block = JSON.parse(add.stdout) as { id: string; subject: string; state: string };
      expect(block).toMatchObject({ subject: '203.0.113.9', state: 'active' });

      const elapsed = await everywhereWithin(
        1000,
        async (gw) => (await get(gw, { client: '203.0.113.9' })).status === 403,
      );
      expect(elapsed).toBeLessThan(1000);
      for (const gw of gateways) {
        // Before routing: a path no route declares is refused the same way, not 404.
        for (const path of ['/public', '/no-such-route', '/orders']) {
          const reply = await get(gw, { client: '203.0.113.9', path });
          const body = expectProblem(reply, 403, 'forbidden');
          expect(body.detail).toBe('The client is blocked.');
          const line = await deniedLine(gw, body.requestId);
          expect(line).toMatchObject({
            reason: 'blocks.blocked.ip',
            stage: 'blocks',
            clientIp: '203.0.113.9',
            details: { block: block.id, subject: '203.0.113.9' },
          });
        }
        // Another client is served.
        expect((await get(gw, { client: '203.0.113.10' })).status).toBe(200);
      }

      expect((await cli('blocks', 'remove', block.id)).code).toBe(0);
      await everywhereWithin(
        1000,
        async (gw) => (await get(gw, { client: '203.0.113.9' })).status === 200,
      );
    });

    it('refuses every address of a blocked range, IPv6 included, whatever its spelling', async () => {
      const add = await cli(
        'blocks',
        'add',
        '--ip',
        '2001:DB8:0::/32',
        '--reason',
        'bad net',
        '--json',
      );
      expect(add.code, add.stderr).toBe(0);
      const block = JSON.parse(add.stdout) as { id: string; subject: string };
      expect(block.subject).toBe('2001:db8::/32');

      await everywhereWithin(
        1000,
        async (gw) => (await get(gw, { client: '2001:db8:1::7' })).status === 403,
      );
      for (const gw of gateways) {
        expect((await get(gw, { client: '2001:db8:ffff::1' })).status).toBe(403);
        expect((await get(gw, { client: '2001:db9::1' })).status).toBe(200);
      }
      expect((await cli('blocks', 'remove', block.id)).code).toBe(0);
    });

    it('is not escaped by spoofing X-Forwarded-For: only the trusted proxy is believed', async () => {
      const add = await cli(
        'blocks',
        'add',
        '--ip',
        '203.0.113.20',
        '--reason',
        'stuffing',
        '--json',
      );
      const block = JSON.parse(add.stdout) as { id: string };
      await everywhereWithin(
        1000,
        async (gw) => (await get(gw, { client: '203.0.113.20' })).status === 403,
      );
      // The blocked client prepends a made-up address: the trusted proxy appended the real one,
      // and the right-most untrusted entry is the client.
      for (const gw of gateways) {
        const reply = await get(gw, { client: '', forwardedFor: '198.51.100.1, 203.0.113.20' });
        expect(reply.status).toBe(403);
      }
      expect((await cli('blocks', 'remove', block.id)).code).toBe(0);
    });

    it('refuses a blocked consumer and a blocked credential as soon as authentication names them', async () => {
      expect(
        (
          await get(gateways[0] as GatewayProcess, {
            client: '198.51.100.7',
            path: '/orders',
            key: aliceKey,
          })
        ).status,
      ).toBe(200);
      const add = await cli('blocks', 'add', '--consumer', 'alice', '--reason', 'abuse', '--json');
      expect(add.code, add.stderr).toBe(0);
      const block = JSON.parse(add.stdout) as { id: string };
      const request = { client: '198.51.100.7', path: '/orders', key: aliceKey };
      await everywhereWithin(1000, async (gw) => (await get(gw, request)).status === 403);
      for (const gw of gateways) {
        const body = expectProblem(await get(gw, request), 403, 'forbidden', [aliceKey]);
        expect(await deniedLine(gw, body.requestId)).toMatchObject({
          reason: 'blocks.blocked.consumer',
          consumer: 'alice',
          details: { block: block.id },
        });
      }
      // A blocked consumer's requests never reach the upstream.
      const seen = upstream.requests.length;
      await get(gateways[1] as GatewayProcess, request);
      expect(upstream.requests.length).toBe(seen);
      expect((await cli('blocks', 'remove', block.id)).code).toBe(0);
      await everywhereWithin(1000, async (gw) => (await get(gw, request)).status === 200);

      // The credential, by the fingerprint `keys list` shows.
      const keys = JSON.parse((await cli('keys', 'list', '--json')).stdout) as {
        fingerprint: string;
      }[];
      const fingerprint = keys[0]?.fingerprint ?? '';
      expect(fingerprint).toMatch(/^fp:[0-9a-f]{12}$/);
      const cred = await cli(
        'blocks',
        'add',
        '--credential',
        fingerprint,
        '--reason',
        'leaked',
        '--for',
        '2s',
        '--json',
      );
      expect(cred.code, cred.stderr).toBe(0);
      await everywhereWithin(1000, async (gw) => (await get(gw, request)).status === 403);
      const body = expectProblem(
        await get(gateways[0] as GatewayProcess, request),
        403,
        'forbidden',
      );
      expect(await deniedLine(gateways[0] as GatewayProcess, body.requestId)).toMatchObject({
        reason: 'blocks.blocked.credential',
        credential: fingerprint,
      });
      // It expires on time, without anyone removing it.
      await everywhereWithin(3000, async (gw) => (await get(gw, request)).status === 200);
    });

    it('lists the blocks in force, and with --all the ended ones too', async () => {
      const listed = JSON.parse((await cli('blocks', 'list', '--json')).stdout) as unknown[];
      expect(listed).toEqual([]);
      const all = JSON.parse((await cli('blocks', 'list', '--all', '--json')).stdout) as {
        kind: string;
        subject: string;
        state: string;
        reason: string;
      }[];
      expect(all.map((b) => [b.kind, b.subject, b.state])).toEqual([
        ['ip', '203.0.113.9', 'removed'],
        ['ip', '2001:db8::/32', 'removed'],
        ['ip', '203.0.113.20', 'removed'],
        ['consumer', 'alice', 'removed'],
        ['credential', expect.stringMatching(/^fp:/) as unknown, 'expired'],
      ]);
    });

    it.each([
      [['--ip', '203.0.113.1/33'], 'subject: expected an IPv4 or IPv6 address, or a CIDR range'],
      [['--ip', 'fe80::1%eth0'], 'subject: expected an IPv4 or IPv6 address, or a CIDR range'],
      [['--ip', '010.0.0.1'], 'subject: expected an IPv4 or IPv6 address, or a CIDR range'],
      [['--consumer', 'alice smith'], 'subject: expected a consumer id'],
      [
        ['--credential', 'pcl_live_0123456789abcdefghijABCDEFGHIJklmnopqr012345'],
        'subject: expected a credential fingerprint',
      ],
      [['--credential', 'fp:ABCDEF012345'], 'subject: expected a credential fingerprint'],
      [['--ip', '203.0.113.1', '--consumer', 'alice'], 'name exactly one subject'],
      [[], 'name exactly one subject'],
    ])('refuses %j with PCL_ADMIN_INVALID', async (args, message) => {
      const run = await cli('blocks', 'add', ...args, '--reason', 'x');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('PCL_ADMIN_INVALID');
      expect(run.stderr).toContain(message);
      // A secret given by mistake is never echoed back.
      expect(run.stderr).not.toContain('pcl_live_');
    });

    it('refuses a reason that would write control characters to a terminal', async () => {
      const run = await cli('blocks', 'add', '--ip', '203.0.113.1', '--reason', 'a\u001b[2Jb');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('reason: 1 to 200 characters on one line');
    });

    it('stored none of the blocks it refused', async () => {
      const all = JSON.parse((await cli('blocks', 'list', '--all', '--json')).stdout) as unknown[];
      expect(all).toHaveLength(5);
    });

    it('says which block is unknown', async () => {
      const run = await cli('blocks', 'remove', 'blk_0000000000000000');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('PCL_ADMIN_NOT_FOUND: no block blk_0000000000000000');
    });
  },
);
