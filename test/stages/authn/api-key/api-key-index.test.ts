import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../../src/gateway/stage.js';
import { fingerprint } from '../../../../src/state/audit/fingerprint.js';
import type { ClusterState } from '../../../../src/state/cluster/cluster-state.js';
import { MemoryClusterState } from '../../../../src/state/cluster/memory-cluster-state.js';
import { RedisClusterState } from '../../../../src/state/cluster/redis-cluster-state.js';
import { ApiKeyHmac } from '../../../../src/state/consumers/api-key-hmac.js';
import { ApiKeyStore } from '../../../../src/state/consumers/api-key-store.js';
import {
  announceApiKeysChanged,
  announceRevocation,
} from '../../../../src/state/consumers/change-announcements.js';
import { KeyRing } from '../../../../src/state/crypto/key-ring.js';
import { MasterKey } from '../../../../src/state/crypto/master-key.js';
import type { Db } from '../../../../src/state/db.js';
import {
  generateApiKey,
  generateApiKeyId,
} from '../../../../src/stages/authn/api-key/api-key-format.js';
import { ApiKeyIndex } from '../../../../src/stages/authn/api-key/api-key-index.js';
import { BACKENDS, type TestDatabase } from '../../../support/databases.js';
import { eventually } from '../../../support/events.js';
import { migratedTestDatabase } from '../../../support/migrated-database.js';
import { deleteRedisKeys, REDIS_URL } from '../../../support/redis.js';

/** The in-memory key index follows the store and cluster state, on both store backends. */

const PREFIX = `pcltest:${randomUUID()}:`;
const silent = pino({ level: 'silent' });

let now = Date.UTC(2026, 0, 1);
const clock: Clock = { now: () => now, monotonic: () => performance.now() };
const realClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

const toClose: { close(): Promise<void> }[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const c of toClose.splice(0).reverse()) await c.close();
  await Promise.all(databases.splice(0).map((d) => d.cleanup()));
});
afterAll(async () => {
  await deleteRedisKeys(PREFIX);
});

interface Node {
  db: Db;
  ring: KeyRing;
  cluster: ClusterState;
}

async function store(backend: (typeof BACKENDS)[number]): Promise<{
  database: TestDatabase;
  master: MasterKey;
}> {
  const { database, db } = await migratedTestDatabase(backend, databases);
  await db.close();
  return { database, master: MasterKey.fromBytes(randomBytes(32)) };
}

async function node(
  s: { database: TestDatabase; master: MasterKey },
  cluster: ClusterState,
): Promise<Node> {
  const db = await s.database.open();
  return { db, ring: await KeyRing.open(db, s.master), cluster };
}

function memoryCluster(c: Clock = clock): ClusterState {
  const cluster = new MemoryClusterState({ clock: c, log: silent });
  toClose.push(cluster);
  return cluster;
}

async function redisCluster(): Promise<ClusterState> {
  const cluster = new RedisClusterState(
    { url: REDIS_URL, keyPrefix: PREFIX },
    { clock: realClock, log: silent },
  );
  toClose.push(cluster);
  await cluster.ready();
  return cluster;
}

async function openIndex(n: Node, pollIntervalMs?: number, log = silent): Promise<ApiKeyIndex> {
  const index = await ApiKeyIndex.open({
    db: n.db,
    cluster: n.cluster,
    keyRing: n.ring,
    clock: n.cluster.kind === 'redis' ? realClock : clock,
    log,
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
  });
  toClose.push(index);
  return index;
}

