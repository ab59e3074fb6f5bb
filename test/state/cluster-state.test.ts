import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/gateway/stage.js';
import { ClusterError } from '../../src/state/cluster/cluster-error.js';
import type { ClusterState, SetChange } from '../../src/state/cluster/cluster-state.js';
import { MemoryClusterState } from '../../src/state/cluster/memory-cluster-state.js';
import { openClusterState } from '../../src/state/cluster/open-cluster-state.js';
import {
  RedisClusterState,
  type RedisClusterOptions,
} from '../../src/state/cluster/redis-cluster-state.js';
import { redisKeyLayout } from '../../src/state/cluster/redis-key-layout.js';

// The Redis tests run against a real server. In CI a missing REDIS_URL is a failure, never a skip.
const REDIS_URL = process.env.REDIS_URL?.trim() || (process.env.CI ? '' : 'redis://127.0.0.1:6379');
if (REDIS_URL === '') {
  throw new Error('REDIS_URL is not set: the cluster state tests need a real Redis server in CI');
}

// Every key and channel of this run lives under its own prefix, deleted at the end.
const PREFIX = `pcltest:${randomUUID()}:`;
const layout = redisKeyLayout(PREFIX);
const admin = new Redis(REDIS_URL, { connectionName: `${PREFIX}admin` });
const silent = pino({ level: 'silent' });

interface FakeClock extends Clock {
  advance(ms: number): void;
}

function fakeClock(start = Date.now()): FakeClock {
  let now = start;
  return { now: () => now, monotonic: () => now, advance: (ms) => void (now += ms) };
}

const opened: ClusterState[] = [];
let nodeCount = 0;

function openRedis(
  clock: Clock,
  opts: Partial<RedisClusterOptions> = {},
  log: Logger = silent,
): { state: RedisClusterState; nodeName: string } {
  const nodeName = `${PREFIX}node${++nodeCount}`;
  const state = new RedisClusterState(
    { url: REDIS_URL, keyPrefix: PREFIX, nodeName, ...opts },
    { clock, log },
  );
  opened.push(state);
  return { state, nodeName };
}

interface Backend {
  readonly name: string;
  open(clock: FakeClock): ClusterState;
  /** Lets `ms` pass: on the fake clock, and for Redis's own TTLs also in real time. */
  elapse(clock: FakeClock, ms: number): Promise<void>;
}

const backends: Backend[] = [
  {
    name: 'in process',
    open: (clock) => {
      const state = new MemoryClusterState({ clock, log: silent });
      opened.push(state);
      return state;
    },
    elapse: (clock, ms) => {
      clock.advance(ms);
      return Promise.resolve();
    },
  },
  {
    name: 'Redis',
    open: (clock) => openRedis(clock).state,
    elapse: async (clock, ms) => {
      clock.advance(ms);
      await sleep(ms);
    },
  },
];

const unique = (what: string): string => `${what}-${randomUUID()}`;

/** Resolves once every message published before it has been delivered to `state`. */
async function settle(state: ClusterState): Promise<void> {
  const channel = unique('barrier');
  let arrived!: () => void;
  const got = new Promise<void>((resolve) => (arrived = resolve));
  const off = await state.subscribe(channel, () => arrived());
  await state.publish(channel, 'x');
  await got;
  off();
}

