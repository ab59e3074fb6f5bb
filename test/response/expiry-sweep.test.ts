import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import { ExpirySweep } from '../../src/response/expiry-sweep.js';
import { BlockStore, type BlockRecord } from '../../src/state/blocks/block-store.js';
import type { Db } from '../../src/state/db.js';
import type { EventRecord } from '../../src/state/events/event.js';
import type { EventRecorder } from '../../src/state/events/recorder.js';
import { IncidentStore } from '../../src/state/incidents/incident-store.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';

const log = pino({ level: 'silent' });

function collectingRecorder(): EventRecorder & { events: EventRecord[] } {
  const events: EventRecord[] = [];
  return {
    events,
    record: (e) => events.push(e),
    recordAdmin: () => undefined,
    shouldRefuse: () => false,
  };
}

/** The expiry audit entry of blocks and throttles (migration 0008), on both backends. */
describe.each(BACKENDS)('block expiries on %s', (backend) => {
  const t = useTestDatabase(backend);
  let now = 2_000_000_000_000;
  const clock: Clock = { now: () => now, monotonic: () => now };
  /** A second gateway: its own connection (pool or worker) to the same store. */
  let other: Db;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
    other = await t.database.open();
  });

  function node(db: Db) {
    const recorder = collectingRecorder();
    const sweep = new ExpirySweep({ db, clock, log, recorder });
    return { sweep, recorder };
  }

  it('records each expiry once across two nodes sweeping at the same time', async () => {
    const store = new BlockStore(t.db, () => now);
    const made: BlockRecord[] = [];
    for (let i = 0; i < 20; i++) {
      made.push(
        await store.add({
          kind: 'ip',
          subject: `198.51.100.${i + 1}`,
          reason: 'scanner',
          actor: 'cli:test',
          ttlMs: 1000 + i * 10,
        }),
      );
    }
    const forever = await store.add({
      kind: 'consumer',
      subject: 'acme',
      reason: 'no expiry',
      actor: 'cli:test',
    });
    const removed = await store.add({
      kind: 'consumer',
      subject: 'gone',
      reason: 'removed by hand',
      actor: 'cli:test',
      ttlMs: 1000,
    });
    await store.remove(removed.id, 'cli:test');
    const a = node(t.db);
    const b = node(other);
    try {
      // Nothing has expired yet: nothing is recorded.
      expect(await Promise.all([a.sweep.sweep(), b.sweep.sweep()])).toEqual([0, 0]);
      now += 5000;
      const counts = await Promise.all([a.sweep.sweep(), b.sweep.sweep()]);
      expect(counts[0] + counts[1]).toBe(20);
      const events = [...a.recorder.events, ...b.recorder.events];
      expect(events.length).toBe(20);
      expect(events.map((e) => e.details?.block).sort()).toEqual(made.map((m) => m.id).sort());
      expect(events.every((e) => e.action === 'block.expire' && e.decision === 'expired')).toBe(
        true,
      );
      expect(events.find((e) => e.details?.block === made[0]?.id)).toMatchObject({
        kind: 'security',
        clientIp: '198.51.100.1',
        time: now,
        details: { subjectKind: 'ip', subject: '198.51.100.1', actor: 'cli:test' },
      });
      // The block without an expiry and the one removed by hand are never reported as expired.
      expect(events.some((e) => e.details?.block === forever.id)).toBe(false);
      expect(events.some((e) => e.details?.block === removed.id)).toBe(false);
      // Later sweeps find nothing more.
      now += 60_000;
      expect(await Promise.all([a.sweep.sweep(), b.sweep.sweep()])).toEqual([0, 0]);
    } finally {
      await a.sweep.close();
      await b.sweep.close();
    }
  });

  it("adds a playbook's throttle expiry to the incident it answered", async () => {
    const incidents = new IncidentStore(t.db, () => now);
    const incident = await incidents.detection({
      subjectKind: 'ip',
      subject: '192.0.2.77',
      severity: 'high',
      summary: 'brute_force.client (high)',
      details: { failures: 31 },
      windowMs: 3_600_000,
    });
    const throttle = await new BlockStore(t.db, () => now).add({
      kind: 'ip',
      subject: '192.0.2.77',
      reason: 'detection brute_force.client (high)',
      actor: 'playbook:slow-down',
      ttlMs: 2000,
      throttle: { limit: 5, windowSeconds: 60 },
      incidentId: incident,
    });
    expect(throttle).toMatchObject({
      action: 'throttle',
      throttle: { limit: 5, windowSeconds: 60 },
      incidentId: incident,
    });
    const a = node(other);
    try {
      now += 2000;
      expect(await a.sweep.sweep()).toBe(1);
      expect(a.recorder.events.map((e) => [e.action, e.details?.incident])).toEqual([
        ['throttle.expire', incident],
      ]);
      const shown = await incidents.show(incident);
      expect(shown?.entries.map((e) => [e.type, e.details.block])).toEqual([
        ['detection', undefined],
        ['expiry', throttle.id],
      ]);
    } finally {
      await a.sweep.close();
    }
  });
});
