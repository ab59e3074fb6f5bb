import { beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/state/incidents/incident-store.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';

const HOUR = 3_600_000;

/** Incidents in the store (migration 0007), on both backends. */
describe.each(BACKENDS)('incidents on %s', (backend) => {
  const t = useTestDatabase(backend);
  let now = 1_800_000_000_000;
  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
  });

  const detect = (store: IncidentStore, subject: string, severity = 'high') =>
    store.detection({
      subjectKind: 'ip',
      subject,
      severity,
      summary: `brute_force.client (${severity})`,
      details: { failures: 30 },
      windowMs: HOUR,
    });

  it('groups the detections of one subject within the window into one incident, with a timeline', async () => {
    const store = new IncidentStore(t.db, () => now);
    const first = await detect(store, '203.0.113.1', 'high');
    now += 30 * 60_000;
    // Another subject meanwhile gets its own story.
    const other = await detect(store, '203.0.113.2');
    now += 30 * 60_000; // within an hour of the last entry, not of the first
    expect(await detect(store, '203.0.113.1', 'critical')).toBe(first);
    now += 50 * 60_000;
    expect(await detect(store, '203.0.113.1', 'low')).toBe(first);
    expect(other).not.toBe(first);

    const shown = await store.show(first);
    expect(shown?.incident).toMatchObject({ detections: 3, severity: 'critical' });
    expect(shown?.entries.map((e) => [e.seq, e.type, e.summary])).toEqual([
      [1, 'detection', 'brute_force.client (high)'],
      [2, 'detection', 'brute_force.client (critical)'],
      [3, 'detection', 'brute_force.client (low)'],
    ]);
    expect(shown?.entries[0]?.details).toEqual({ failures: 30 });

    // A quiet hour later, the same subject opens a new incident.
    now += HOUR + 1;
    expect(await detect(store, '203.0.113.1')).not.toBe(first);
  });

  it.each(['approved', 'rejected'] as const)(
    'decides a proposal once (%s) and writes the decision into the timeline',
    async (status) => {
      const store = new IncidentStore(t.db, () => now);
      const incident = await detect(store, `198.51.100.${status === 'approved' ? 1 : 2}`);
      const proposal = await store.propose({
        incidentId: incident,
        playbook: 'review',
        action: 'block',
        subjectKind: 'ip',
        subject: `198.51.100.${status === 'approved' ? 1 : 2}`,
        blockSeconds: 60,
        reason: 'detection brute_force.client (high)',
      });
      expect(proposal.status).toBe('pending');
      expect((await store.pendingFor('block', 'ip', proposal.subject))?.id).toBe(proposal.id);
      const decided = await store.decide(proposal.id, status, 'cli:ops');
      expect(decided).toMatchObject({ changed: true, proposal: { status, decidedBy: 'cli:ops' } });
      expect(await store.decide(proposal.id, 'approved', 'cli:other')).toMatchObject({
        changed: false,
        proposal: { status, decidedBy: 'cli:ops' },
      });
      expect(await store.pendingFor('block', 'ip', proposal.subject)).toBeUndefined();
      const shown = await store.show(incident);
      expect(shown?.entries.map((e) => e.type)).toEqual([
        'detection',
        'proposal',
        status === 'approved' ? 'approval' : 'rejection',
      ]);
      expect(await store.decide('prp_0000000000000000', status, 'cli:ops')).toBeUndefined();
    },
  );

  it('lists the incidents updated since a time, newest first, with their pending proposals', async () => {
    const store = new IncidentStore(t.db, () => now);
    now += 10 * HOUR;
    const a = await detect(store, '192.0.2.1');
    now += 1000;
    const b = await detect(store, '192.0.2.2');
    await store.propose({
      incidentId: b,
      playbook: 'review',
      action: 'block',
      subjectKind: 'ip',
      subject: '192.0.2.2',
      blockSeconds: 60,
      reason: 'x',
    });
    const listed = await store.list(now - 5000, 10);
    expect(listed.map((i) => [i.id, i.pending])).toEqual([
      [b, 1],
      [a, 0],
    ]);
  });
});