function nextChange(
  state: ClusterState,
  set: string,
  match: (c: SetChange) => boolean,
  withinMs: number,
): Promise<SetChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching change of ${set} within ${withinMs} ms`));
    }, withinMs);
    const off = state.onChange(set, (change) => {
      if (!match(change)) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function timeoutCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await admin.quit();
});

describe.each(backends)('cluster state ($name)', (backend) => {
  async function open(clock = fakeClock()): Promise<ClusterState> {
    const state = backend.open(clock);
    await state.ready();
    return state;
  }

  it('counts 200 concurrent increments exactly once each', async () => {
    const state = await open();
    const key = unique('hits');
    const results = await Promise.all(
      Array.from({ length: 200 }, () => state.increment(key, 1, 60_000)),
    );
    expect([...results].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    expect(await state.get(key)).toBe('200');
  });

  it('sets a counter expiry on the first increment and never extends it', async () => {
    const clock = fakeClock();
    const state = await open(clock);
    const key = unique('window');
    expect(await state.increment(key, 5, 300)).toBe(5);
    await backend.elapse(clock, 150);
    expect(await state.increment(key, 5, 300)).toBe(10);
    await backend.elapse(clock, 200);
    expect(await state.increment(key, 5, 300)).toBe(5);
  });

  it('stores, overwrites, expires and deletes values', async () => {
    const clock = fakeClock();
    const state = await open(clock);
    const [kept, brief] = [unique('kept'), unique('brief')];
    expect(await state.get(kept)).toBeUndefined();
    await state.set(kept, 'one');
    await state.set(kept, 'two');
    await state.set(brief, 'soon gone', 100);
    expect(await state.get(kept)).toBe('two');
    expect(await state.get(brief)).toBe('soon gone');
    await backend.elapse(clock, 150);
    expect(await state.get(brief)).toBeUndefined();
    expect(await state.get(kept)).toBe('two');
    expect(await state.delete(kept)).toBe(true);
    expect(await state.delete(kept)).toBe(false);
    expect(await state.get(kept)).toBeUndefined();
  });

  it('counts distinct members once each, across keys, and expires the count without extending it', async () => {
    const clock = fakeClock();
    const state = await open(clock);
    const [previous, current] = [unique('distinct-prev'), unique('distinct-cur')];
    expect(await state.addDistinct(previous, ['a', 'b', 'c'], 300)).toBe(3);
    // Seen again, and in a second key: the union counts each member once.
    expect(await state.addDistinct(current, ['b', 'c', 'd', 'd'], 300, [previous])).toBe(4);
    expect(await state.addDistinct(current, [], 300)).toBe(3);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => state.addDistinct(current, [`m${i}`, 'b'], 300)),
    );
    expect(await state.addDistinct(current, [], 300, [previous])).toBe(54);
    await backend.elapse(clock, 150);
    await state.addDistinct(previous, ['e'], 300);
    await backend.elapse(clock, 200);
    // Both expired 300 ms after their first add: the later add did not extend `previous`.
    expect(await state.addDistinct(current, [], 300, [previous])).toBe(0);
    // Counting an absent key creates nothing that would live without an expiry.
    expect(await state.delete(current)).toBe(false);
  });

  it('refuses to count distinct members at a key that holds a value', async () => {
    const state = await open();
    const key = unique('value');
    await state.set(key, 'a value');
    const err = await rejection(state.addDistinct(key, ['a'], 1_000));
    expect((err as ClusterError).code).toBe('PCL_CLUSTER_COMMAND_FAILED');
  });

  it('refuses to increment a value that is not a number, without echoing the value', async () => {
    const state = await open();
    const key = unique('text');
    await state.set(key, 'not-a-number-secret');
    const err = await rejection(state.increment(key, 1, 1_000));
    expect(err).toBeInstanceOf(ClusterError);
    expect((err as ClusterError).code).toBe('PCL_CLUSTER_COMMAND_FAILED');
    expect((err as Error).message).not.toContain('not-a-number-secret');
    expect((err as Error).message).not.toContain(key);
  });

  it('marks members with their own expiry and reports each change once', async () => {
    const clock = fakeClock();
    const state = await open(clock);
    const set = unique('blocks');
    await state.mirrorSet(set);
    const changes: SetChange[] = [];
    state.onChange(set, (c) => changes.push(c));

    const markedAt = clock.now();
    await state.markSet(set, 'forever');
    await state.markSet(set, 'brief', 200);
    expect(state.has(set, 'forever')).toBe(true);
    expect(state.has(set, 'brief')).toBe(true);
    expect(state.has(set, 'never-marked')).toBe(false);

    await backend.elapse(clock, 250);
    expect(state.has(set, 'brief')).toBe(false);
    expect(state.has(set, 'forever')).toBe(true);

    await state.unmarkSet(set, 'forever');
    expect(state.has(set, 'forever')).toBe(false);
    await state.unmarkSet(set, 'forever'); // already gone: no change to report
    await settle(state);

    expect(changes.filter((c) => c.cause === 'write')).toEqual([
      { set, member: 'forever', present: true, expiresAt: undefined, cause: 'write' },
      { set, member: 'brief', present: true, expiresAt: markedAt + 200, cause: 'write' },
      { set, member: 'forever', present: false, expiresAt: undefined, cause: 'write' },
    ]);
  });

  it('replaces the expiry of a member marked again', async () => {
    const clock = fakeClock();
    const state = await open(clock);
    const set = unique('revoked');
    await state.mirrorSet(set);
    await state.markSet(set, 'made-permanent', 100);
    await state.markSet(set, 'made-permanent');
    await state.markSet(set, 'made-brief');
    await state.markSet(set, 'made-brief', 100);
    await backend.elapse(clock, 150);
    expect(state.has(set, 'made-permanent')).toBe(true);
    expect(state.has(set, 'made-brief')).toBe(false);
  });

  it('refuses has and onChange on a set this node never mirrored', async () => {
    const state = await open();
    const set = unique('undeclared');
    await state.markSet(set, 'member');
    expect(() => state.has(set, 'member')).toThrow(/mirrorSet/);
    expect(() => state.onChange(set, () => undefined)).toThrow(/mirrorSet/);
  });

  it('delivers a published message to its subscribers and to no one after unsubscribe', async () => {
    const state = await open();
    const [channel, probe] = [unique('cache'), unique('probe')];
    const got: string[] = [];
    const off = await state.subscribe(channel, (m) => got.push(m));
    await state.publish(channel, 'drop consumer 42');
    await settle(state);
    expect(got).toEqual(['drop consumer 42']);

    off();
    const probed: string[] = [];
    await state.subscribe(probe, (m) => probed.push(m));
    await state.publish(channel, 'not delivered');
    await state.publish(probe, 'delivered');
    await waitFor('the probe message', () => probed.length === 1);
    expect(got).toEqual(['drop consumer 42']);
  });

  it.each([
    ['an empty member', (s: ClusterState) => s.markSet('blocks', ''), TypeError],
    ['a set name with a hash tag', (s: ClusterState) => s.mirrorSet('a{b}'), TypeError],
    ['a fractional increment', (s: ClusterState) => s.increment('k', 1.5, 100), RangeError],
    ['a zero TTL', (s: ClusterState) => s.set('k', 'v', 0), RangeError],
    ['a value over 64 KiB', (s: ClusterState) => s.set('k', 'v'.repeat(65_537)), TypeError],
    ['an empty key', (s: ClusterState) => s.get(''), TypeError],
  ])('rejects %s as a caller bug', async (_what, call, kind) => {
    const state = await open();
    await expect(call(state)).rejects.toBeInstanceOf(kind);
  });

  it('is healthy once ready, and after close rejects commands and leaves no timer running', async () => {
    const before = timeoutCount();
    const state = await open();
    expect(state.healthy).toBe(true);
    await state.close();
    expect(state.healthy).toBe(false);
    for (const call of [
      state.increment('k', 1, 1_000),
      state.get('k'),
      state.markSet('blocks', 'm'),
      state.publish('cache', 'm'),
    ]) {
      const err = await rejection(call);
      expect((err as ClusterError).code).toBe('PCL_CLUSTER_UNAVAILABLE');
    }
    await waitFor('timers to end', () => timeoutCount() <= before, 1_000);
  });
});

describe('cluster state across Redis nodes', () => {
  async function node(opts: Partial<RedisClusterOptions> = {}, sets: string[] = []) {
    const opened = openRedis(systemClock, opts);
    for (const set of sets) await opened.state.mirrorSet(set);
    await opened.state.ready();
    return opened;
  }

  async function killConnections(nodeName: string, which: readonly ('cmd' | 'sub')[]) {
    const list = await admin.client('LIST');
    if (typeof list !== 'string') throw new Error('CLIENT LIST did not answer text');
    const wanted = new Set(which.map((w) => `${nodeName}:${w}`));
    const ids = list
      .split('\n')
      .filter((line) => wanted.has(/\bname=(\S*)/.exec(line)?.[1] ?? ''))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] ?? '');
    expect(ids).toHaveLength(which.length);
    for (const id of ids) await admin.client('KILL', 'ID', id);
  }

  it('shows a member marked on one node to has on another within one second, and its removal', async () => {
    const set = unique('blocks');
    const { state: a } = await node({}, [set]);
    const { state: b } = await node({}, [set]);

    let seen = nextChange(b, set, (c) => c.member === 'fp:1' && c.present, 1_000);
    let started = performance.now();
    await a.markSet(set, 'fp:1', 60_000);
    await seen;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(b.has(set, 'fp:1')).toBe(true);

    seen = nextChange(b, set, (c) => c.member === 'fp:1' && !c.present, 1_000);
    started = performance.now();
    await a.unmarkSet(set, 'fp:1');
    await seen;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(b.has(set, 'fp:1')).toBe(false);
  });

  it('counts 200 increments sent at once from two nodes', async () => {
    const [{ state: a }, { state: b }] = [await node(), await node()];
    const key = unique('shared');
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).increment(key, 1, 60_000)),
    );
    expect(new Set(results).size).toBe(200);
    expect(Math.max(...results)).toBe(200);
  });

  it('carries members with separators, quotes and non-ASCII to other nodes and to a node started later', async () => {
    const set = unique('revoked');
    const members = ['a|b', '["+","x",null]', 'fp:é€𝄞', ' spaced ', '1|["-","a|b",null]'];
    const { state: a } = await node({}, [set]);
    const { state: b } = await node({}, [set]);
    for (const m of members) await a.markSet(set, m);
    await a.markSet(set, 'expired-before-start', 50);
    await settle(b);
    for (const m of members) expect(b.has(set, m)).toBe(true);

    await sleep(100);
    const { state: late } = await node({}, [set]);
    for (const m of members) expect(late.has(set, m)).toBe(true);
    expect(late.has(set, 'expired-before-start')).toBe(false);
    expect(await admin.zscore(layout.setKey(set), 'a|b')).toBe('inf');
  });

  it('repairs the mirror of a node whose subscriber connection was killed while a change was made', async () => {
    const set = unique('blocks');
    const { state: a } = await node({}, [set]);
    const { state: b, nodeName } = await node({ resyncIntervalMs: 60_000 }, [set]);
    const health: boolean[] = [];
    b.onHealthChange((h) => health.push(h));

    await killConnections(nodeName, ['sub']);
    // Only node A is listening now: B cannot receive the message.
    expect(await admin.pubsub('NUMSUB', layout.setChannel(set))).toEqual([
      layout.setChannel(set),
      1,
    ]);
    await a.markSet(set, 'missed');
    expect(b.has(set, 'missed')).toBe(false);

    await waitFor('node B to repair its mirror', () => b.has(set, 'missed'));
    await waitFor('node B to be healthy', () => b.healthy);
    expect(health).toEqual([false, true]);
  });

  it('picks up a member written to Redis without a message at the next periodic resync', async () => {
    const set = unique('blocks');
    const { state: b } = await node({ resyncIntervalMs: 200 }, [set]);
    await admin.zadd(layout.setKey(set), '+inf', 'silent');
    await waitFor('the resync to add it', () => b.has(set, 'silent'), 3_000);
    await admin.zrem(layout.setKey(set), 'silent');
    await waitFor('the resync to remove it', () => !b.has(set, 'silent'), 3_000);
  });

  it('resyncs at once when a gap in change versions shows a message was missed', async () => {
    const set = unique('blocks');
    const { state: a } = await node({}, [set]);
    const { state: b } = await node({ resyncIntervalMs: 60_000 }, [set]);
    // A change whose message was lost: in Redis, version counted, nothing published.
    await admin.zadd(layout.setKey(set), '+inf', 'lost');
    await admin.incr(layout.setVersionKey(set));
    await a.markSet(set, 'next');
    await waitFor('node B to resync', () => b.has(set, 'lost'), 1_000);
    expect(b.has(set, 'next')).toBe(true);
  });

  it('keeps a mirror exact while changes stream in during its resyncs', async () => {
    const set = unique('blocks');
    const { state: a } = await node({}, [set]);
    const { state: b } = await node({ resyncIntervalMs: 5 }, [set]);
    const members = Array.from({ length: 20 }, (_, i) => `fp:${i}`);
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        members.map((m, i) =>
          (i + round) % 3 === 0 ? a.unmarkSet(set, m) : a.markSet(set, m, 60_000),
        ),
      );
      await settle(b);
      const inRedis = await admin.zrange(layout.setKey(set), '0', '-1');
      expect(members.filter((m) => b.has(set, m)).sort()).toEqual([...inRedis].sort());
    }
  });

  it('keeps the changes that arrive while a resync reads a large set', async () => {
    const set = unique('blocks');
    const key = layout.setKey(set);
    const victims = Array.from({ length: 2_000 }, (_, i) => `victim:${i}`);
    const bulk = Array.from({ length: 20_000 }, (_, i) => `bulk:${i}`);
    await admin.zadd(key, ...[...victims, ...bulk].flatMap((m) => ['+inf', m]));
    const { state: a } = await node({}, [set]);
    const { state: b } = await node({ resyncIntervalMs: 60_000 }, [set]);

    // A lost change (version counted, nothing published) makes B resync at A's next change;
    // A keeps removing victims one by one while B pages through the set.
    await admin.zadd(key, '+inf', 'lost');
    await admin.incr(layout.setVersionKey(set));
    await a.markSet(set, 'trigger');
    let removed = 0;
    while (removed < victims.length && !b.has(set, 'lost')) {
      await a.unmarkSet(set, victims[removed++] as string);
    }
    const duringResync = removed;
    for (let i = 0; i < 20 && removed < victims.length; i++) {
      await a.unmarkSet(set, victims[removed++] as string);
    }
    await settle(b);

    expect(b.has(set, 'lost')).toBe(true);
    expect(duringResync).toBeGreaterThan(5);
    const wrong = victims.filter((m, i) => b.has(set, m) !== i >= removed);
    expect(wrong).toEqual([]);
  });

  it('fails a command against an unreachable Redis within the timeout with PCL_CLUSTER_UNAVAILABLE', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const { state } = openRedis(
      systemClock,
      { url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300, readyTimeoutMs: 300 },
      log,
    );
    const notReady = await rejection(state.ready());
    expect((notReady as ClusterError).code).toBe('PCL_CLUSTER_UNAVAILABLE');
    expect(state.healthy).toBe(false);

    const key = 'consumer-7f3a-secret-key';
    for (const call of [
      () => state.increment(key, 1, 1_000),
      () => state.set(key, 'secret-value'),
      () => state.markSet('revoked', 'secret-fingerprint'),
    ]) {
      const started = performance.now();
      const err = await rejection(call());
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(err).toBeInstanceOf(ClusterError);
      expect((err as ClusterError).code).toBe('PCL_CLUSTER_UNAVAILABLE');
      expect((err as Error).message).not.toMatch(/secret/);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/secret/);
  });

  it('recovers by itself after its Redis connections are killed', async () => {
    const set = unique('blocks');
    const { state: a, nodeName } = await node({}, [set]);
    const { state: b } = await node({}, [set]);
    const health: boolean[] = [];
    a.onHealthChange((h) => health.push(h));

    await killConnections(nodeName, ['cmd', 'sub']);
    // A command sent meanwhile is answered or refused in time, never left hanging.
    const during = await a.increment(unique('during'), 1, 1_000).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (during !== undefined) expect((during as ClusterError).code).toBe('PCL_CLUSTER_UNAVAILABLE');

    await waitFor('node A to be healthy again', () => a.healthy);
    expect(health).toEqual([false, true]);
    expect(await a.increment(unique('after'), 1, 1_000)).toBe(1);
    const seen = nextChange(a, set, (c) => c.member === 'after-recovery', 1_000);
    await b.markSet(set, 'after-recovery');
    await seen;
    expect(a.has(set, 'after-recovery')).toBe(true);
  });

  it('keeps gateways with different key prefixes apart on one Redis', async () => {
    const { state: one } = await node();
    const { state: other } = await node({ keyPrefix: `${PREFIX}other:` });
    const key = unique('same-name');
    expect(await one.increment(key, 1, 60_000)).toBe(1);
    expect(await other.increment(key, 1, 60_000)).toBe(1);
    expect(await admin.get(layout.valueKey(key))).toBe('1');
  });

  it('opens Redis when a URL is configured and stays in process otherwise', async () => {
    const deps = { clock: systemClock, log: silent };
    const redis = openClusterState({ redisUrl: REDIS_URL, keyPrefix: PREFIX }, deps);
    const memory = openClusterState({ keyPrefix: PREFIX }, deps);
    opened.push(redis, memory);
    expect([redis.kind, memory.kind]).toEqual(['redis', 'memory']);
    await redis.ready();
  });
});
