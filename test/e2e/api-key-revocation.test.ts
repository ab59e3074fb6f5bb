import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis, type CliRun } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { deleteRedisKeys, REDIS_URL } from '../support/redis.js';

/**
 * Two real gateway processes sharing one PostgreSQL schema and one Redis: a key created with the
 * CLI works on both without a restart, and once revoked with the CLI both refuse it within one
 * second, with the reason in their security events.
 */

const PREFIX = `pcltest:${randomUUID()}:`;

let database: TestDatabase;
let upstream: RecordingUpstream;
let file: string;
const gateways: GatewayProcess[] = [];

const cli = (...args: string[]): Promise<CliRun> => portcullis([...args, '-c', file]);

function get(gw: GatewayProcess, key: string): Promise<Reply> {
  return send(gw.http ?? 0, { path: '/orders', headers: { 'x-api-key': key } });
}

/** Polls `gw` until it refuses `key`; resolves with the refusal and how long that took. */
async function refusedWithin(
  gw: GatewayProcess,
  key: string,
  since: number,
  limitMs: number,
): Promise<{ reply: Reply; elapsed: number }> {
  for (;;) {
    const reply = await get(gw, key);
    const elapsed = performance.now() - since;
    if (reply.status !== 200) return { reply, elapsed };
    if (elapsed > limitMs) throw new Error(`still accepted after ${Math.round(elapsed)} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function acceptedWithin(gw: GatewayProcess, key: string, limitMs: number): Promise<Reply> {
  const start = performance.now();
  for (;;) {
    const reply = await get(gw, key);
    if (reply.status === 200) return reply;
    if (performance.now() - start > limitMs) return reply;
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  upstream = await startRecordingUpstream();
  file = writeConfig(
    JSON.stringify({
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      upstreams: { api: { targets: [upstream.origin] } },
      routes: [
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
  expect((await cli('consumers', 'add', 'acme', '--scope', 'orders:read')).code).toBe(0);
  for (let i = 0; i < 2; i++) gateways.push(await startGateway(file));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await database?.cleanup();
  await deleteRedisKeys(PREFIX);
});

describe('an API key on two gateways sharing one store and one Redis', () => {
  it('is accepted by both as soon as the CLI creates it, and refused by both within one second of its revocation', async () => {
    const created = await cli('keys', 'create', '--consumer', 'acme');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();

    for (const gw of gateways) {
      const reply = await acceptedWithin(gw, key, 1000);
      expect(reply.status, reply.text).toBe(200);
    }
    const forwarded = upstream.requests.slice(-2);
    expect(forwarded).toHaveLength(2);
    for (const r of forwarded) {
      expect(r.headers['x-consumer-id']).toBe('acme');
      expect(r.headers['x-api-key']).toBeUndefined();
    }

    const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as { id: string }[];
    const keyId = listed[0]?.id ?? '';
    const revoked = await cli('keys', 'revoke', keyId);
    // The CLI exits once the revocation is stored and marked in cluster state.
    const revokedAt = performance.now();
    expect(revoked).toMatchObject({ code: 0, stderr: '' });

    const outcomes = await Promise.all(
      gateways.map((gw) => refusedWithin(gw, key, revokedAt, 1000)),
    );
    for (const [i, { reply, elapsed }] of outcomes.entries()) {
      expect(elapsed).toBeLessThan(1000);
      const body = expectProblem(reply, 401, 'unauthenticated', [key]);
      expect(reply.headers['www-authenticate']).toBe('ApiKey realm="portcullis"');
      expect(await deniedReason(gateways[i] as GatewayProcess, body.requestId)).toBe(
        'authn.api_key.revoked',
      );
    }
    // And it stays refused.
    for (const gw of gateways) expect((await get(gw, key)).status).toBe(401);
  });
});
