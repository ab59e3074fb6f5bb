import { beforeAll, describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/state/blocks/block-store.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';

/** Blocks in the store (migration 0006), on both backends. */
describe.each(BACKENDS)('blocks on %s', (backend) => {
  const t = useTestDatabase(backend);
  let now = 1_000_000;
  const clock = (): number => now;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
  });

  it('stores a block in canonical form, lists it while in force, and ends it on removal', async () => {
    const store = new BlockStore(t.db, clock);
    const b = await store.add({
      kind: 'ip',
      subject: '::ffff:203.0.113.9',
      reason: 'scanner',
      actor: 'cli:test',
      ttlMs: 60_000,
    });
    expect(b).toMatchObject({
      kind: 'ip',
      subject: '203.0.113.9',
      reason: 'scanner',
      actor: 'cli:test',
      createdAt: now,
      expiresAt: now + 60_000,
      removedAt: undefined,
    });
    expect(b.id).toMatch(/^blk_[0-9a-f]{16}$/);
    expect((await store.list()).map((x) => x.id)).toEqual([b.id]);

    now += 1000;
    const removed = await store.remove(b.id, 'cli:other');
    expect(removed).toMatchObject({
      changed: true,
      block: { removedAt: now, removedBy: 'cli:other' },
    });
    // Removing it again changes nothing, and says so.
    expect(await store.remove(b.id, 'cli:other')).toMatchObject({ changed: false });
    expect(await store.remove('blk_ffffffffffffffff', 'cli:other')).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect((await store.list({ all: true })).map((x) => x.id)).toEqual([b.id]);
  });

  it('leaves an expired block out of the list, and does not remove it again', async () => {
    const store = new BlockStore(t.db, clock);
    const b = await store.add({
      kind: 'consumer',
      subject: 'acme',
      reason: 'abuse',
      actor: 'cli:test',
      ttlMs: 5000,
    });
    now += 5000;
    expect((await store.list()).some((x) => x.id === b.id)).toBe(false);
    expect(await store.remove(b.id, 'cli:test')).toMatchObject({
      changed: false,
      block: { removedAt: undefined },
    });
  });

  it('hands out every write in change order, so a follower never misses one', async () => {
    const store = new BlockStore(t.db, clock);
    const before = await store.changedSince(0, 1000);
    const since = before[before.length - 1]?.changeSeq ?? 0;
    const a = await store.add({
      kind: 'credential',
      subject: 'fp:0123456789ab',
      reason: 'leak',
      actor: 'cli:test',
    });
    const c = await store.add({
      kind: 'ip',
      subject: '10.0.0.0/8',
      reason: 'net',
      actor: 'cli:test',
    });
    await store.remove(a.id, 'cli:test');
    const changed = await store.changedSince(since, 1000);
    expect(changed.map((x) => [x.id, x.removedAt !== undefined])).toEqual([
      [c.id, false],
      [a.id, true],
    ]);
    // Paged: at most `limit` at a time, the rest after the last marker read.
    const [first] = await store.changedSince(since, 1);
    expect(first?.id).toBe(c.id);
    expect((await store.changedSince(first?.changeSeq ?? 0, 1))[0]?.id).toBe(a.id);
  });

  it.each([
    [{ kind: 'ip', subject: 'not-an-ip' }, 'subject:'],
    [{ kind: 'credential', subject: 'pcl_live_secret' }, 'subject:'],
    [{ kind: 'ip', subject: '10.0.0.1', reason: '' }, 'reason:'],
    [{ kind: 'ip', subject: '10.0.0.1', reason: 'x'.repeat(201) }, 'reason:'],
    [{ kind: 'ip', subject: '10.0.0.1', reason: 'two\nlines' }, 'reason:'],
    [{ kind: 'ip', subject: '10.0.0.1', ttlMs: 999 }, 'ttl:'],
    [{ kind: 'ip', subject: '10.0.0.1', ttlMs: 1.5e3 + 0.5 }, 'ttl:'],
  ] as const)('refuses %j with a RangeError naming the field', async (input, field) => {
    const store = new BlockStore(t.db, clock);
    const count = (await store.list({ all: true })).length;
    await expect(store.add({ reason: 'r', actor: 'cli:test', ...input })).rejects.toThrow(
      expect.objectContaining({
        name: 'RangeError',
        message: expect.stringContaining(field) as string,
      }) as Error,
    );
    expect((await store.list({ all: true })).length).toBe(count);
  });
});