async function issue(n: Node, consumerId = 'alice'): Promise<{ key: string; id: string }> {
  const hmac = await ApiKeyHmac.load(n.db, n.ring);
  const key = generateApiKey('live');
  const id = generateApiKeyId();
  await new ApiKeyStore(n.db).create({
    id,
    consumerId,
    hash: hmac.digest(key),
    fingerprint: fingerprint(key),
    environment: 'live',
  });
  return { key, id };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('the API key index on %s', (backend) => {
  it('loads every key at open, and finds a key only by the HMAC of exactly that key', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const a = await issue(n);
    const b = await issue(n, 'bob');
    const index = await openIndex(n);
    expect(index.size).toBe(2);
    expect(index.find(index.digest(a.key))?.id).toBe(a.id);
    expect(index.find(index.digest(b.key))).toMatchObject({ id: b.id, consumerId: 'bob' });
    expect(index.find(index.digest(generateApiKey('live')))).toBeUndefined();
    // The digest is keyed: a plain SHA-256 of the key finds nothing.
    expect(index.digest(a.key).equals(Buffer.from(fingerprint(a.key)))).toBe(false);
  });

  it('sees a key created after it opened within one second, by polling the store alone', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const index = await openIndex(n);
    const a = await issue(n);
    const t = Date.now();
    await eventually(() => index.find(index.digest(a.key)) !== undefined, 1000);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('reads the store at once when a change is announced, without waiting for the poll', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const index = await openIndex(n, 60_000);
    const a = await issue(n);
    await sleep(200);
    expect(index.find(index.digest(a.key))).toBeUndefined();
    await announceApiKeysChanged(n.cluster);
    await eventually(() => index.find(index.digest(a.key)) !== undefined, 1000);
  });

  it('keeps a revoked key, with its revocation, once the store says so', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const a = await issue(n);
    const index = await openIndex(n, 60_000);
    await new ApiKeyStore(n.db).revoke(a.id);
    await index.refresh();
    expect(index.find(index.digest(a.key))?.revokedAt).toBeTypeOf('number');
  });

  it('answers a revocation marked in cluster state at once, and forgets it when the key would have expired', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const a = await issue(n);
    const index = await openIndex(n, 60_000);
    expect(index.revokedInCluster(a.id)).toBe(false);
    await announceRevocation(n.cluster, { id: a.id, expiresAt: now + 1000 }, now);
    expect(index.revokedInCluster(a.id)).toBe(true);
    now += 1000;
    expect(index.revokedInCluster(a.id)).toBe(false);
  });

  it('keeps serving its copy while the store fails, logs that once, and catches up afterwards', async () => {
    const s = await store(backend);
    const n = await node(s, memoryCluster());
    const a = await issue(n);
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const failing = await s.database.open();
    const index = await openIndex({ ...n, db: failing }, 60_000, log);
    await failing.close();
    await index.refresh();
    await index.refresh();
    expect(index.find(index.digest(a.key))?.id).toBe(a.id);
    expect(lines.filter((l) => l.event === 'store.follow_failed')).toHaveLength(1);
    // Nothing of the store's address or a key in the line.
    expect(JSON.stringify(lines)).not.toContain(a.key);
  });
});

describe('two gateway nodes on one PostgreSQL store and one Redis', () => {
  it('see a revocation made through the other node within one second, through cluster state', async () => {
    const s = await store('postgres');
    const n1 = await node(s, await redisCluster());
    const n2 = await node(s, await redisCluster());
    const a = await issue(n1);
    // Long polls: only cluster state can make it in time.
    const i1 = await openIndex(n1, 60_000);
    const i2 = await openIndex(n2, 60_000);
    expect(i2.find(i2.digest(a.key))?.id).toBe(a.id);
    const revoked = await new ApiKeyStore(n1.db).revoke(a.id);
    const t = Date.now();
    await announceRevocation(
      n1.cluster,
      revoked?.key ?? { id: a.id, expiresAt: undefined },
      Date.now(),
    );
    await eventually(() => i2.revokedInCluster(a.id), 1000);
    await eventually(() => i2.find(i2.digest(a.key))?.revokedAt !== undefined, 1000);
    expect(Date.now() - t).toBeLessThan(1000);
    expect(i1.revokedInCluster(a.id)).toBe(true);
  });

  it('both agree on one server key when they start at once on an empty store', async () => {
    const s = await store('postgres');
    const n1 = await node(s, memoryCluster());
    const n2 = await node(s, memoryCluster());
    const [i1, i2] = await Promise.all([openIndex(n1), openIndex(n2)]);
    expect(i1.digest('x').equals(i2.digest('x'))).toBe(true);
  });
});
